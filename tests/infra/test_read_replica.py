"""The regulator reads from a PostgreSQL streaming replica, under RLS, within the staleness bound (issue 20).

A primary and a hot standby of the embedded server's binaries (infra/replica.py) in a folder of the
test's own; passes are stored through the ledger's write path on the primary; the cloud app (in
process) has ``DATABASE_REPLICA_URL``. The regulator's API reads come from the standby's port, see
only the regulator's region there too (same roles and policies, replicated), and go back to the
primary once the standby stops replaying for longer than the bound (docs/adr/0036). A tenant admin's
report is read on the standby once it holds the report's refresh, on the primary while it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from structlog.testing import capture_logs

from cloud.app import create_app
from cloud.db.engine import Database
from cloud.settings import AuthSettings, BlobSettings, DatabaseSettings, Settings
from infra.pg import EmbeddedPostgres
from infra.replica import StreamingReplica
from tenants.context import Principal, Role
from tests.ledger_kit import AgentChain

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("read_replica")]
ROOT = Path(__file__).resolve().parents[2]
MAX_LAG_S = 1.0


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


scale = _load("_bench_scale_out", ROOT / "bench" / "scale_out.py")


async def _until(predicate: Callable[[], Any], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.1)


@pytest.fixture(name="cluster")
async def fx_cluster() -> AsyncIterator[tuple[EmbeddedPostgres, StreamingReplica, Any]]:
    """Primary + standby (own folder under mkdtemp: pytest's tmp_path may be re-chmodded), migrated database."""
    from cloud.db.migrate import upgrade_async  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="ecogate-replica-test-"))
    primary = await asyncio.to_thread(EmbeddedPostgres(folder / "primary").start)
    standby = StreamingReplica(primary, folder / "standby")
    try:
        await asyncio.to_thread(standby.start)
        urls = await bootstrap_database(primary.admin_url, "ecogate_replica", recreate=True)
        await upgrade_async(urls.owner_url)
        yield primary, standby, urls
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(standby.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(primary.stop)
        shutil.rmtree(folder, ignore_errors=True)


def _chain(site: Any) -> AgentChain:
    return AgentChain(site.tenant_id, site.site_id, site.agent_id, site.lanes[0], site.lanes[1])


async def _store_passes(database: Database, chain: AgentChain, count: int) -> None:
    """``count`` more passes of the agent, stored through the ledger (the hub's ingest path) on the primary."""
    principal = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=chain.tenant_id, login="agent")
    at = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=chain.seq)
    async with database.session(principal) as session, session.begin():
        events = [
            chain.event(f"鄂A{n:05d}", at + dt.timedelta(minutes=n), "in" if n % 2 else "out") for n in range(count)
        ]
        await chain.store(session, events)


