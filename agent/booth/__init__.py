"""Booth UI: the gate guard's page served by the agent on the local network (issue #4, deliver item 8)."""
