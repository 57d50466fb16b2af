"""Business slices of the cloud (sites, vehicles, passes, audit, users…)."""
