"""What the uplink workers do by the clock: gate heartbeats, Tianjin daily counts, alarm transitions.

Real simulators over TCP, real PostgreSQL; the worker's wall clock is moved by the test (``clock=``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from cloud.blobs import BlobStore
from cloud.domain.common import CHINA_TZ
from cloud.uplink import worker
from cloud.uplink.adapters.tianjin import public_key_of
from cloud.uplink.worker import UplinkWorker
from infra.regsim.hengshui import HengshuiSimulator
from infra.regsim.tianjin import TianjinSimulator
from infra.regsim.transport_serial import TransportSerialSimulator
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
PRIVATE = secrets.token_hex(32)


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(name="tianjin")
async def fx_tianjin() -> AsyncIterator[TianjinSimulator]:
    async with TianjinSimulator(public_key_of(PRIVATE)) as sim:
        sim.faults.timeout_s = 2.0
        yield sim


async def _simulator(profile: str, regsim: Any) -> Any:
    if profile == "transport_control":
        return regsim
    if profile == "tianjin":
        return TianjinSimulator(public_key_of(PRIVATE))
    if profile == "hengshui":
        return HengshuiSimulator()
    return TransportSerialSimulator()


@pytest.mark.parametrize("profile", ["transport_control", "tianjin", "hengshui", "transport_serial"])
async def test_heartbeats_on_schedule_once_per_interval_across_workers(
    profile, database, make_tenant, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    sim = await _simulator(profile, regsim)
    if sim is not regsim:
        await sim.start()
    tenant = await make_tenant()
    await seed_passes(tenant.tenant_id, [])  # gate G1
    await connect_platform(tenant.tenant_id, sim, profile=profile, credentials={"prksm2": PRIVATE})
    clock = Clock(dt.datetime.now(dt.UTC))
    one, two = (UplinkWorker(database, BlobStore(tmp_path), clock=clock) for _ in range(2))
    beats = (lambda: len(sim.state.heartbeat_gates)) if hasattr(sim.state, "heartbeat_gates") else (lambda: 0)
    try:
        await one.send_heartbeats()
        first = beats()
        await one.send_heartbeats()
        await two.send_heartbeats()  # same interval: claimed already, by either worker
        again = beats()
        interval = {"transport_control": 60, "tianjin": 60, "hengshui": 30}.get(profile)
        if interval is None:  # /transport/* has no heartbeat (§2.5)
            assert (first, again) == (0, 0)
            return
        clock.now += dt.timedelta(seconds=interval - 1)
        await two.send_heartbeats()
        early = beats()
        clock.now += dt.timedelta(seconds=2)
        await two.send_heartbeats()
        late = beats()
        assert (first, again, early, late) == (1, 1, 1, 2)
        assert sim.state.heartbeat_gates == [["G1"], ["G1"]]
    finally:
        await one.close()
        await two.close()
        if sim is not regsim:
            await sim.stop()


async def test_heartbeat_interval_from_the_tenant_config_and_off(
    database, make_tenant, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    tenant = await make_tenant()
    await seed_passes(tenant.tenant_id, [])
    await connect_platform(tenant.tenant_id, regsim)
    actor = Principal(user_id=uuid.UUID(int=7), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        await session.execute(text("UPDATE uplink_platform SET heartbeat_s = 10"))
    clock = Clock(dt.datetime.now(dt.UTC))
    sender = UplinkWorker(database, BlobStore(tmp_path), clock=clock)
    try:
        await sender.send_heartbeats()
        clock.now += dt.timedelta(seconds=11)
        await sender.send_heartbeats()
        assert regsim.state.heartbeats == 2
        async with database.session(actor) as session, session.begin():
            await session.execute(text("UPDATE uplink_platform SET heartbeat_s = 0"))
        clock.now += dt.timedelta(hours=1)
        await sender.send_heartbeats()
    finally:
        await sender.close()
    assert regsim.state.heartbeats == 2


async def test_tianjin_daily_counts_after_midnight_retried_and_checked_by_the_platform(
    database, make_tenant, seed_passes, tianjin, connect_platform, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(worker, "BACKOFF_BASE_S", 30.0)
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, tianjin, profile="tianjin", credentials={"prksm2": PRIVATE})
    today = dt.datetime.now(CHINA_TZ).date()
    yesterday = today - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12), tzinfo=CHINA_TZ)
    events = [
        {"plate": f"津A1000{i}", "occurred_at": noon + dt.timedelta(minutes=i), "direction": "in" if i < 3 else "out"}
        for i in range(5)
    ] + [{"plate": "津A20000", "occurred_at": dt.datetime.combine(today, dt.time(0, 1), tzinfo=CHINA_TZ)}]
    ledger = await seed_passes(tenant.tenant_id, events)
    refused = ledger.pass_ids[4].hex  # an out record the platform refuses: it will not hold it
    tianjin.faults.reject_serials = {refused}
    clock = Clock(dt.datetime.combine(today, dt.time(0, 5), tzinfo=CHINA_TZ))  # inside the grace
    sender = UplinkWorker(database, BlobStore(tmp_path), clock=clock)
    try:
        while await sender.run_tenant(tenant.tenant_id):
            pass
        await sender.send_daily_reports()
        # 00:05: the week before yesterday is caught up; yesterday waits for the grace period.
        assert tianjin.state.daily_reports == worker.DAILY_CATCH_UP_DAYS
        assert {k[2] for k in tianjin.state.daily} == {
            (yesterday - dt.timedelta(days=n)).isoformat() for n in range(1, worker.DAILY_CATCH_UP_DAYS + 1)
        }

        await tianjin.set_down(True)
        clock.now = dt.datetime.combine(today, dt.time(0, 15), tzinfo=CHINA_TZ)
        await sender.send_daily_reports()  # platform down: kept pending
        await tianjin.set_down(False)
        await sender.send_daily_reports()
        assert tianjin.state.daily_reports == worker.DAILY_CATCH_UP_DAYS  # not due again before its backoff
        clock.now += dt.timedelta(minutes=5)
        await sender.send_daily_reports()
        assert tianjin.state.daily_reports == worker.DAILY_CATCH_UP_DAYS + 1  # yesterday, re-sent
        clock.now += dt.timedelta(hours=1)
        await sender.send_daily_reports()
        assert tianjin.state.daily_reports == worker.DAILY_CATCH_UP_DAYS + 1  # each day once
    finally:
        await sender.close()
    day = yesterday.isoformat()
    assert tianjin.state.daily[("G1", "L1", day)] == 3
    assert tianjin.state.daily[("G1", "L2", day)] == 2  # our ledger's count, the refused record included
    # The platform compares with what it received: the refused record shows as the one difference.
    assert tianjin.state.daily_mismatch == {("G1", "L2", day): (2, 1)}
    assert ("G1", "L1", today.isoformat()) not in tianjin.state.daily  # today is reported tomorrow
    actor = Principal(user_id=uuid.UUID(int=7), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        row = (
            await session.execute(
                text("SELECT state, attempts, rows FROM uplink_daily_report WHERE record_date = :d"), {"d": yesterday}
            )
        ).one()
    assert (row.state, row.attempts) == ("delivered", 2)
    assert {"gate": "G1", "lane": "L1", "count": 3} in row.rows


async def test_alarms_raised_and_cleared_are_recorded_and_shown(
    client, database, make_tenant, seed_passes, regsim, connect_platform, login_as, tmp_path
) -> None:
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=0.5)
    now = dt.datetime.now(dt.UTC)
    await seed_passes(
        tenant.tenant_id, [{"plate": f"鄂A4000{i}", "occurred_at": now - dt.timedelta(hours=30 + i)} for i in range(4)]
    )
    await regsim.set_down(True)
    sender = UplinkWorker(database, BlobStore(tmp_path))
    try:
        await sender.run_tenant(tenant.tenant_id)
        await sender.evaluate_alarms()  # rate 0 % under 95 %, oldest undelivered over a day
        await sender.evaluate_alarms()  # still on: no new transition
        admin = await login_as(tenant.admin_login)
        status = (await client.get("/api/v1/uplink/status", headers=admin)).json()
        assert {a["code"] for a in status["alarms"]} == {"upload_rate_low", "upload_backlog_old"}
        assert all(a["since"] for a in status["alarms"])
        assert [(h["code"], h["raised"]) for h in status["alarm_history"]] == [
            ("upload_rate_low", True),
            ("upload_backlog_old", True),
        ]

        await regsim.set_down(False)
        actor = Principal(user_id=uuid.UUID(int=7), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
        async with database.session(actor) as session, session.begin():
            await session.execute(text("UPDATE uplink_outbox SET next_attempt_at = now()"))
        while await sender.run_tenant(tenant.tenant_id):
            pass
        await sender.evaluate_alarms()  # both cleared
    finally:
        await sender.close()
    status = (await client.get("/api/v1/uplink/status", headers=admin)).json()
    assert status["alarms"] == []
    assert sorted((h["code"], h["raised"]) for h in status["alarm_history"]) == [
        ("upload_backlog_old", False),
        ("upload_backlog_old", True),
        ("upload_rate_low", False),
        ("upload_rate_low", True),
    ]


async def test_a_pass_just_recorded_and_not_yet_sent_raises_no_alarm(
    client, database, make_tenant, seed_passes, regsim, connect_platform, login_as, tmp_path
) -> None:
    """The rate alarm is judged on records already due: the first truck after a quiet week is not late."""
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=0.5)
    await seed_passes(tenant.tenant_id, [{"plate": "鄂A40100", "occurred_at": dt.datetime.now(dt.UTC)}])
    await regsim.set_down(True)
    sender = UplinkWorker(database, BlobStore(tmp_path))
    try:
        await sender.run_tenant(tenant.tenant_id)  # refused by the platform: still pending
        await sender.evaluate_alarms()
        admin = await login_as(tenant.admin_login)
        status = (await client.get("/api/v1/uplink/status", headers=admin)).json()
    finally:
        await sender.close()
    assert (status["total"], status["pending"], status["upload_rate"]) == (1, 1, "0.00")
    assert status["alarms"] == []
    assert status["alarm_history"] == []
