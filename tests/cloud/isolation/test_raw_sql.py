"""Raw SQL as the application role, and pooled connections across transactions.

Below the API: with the tenant unset or wrong, the application role reads no tenant rows and writes
none; the tenant is transaction-local, so a connection reused from the pool never carries the
previous transaction's tenant.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text

from cloud.db.engine import Database
from cloud.settings import DatabaseSettings
from tenants.context import MissingTenantError, Principal, Role
from tenants.ids import new_id

pytestmark = pytest.mark.anyio

SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _in_tenant(conn: asyncpg.Connection, setting: str | None, sql: str, *args: object) -> object:
    """Run one statement in its own transaction, with ``app.tenant_id`` set to ``setting`` (None: unset)."""
    async with conn.transaction():
        if setting is not None:
            await conn.execute(SET_TENANT, setting)
        return await conn.execute(sql, *args)


def _tenant_tables() -> list[str]:
    from cloud.db import models as m  # noqa: PLC0415

    return sorted(mp.local_table.name for mp in m.Base.registry.mappers if mp.class_.__tenant_owned__)


async def test_app_role_without_or_with_wrong_tenant_sees_and_writes_nothing(db_urls, make_world, snapshot) -> None:
    a = await make_world()
    before = await snapshot(a.tenant_id)
    assert all(before[t] for t in ("site", "vehicle", "vehicle_version", "pass_event", "blob", "audit_log"))
    conn = await asyncpg.connect(_plain(db_urls.app_url))
    try:
        for setting in (None, "", str(uuid.uuid4()), str(new_id())):
            async with conn.transaction():
                if setting is not None:
                    await conn.execute(SET_TENANT, setting)
                for table in _tenant_tables():
                    count = await conn.fetchval(f"SELECT count(*) FROM {table}")
                    assert count == 0, (setting, table, count)
        # Writes: inserting A's rows or changing them is refused or touches nothing.
        site_id = uuid.UUID(a.params["site_id"])
        for setting in (None, str(uuid.uuid4())):
            insert = "INSERT INTO site (tenant_id, id, name, address) VALUES ($1, $2, '入侵', '')"
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await _in_tenant(conn, setting, insert, a.tenant_id, new_id())
            async with conn.transaction():
                if setting is not None:
                    await conn.execute(SET_TENANT, setting)
                assert await conn.execute("UPDATE site SET name = '入侵' WHERE id = $1", site_id) == "UPDATE 0"
                assert await conn.execute("DELETE FROM lane WHERE tenant_id = $1", a.tenant_id) == "DELETE 0"
                assert await conn.execute("UPDATE tenant SET grade = 'D' WHERE id = $1", a.tenant_id) == "UPDATE 0"
                assert await conn.execute("UPDATE user_account SET is_active = false") == "UPDATE 0"
        # A malformed tenant setting fails the cast instead of matching anything.
        with pytest.raises(asyncpg.InvalidTextRepresentationError):
            await _in_tenant(conn, "not-a-uuid", "SELECT count(*) FROM site")
        # Even in its own tenant the application cannot rewrite append-only records.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _in_tenant(conn, str(a.tenant_id), "UPDATE pass_event SET plate = '鄂A00000'")
        # The right tenant does see its rows (the zeros above are RLS, not an empty database).
        async with conn.transaction():
            await conn.execute(SET_TENANT, str(a.tenant_id))
            assert await conn.fetchval("SELECT count(*) FROM site") == len(before["site"])
    finally:
        await conn.close()
    assert await snapshot(a.tenant_id) == before


async def test_same_connection_never_carries_the_previous_tenant(db_urls, make_world) -> None:
    a = await make_world()
    conn = await asyncpg.connect(_plain(db_urls.app_url))
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        async with conn.transaction():
            await conn.execute(SET_TENANT, str(a.tenant_id))
            assert await conn.fetchval("SELECT count(*) FROM vehicle") == 1
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") == ""
        assert await conn.fetchval("SELECT count(*) FROM vehicle") == 0
        tr = conn.transaction()
        await tr.start()
        await conn.execute(SET_TENANT, str(a.tenant_id))
        await tr.rollback()
        async with conn.transaction():
            assert await conn.fetchval("SELECT count(*) FROM vehicle") == 0
        assert await conn.fetchval("SELECT pg_backend_pid()") == pid
    finally:
        await conn.close()


async def test_pooled_sessions_do_not_leak_the_tenant(db_urls, make_world) -> None:
    a = await make_world()
    settings = DatabaseSettings(app_url=db_urls.app_url, regulator_url=db_urls.regulator_url, pool_size=1)
    database = Database.from_settings(settings)
    principal = Principal(user_id=new_id(), role=Role.VIEWER, tenant_id=a.tenant_id, login="pool-test")
    try:
        async with database.session(principal) as session, session.begin():
            first_pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert await session.scalar(text("SELECT current_setting('app.tenant_id', true)")) == str(a.tenant_id)
            assert await session.scalar(text("SELECT count(*) FROM vehicle")) == 1
        # The same pooled connection, outside any tenant-scoped session: nothing is visible.
        async with database.app_engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first_pid
            assert await conn.scalar(text("SELECT current_setting('app.tenant_id', true)")) == ""
            assert await conn.scalar(text("SELECT count(*) FROM vehicle")) == 0
        other = Principal(user_id=new_id(), role=Role.VIEWER, tenant_id=new_id(), login="pool-test-2")
        async with database.session(other) as session, session.begin():
            assert await session.scalar(text("SELECT pg_backend_pid()")) == first_pid
            assert await session.scalar(text("SELECT count(*) FROM vehicle")) == 0
        # A session with no principal fails closed before any statement runs.
        async with database._maker(database.app_engine)() as session:
            with pytest.raises(MissingTenantError):
                await session.execute(text("SELECT 1"))
    finally:
        await database.dispose()
