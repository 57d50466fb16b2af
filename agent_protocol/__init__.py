"""agent_protocol package."""
