"""The vocabulary of HJ 1321-2023 shared by the agent and the cloud: code tables and validators.

This is a leaf package: it imports nothing of ours (see ARCHITECTURE.md, "shared packages").
"""
