"""Compliance (issue 6): emission policy and emergency levels, blacklist, vehicle registration quality,
logic checks and the review queue, inventories, audit sampling and tamper evidence (docs/compliance.md).
"""
