"""The EcoGate edge agent: cameras, plate recognition, gate decisions, devices, outbox and sync.

Imports only shared leaf packages (hj1321, agent_protocol), never cloud/tenants/frontend_api.
"""
