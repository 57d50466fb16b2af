"""The migrations round-trip: upgrade → downgrade → upgrade on a fresh database."""

from __future__ import annotations

import asyncio
import json
import os

import asyncpg

from cloud.db.migrate import downgrade, upgrade
from tenants.bootstrap import create_database, drop_database


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


def test_migrations_round_trip(admin_url: str, worker_name: str) -> None:
    passwords = json.loads(os.environ["ECOGATE_TEST_ROLE_PASSWORDS"])
    name = f"ecogate_roundtrip_{worker_name}"
    urls = asyncio.run(create_database(admin_url, name, passwords, recreate=True))
    try:
        upgrade(urls.owner_url)
        first = asyncio.run(_tables(urls.owner_url))
        assert {"tenant", "pass_event", "vehicle_version", "audit_log"} <= first
        downgrade(urls.owner_url)
        assert asyncio.run(_tables(urls.owner_url)) <= {"ecogate_schema_version"}
        upgrade(urls.owner_url)
        assert asyncio.run(_tables(urls.owner_url)) == first
    finally:
        asyncio.run(drop_database(admin_url, name))
