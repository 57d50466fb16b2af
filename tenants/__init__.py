"""The tenancy kernel: declarative base, TenantOwned mixin, tenant context, RLS hook and policy helpers.

Imports flow one way: frontend_api → cloud → tenants → shared leaf packages (ARCHITECTURE.md).
"""
