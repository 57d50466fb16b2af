"""The schema is Citus-ready (issue 20 item 5): tenant tables lead every key with tenant_id, the rest are classified.

Checked twice: on the models' metadata (what `python -m infra.citus_plan` prints) and on the catalog of a real
database migrated to head, since the migrations, not the models, make production's tables.
"""

from __future__ import annotations

import asyncpg
import pytest

from infra.citus_plan import DISTRIBUTION_COLUMN, IGNORED_TABLES, LOCAL_TABLES, REFERENCE_TABLES, plan, sql

_KEYS = """
SELECT c.conrelid::regclass::text AS tab, c.contype, c.confrelid::regclass::text AS ref,
       array_agg(a.attname ORDER BY k.ord) AS cols
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype IN ('p', 'f') AND c.connamespace = 'public'::regnamespace
GROUP BY c.oid, c.conrelid, c.contype, c.confrelid
"""
_TENANT_TABLES = """
SELECT table_name FROM information_schema.columns
WHERE table_schema = 'public' AND column_name = 'tenant_id'
"""
_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


def test_the_models_distribute_without_problems() -> None:
    p = plan()
    assert not p.problems, "\n".join(p.problems)
    assert "pass_event" in p.distributed
    assert set(p.reference) == set(REFERENCE_TABLES)
    statements = sql(p)
    assert "create_distributed_table('pass_event', 'tenant_id')" in statements
    assert "create_reference_table('region')" in statements


@pytest.mark.anyio
async def test_the_migrated_database_leads_every_key_with_tenant_id(db_urls: object) -> None:
    connection = await asyncpg.connect(db_urls.owner_url.replace("+asyncpg", ""))  # type: ignore[attr-defined]
    try:
        keys = await connection.fetch(_KEYS)
        tenant_tables = {r["table_name"] for r in await connection.fetch(_TENANT_TABLES)}
        tables = {r["tablename"] for r in await connection.fetch(_TABLES)}
    finally:
        await connection.close()
    problems = []
    for row in keys:
        table, kind, ref, cols = row["tab"], row["contype"], row["ref"], list(row["cols"])
        if table in REFERENCE_TABLES or table in LOCAL_TABLES or table not in tenant_tables:
            continue
        if kind == "p" and cols[:1] != [DISTRIBUTION_COLUMN]:
            problems.append(f"{table}: primary key {cols}")
        if kind == "f" and ref not in REFERENCE_TABLES and cols[:1] != [DISTRIBUTION_COLUMN]:
            problems.append(f"{table}: foreign key {cols} → {ref}")
    unclassified = tables - tenant_tables - REFERENCE_TABLES - LOCAL_TABLES - IGNORED_TABLES
    assert not problems, "\n".join(problems)
    assert not unclassified, f"classify in infra/citus_plan.py: {sorted(unclassified)}"