async def test_regulator_reads_on_the_replica_under_rls_within_the_bound(
    cluster: tuple[EmbeddedPostgres, StreamingReplica, Any], tmp_path: Path
) -> None:
    primary, standby, urls = cluster
    here = await scale.onboard(urls, 1, region="420102")
    elsewhere = await scale.onboard(urls, 1, region="420502")
    settings = Settings(
        database=DatabaseSettings(
            app_url=urls.app_url,
            owner_url=urls.owner_url,
            regulator_url=urls.regulator_url,
            pool_size=2,
            replica_url=f"postgresql://127.0.0.1:{standby.port}",
            replica_max_lag_s=MAX_LAG_S,
        ),
        auth=AuthSettings(session_secret="test-secret-" + "x" * 32, secure_cookies=False),
        blobs=BlobSettings(root=tmp_path / "blobs"),
        data_dir=tmp_path,
        environment="development",
    )
    database = Database.from_settings(settings.database)
    try:
        mine, theirs = _chain(here.sites[0]), _chain(elsewhere.sites[0])
        await _store_passes(database, mine, 5)
        await _store_passes(database, theirs, 3)
        regulator = Principal(user_id=uuid.uuid4(), role=Role.REGULATOR, login=here.regulator, region_code="420102")

        async def served_by() -> tuple[int, int, int]:
            async with database.session(regulator) as session, session.begin():
                port = await session.scalar(text("SELECT inet_server_port()"))
                mine = await session.scalar(
                    text("SELECT count(*) FROM pass_event WHERE tenant_id = :t"), {"t": here.sites[0].tenant_id}
                )
                other = await session.scalar(
                    text("SELECT count(*) FROM pass_event WHERE tenant_id = :t"), {"t": elsewhere.sites[0].tenant_id}
                )
            return int(port or 0), int(mine or 0), int(other or 0)

        async def on_replica_with_five() -> bool:
            return await served_by() == (standby.port, 5, 0)

        # The standby serves the regulator (its port), holds the passes, and RLS hides the other region there.
        await _until(on_replica_with_five, 60)

        # Through the API of the app: the regulator's page of passes comes from the standby too.
        app = create_app(settings)
        async with AsyncTestClient(app=app) as client:
            login = await client.post("/api/v1/auth/login", json={"login": here.regulator, "password": scale.PASSWORD})
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            client.cookies.clear()
            page = await client.get(
                f"/api/v1/regulator/enterprises/{here.sites[0].tenant_id}/passes?start=2026-12-01&end=2026-12-31",
                headers=headers,
            )
            assert page.status_code == 200, page.text
            assert page.json()["total"] == 5
            hidden = await client.get(
                f"/api/v1/regulator/enterprises/{elsewhere.sites[0].tenant_id}/passes", headers=headers
            )
            assert hidden.status_code == 404, hidden.text
            standby_conn = await asyncpg.connect(standby.server.admin_url if standby.server else "")
            try:
                seen = await standby_conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                    urls.regulator_url.split("://", 1)[1].split(":", 1)[0],
                )
            finally:
                await standby_conn.close()
            assert seen >= 1  # the regulator role's pool is connected to the standby

        # The standby stops replaying: new passes on the primary; once the bound has passed, reads go to the primary.
        control = await asyncpg.connect(standby.server.admin_url if standby.server else "")
        try:
            await control.execute("SELECT pg_wal_replay_pause()")
            await _store_passes(database, mine, 2)

            async def primary_with_seven() -> bool:
                return await served_by() == (primary.port, 7, 0)

            await _until(primary_with_seven, 30)
            router = database.replica_router
            assert router is not None
            assert router.staleness_s() > MAX_LAG_S
            # Replay resumes: the standby catches up and serves again.
            await control.execute("SELECT pg_wal_replay_resume()")

            async def replica_with_seven() -> bool:
                return await served_by() == (standby.port, 7, 0)

            await _until(replica_with_seven, 30)

            # Tenant users' reports (cloud/reports/reading.py): refreshed on the primary, read on the
            # standby once it has replayed the refresh; while it does not, on the primary.
            tenant_id = here.sites[0].tenant_id
            ledger = f"/api/v1/enterprises/{tenant_id}/reports/ledgers/transport_passes?start=2026-12-01&end=2026-12-31"
            app_role = urls.app_url.split("://", 1)[1].split(":", 1)[0]

            async def app_connections_on_standby() -> int:
                conn = await asyncpg.connect(standby.server.admin_url if standby.server else "")
                try:
                    return int(
                        await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", app_role)
                    )
                finally:
                    await conn.close()

            async with AsyncTestClient(app=create_app(settings)) as client:
                login = await client.post(
                    "/api/v1/auth/login", json={"login": here.admins[tenant_id], "password": scale.PASSWORD}
                )
                assert login.status_code == 200, login.text
                headers = {"Authorization": f"Bearer {login.json()['token']}"}
                client.cookies.clear()
                with capture_logs() as logs:
                    page = await client.get(ledger, headers=headers)
                assert page.status_code == 200, page.text
                assert page.json()["total"] == 7
                events = [e["event"] for e in logs if e["event"].startswith("reports.read_on")]
                assert events == ["reports.read_on_replica"], logs
                assert await app_connections_on_standby() >= 1

                await control.execute("SELECT pg_wal_replay_pause()")
                await _store_passes(database, mine, 1)
                with capture_logs() as logs:
                    page = await client.get(ledger, headers=headers)  # the standby cannot hold the refresh
                assert page.status_code == 200, page.text
                assert page.json()["total"] == 8  # read on the primary: nothing stale
                events = [e["event"] for e in logs if e["event"].startswith("reports.read_on")]
                assert events == ["reports.read_on_primary"], logs
                await control.execute("SELECT pg_wal_replay_resume()")
                elsewhere_id = elsewhere.sites[0].tenant_id
                other = await client.get(ledger.replace(str(tenant_id), str(elsewhere_id)), headers=headers)
                assert other.status_code in {403, 404}, other.text
        finally:
            await control.close()
    finally:
        await database.dispose()
