"""Fleet-wide figures of ``GET /metrics`` (issue 21): uplink backlog by platform and state, checks lag, disk.

Read from the database at scrape time through migration 0020's SECURITY DEFINER functions (aggregates
only). The worker database is shared by the tests of this worker: the test compares scrapes before and
after its own tenant's passes, stored through the ledger with a regulator platform configured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from bench.metrics_scrape import Scrape, parse, total
from cloud import metrics
from cloud.uplink import platforms
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio

PROFILE = "transport_control"


async def _scrape(client) -> Scrape:  # type: ignore[no-untyped-def]
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return parse(answer.text)


async def test_uplink_backlog_checks_lag_and_disks_are_scraped(
    client, database, make_tenant, seed_passes, monkeypatch
) -> None:
    monkeypatch.setenv("ECOGATE_METRICS_DB_EVERY_S", "0")  # no cache between the scrapes of this test
    before = await _scrape(client)
    tenant = await make_tenant(name="指标统计钢铁")
    admin = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="metrics")
    async with database.session(admin) as session, session.begin():
        await platforms.configure(
            session,
            tenant.tenant_id,
            profile=PROFILE,
            base_url="http://127.0.0.1:9",  # nothing listens: a send (if any) is a retry, the rows stay pending
            enterprise_code="420102000099",
            credentials={"username": "ecogate", "password": "EcoGate@2026"},
        )
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await seed_passes(tenant.tenant_id, [{"plate": f"鄂M2000{i}", "occurred_at": moment} for i in range(3)])
    await asyncio.sleep(1.2)  # the second batch is stored > 1 s after the first; no checks have run
    await seed_passes(tenant.tenant_id, [{"plate": "鄂M20009", "occurred_at": moment}])
    after = await _scrape(client)

    name = "ecogate_uplink_backlog"
    grown = total(after, name, profile=PROFILE) - total(before, name, profile=PROFILE)
    assert grown == 4, (total(before, name, profile=PROFILE), total(after, name, profile=PROFILE))
    assert total(after, "ecogate_uplink_oldest_seconds", profile=PROFILE, state="pending") >= 1.0
    assert total(after, "ecogate_checks_lag_seconds") >= 1.0  # this tenant: never checked, passes 1.2 s apart
    assert total(after, "ecogate_database_bytes") > 1_000_000
    assert total(after, "ecogate_disk_free_bytes", volume="data") > 0
    assert total(after, "ecogate_disk_free_bytes", volume="blobs") > 0


async def test_the_app_role_cannot_read_the_rows_behind_the_aggregates(database) -> None:
    """The functions return aggregates; the app role's own view without a tenant stays empty."""
    from sqlalchemy import text  # noqa: PLC0415

    async with database.system_session("test") as session, session.begin():
        assert await session.scalar(text("SELECT count(*) FROM uplink_outbox")) == 0
        assert await session.scalar(text("SELECT count(*) FROM pass_event")) == 0
        rows = list(await session.execute(text("SELECT * FROM ops_uplink_backlog()")))
        assert all(set(r._mapping) == {"profile", "state", "records", "oldest_s"} for r in rows)
    await metrics.refresh_fleet(database, force=True)


def test_a_disconnected_agents_heartbeat_series_are_dropped() -> None:
    """An agent that reconnects to another replica leaves no stale backlog or skew on this one."""
    agent = f"agent-{uuid.uuid4()}"
    metrics.observe_heartbeat(agent, queue_depth=7, oldest_unsent_s=900.0, disk_free_bytes=10, clock_skew_s=45.0)
    before = parse(metrics.generate_latest(metrics.REGISTRY).decode())
    assert total(before, "ecogate_agent_oldest_unsent_seconds", agent=agent) == 900.0
    metrics.forget_agent(agent)
    metrics.forget_agent(agent)  # twice (a session that never sent a heartbeat): no error
    after = parse(metrics.generate_latest(metrics.REGISTRY).decode())
    assert not [key for key in after if dict(key[1]).get("agent") == agent]
