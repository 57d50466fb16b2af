"""Every tenant table has forced row-level security and a tenant policy; global tables are listed.

The metadata is the source of truth: a new model with ``__tenant_owned__`` fails here until its
migration protects it, and a new table that is neither tenant-owned nor listed below fails too.
"""

from __future__ import annotations

import asyncpg
import pytest

from cloud.db import models as m
from tenants.roles import APP_ROLE, REGULATOR_ROLE

pytestmark = pytest.mark.anyio

#: Tables shared by all tenants, readable by every role and written only by migrations.
GLOBAL_TABLES = frozenset(
    {"region", "ecogate_schema_version", "region_alert", "billing_plan", "billing_price", "billing_coupon"}
)  # region_alert: ADR 0005; billing catalogue: migration 0019
#: Security tables reached only through SECURITY DEFINER functions: no grant, no policy (migration 0015).
FUNCTION_ONLY_TABLES = frozenset({"auth_throttle", "user_session"})


def _owned() -> set[str]:
    return {mapper.local_table.name for mapper in m.Base.registry.mappers if mapper.class_.__tenant_owned__}


async def test_every_tenant_table_forces_rls_with_a_policy(db_urls) -> None:
    owned = _owned()
    assert {"vehicle", "pass_event", "audit_log", "tenant", "user_account", "blob"} <= owned
    assert not owned & GLOBAL_TABLES
    conn = await asyncpg.connect(db_urls.owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = {
            r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"])
            for r in await conn.fetch(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        }
        policies: dict[str, list[tuple[str, str, list[str]]]] = {}
        for r in await conn.fetch(
            "SELECT tablename, policyname, cmd, roles FROM pg_policies WHERE schemaname = 'public'"
        ):
            policies.setdefault(r["tablename"], []).append((r["policyname"], r["cmd"], list(r["roles"])))
        grants = {
            (r["table_name"], r["grantee"], r["privilege_type"])
            for r in await conn.fetch(
                "SELECT table_name, grantee, privilege_type FROM information_schema.role_table_grants "
                "WHERE table_schema = 'public'"
            )
        }
    finally:
        await conn.close()

    unknown = set(tables) - owned - GLOBAL_TABLES - FUNCTION_ONLY_TABLES
    for table in FUNCTION_ONLY_TABLES:
        assert table in tables, table
        assert not {(t, role, p) for t, role, p in grants if t == table and role in (APP_ROLE, REGULATOR_ROLE)}
    assert not unknown, f"tables neither tenant-owned nor listed as global: {sorted(unknown)}"
    assert owned <= set(tables), f"models without a table: {sorted(owned - set(tables))}"
    for table in sorted(owned):
        enabled, forced = tables[table]
        assert enabled, f"{table}: row-level security not enabled"
        assert forced, f"{table}: row-level security not forced"
        app = [p for p in policies.get(table, []) if APP_ROLE in p[2]]
        assert any(name == "tenant_isolation" and cmd == "ALL" for name, cmd, _ in app), f"{table}: {app}"
        regulator = [p for p in policies.get(table, []) if REGULATOR_ROLE in p[2]]
        assert regulator, f"{table}: no policy for the regulator role"
        assert all(cmd == "SELECT" for _, cmd, _ in regulator), f"{table}: regulator may write: {regulator}"
        assert not {(table, REGULATOR_ROLE, p) for p in ("INSERT", "UPDATE", "DELETE")} & grants, table
    for table in GLOBAL_TABLES & set(tables):
        assert not policies.get(table), f"global table {table} unexpectedly has policies"
        writes = {(table, role, p) for role in (APP_ROLE, REGULATOR_ROLE) for p in ("INSERT", "UPDATE", "DELETE")}
        assert not writes & grants, f"global table {table} is writable by the application: {writes & grants}"
    assert ("region", APP_ROLE, "SELECT") in grants
    assert ("region", REGULATOR_ROLE, "SELECT") in grants


async def test_append_only_tables_refuse_updates(db_urls) -> None:
    conn = await asyncpg.connect(db_urls.owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_schema = 'public' AND grantee = $1",
            APP_ROLE,
        )
    finally:
        await conn.close()
    granted: dict[str, set[str]] = {}
    for r in rows:
        granted.setdefault(r["table_name"], set()).add(r["privilege_type"])
    for table in ("pass_event", "weighing", "audit_log", "vehicle_version", "vehicle_document", "blob"):
        assert granted[table] == {"SELECT", "INSERT"}, (table, granted[table])
