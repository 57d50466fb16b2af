"""Late weighings end to end (issue 15, docs/devices.md "Weighing ↔ pass"): a real agent outbox and sync
client, a real cloud process over a websocket, PostgreSQL under RLS. The weight is stored once, on the
right pass, with the trip's gross/tare/net, however often it is sent (a lost ack, a cloud restart); a
``missing`` attachment raises the ``weighing_missing`` flag; a plateau no pass claimed is stored
unattributed and can be assigned later by a person; a weighing naming another agent's pass is refused.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.client import backoff

from agent.outbox import Outbox, WeighingStatus
from agent.sync import SyncClient
from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction, PassEvent, new_event_id
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.ledger import weighings

pytestmark = pytest.mark.anyio

PASSWORD: str = sys.modules["_sync_cloud_conftest"].PASSWORD
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
REGION = "130102"
TRUCK = "鄂AF8261"


def draft(site: Any, n: int, direction: Direction, plate: str = TRUCK) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id=str(site.agent_id),
        site_id=str(site.site_id),
        lane_id=str(site.lane_in if direction is Direction.IN else site.lane_out),
        direction=direction,
        occurred_at=T0 + timedelta(minutes=n),
        plate=plate,
        confidence=0.95,
        decision=Decision.ALLOW,
        read_id=f"read-{n}",
    )


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.2, max_delay=0.5, factor=1.5)


async def _run(cloud: Any, site: Any, box: Outbox, done: Any, limit_s: float = 30.0) -> None:
    sync = SyncClient(cloud.url, site.token, box, heartbeat_s=0.5, poll_s=0.05, reconnect_delays=quick_backoff)
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    try:
        async with asyncio.timeout(limit_s):
            while not done(box):
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _rows(database: Database, site: Any) -> list[m.Weighing]:
    async with database.session(site.principal) as session, session.begin():
        return list((await session.scalars(select(m.Weighing).order_by(m.Weighing.occurred_at))).all())


async def _send_raw(cloud: Any, site: Any, attach: msg.WeighingAttach) -> msg.AttachAck:
    async with connect(cloud.url, additional_headers={"Authorization": f"Bearer {site.token}"}) as ws:
        await ws.send(msg.encode(msg.Hello(agent_id=str(site.agent_id), agent_clock=T0, features=[])))
        welcome = msg.decode(await ws.recv(decode=False))
        assert isinstance(welcome, msg.Welcome)
        assert msg.FEATURE_LATE_WEIGHINGS in welcome.features
        await ws.send(msg.encode(attach))
        while True:
            reply = msg.decode(await ws.recv(decode=False))
            if isinstance(reply, msg.AttachAck):
                return reply


def _record(kg: float, minute: int, direction: str, **trip: float) -> msg.WeighingRecord:
    return msg.WeighingRecord(
        weight_kg=kg,
        at=T0 + timedelta(minutes=minute, seconds=20),
        indicator="scale",
        direction="in" if direction == "in" else "out",
        plate=TRUCK,
        cargo="煤炭",
        **trip,
    )


async def test_weight_is_stored_once_on_the_right_pass_across_reconnects(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant(REGION)
    site = await make_site(tenant.tenant_id)
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    entry = box.append(draft(site, 1, Direction.IN)).event
    exit_ = box.append(draft(site, 30, Direction.OUT)).event
    unweighed = box.append(draft(site, 40, Direction.IN, "鄂A7M416")).event
    # Claims are recorded right after each pass; the weights settle later (the deck is behind the barrier).
    w_entry, w_exit, w_none = (box.expect_weighing(e.event_id) for e in (entry, exit_, unweighed))
    cloud_process.start()
    await _run(cloud_process, site, box, lambda b: b.stats().acked == 3)
    assert await _rows(database, site) == []  # nothing is guessed while the weights are still waiting

    assert box.attach_weighing(w_entry, _record(49_000, 1, "in"))
    assert box.attach_weighing(w_exit, _record(15_200, 30, "out", gross_kg=49_000, tare_kg=15_200, net_kg=33_800))
    assert box.attach_weighing(w_none, None, "放行后 60 秒内地磅没有该车的稳定重量")
    stray = box.add_unattributed_weighing(_record(27_500, 50, "in"), "没有放行记录认领的稳定重量")
    # A crash after sending, before the acks: the rows are pending again on the next open.
    box.mark_weighings_sent([w_entry, w_exit])
    box.close()
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    # The cloud restarts while the agent is offline (a reconnect with everything resent).
    cloud_process.stop()
    cloud_process.start()
    await _run(
        cloud_process, site, box, lambda b: all(w.status is WeighingStatus.ACKED for w in b.weighings()), limit_s=40
    )

    rows = await _rows(database, site)
    by_id = {str(r.id): r for r in rows}
    assert sorted(by_id) == sorted([w_entry, w_exit, stray])  # the missing one is a flag, not a weight
    first, second, unattributed = by_id[w_entry], by_id[w_exit], by_id[stray]
    assert (str(first.pass_event_id), first.weight_kg, first.direction, first.source) == (
        entry.event_id,
        Decimal("49000.0"),
        "in",
        "agent",
    )
    assert (first.agent_id, first.plate, first.cargo_name, first.indicator) == (site.agent_id, TRUCK, "煤炭", "scale")
    assert str(second.pass_event_id) == exit_.event_id
    assert (second.gross_kg, second.tare_kg, second.net_kg) == (
        Decimal("49000.0"),
        Decimal("15200.0"),
        Decimal("33800.0"),
    )
    assert unattributed.pass_event_id is None

    # Sent again (a replay after a lost ack): acknowledged, stored once.
    again = await _send_raw(
        cloud_process,
        site,
        msg.WeighingAttach(attachment_id=w_entry, event_id=entry.event_id, weighing=_record(49_000, 1, "in")),
    )
    assert again.ok
    assert len(await _rows(database, site)) == 3

    async with database.session(site.principal) as session, session.begin():
        flags = (await session.scalars(select(m.CheckFlag).where(m.CheckFlag.code == "weighing_missing"))).all()
        assert [str(f.pass_event_id) for f in flags] == [unweighed.event_id]
        review = await weighings.unattributed_weighings(session, tenant.tenant_id)
        assert [str(w.id) for w in review] == [stray]
        # A person assigns the stray weight to the pass it belongs to: a new row, the old one untouched.
        assigned = await weighings.attach_weighing_to_pass(
            session, tenant.tenant_id, unattributed.id, uuid_of(unweighed), by_login="reviewer"
        )
        assert (assigned.source, assigned.assigned_from_id, assigned.created_by_login) == (
            "manual",
            unattributed.id,
            "reviewer",
        )
        assert await weighings.unattributed_weighings(session, tenant.tenant_id) == []
        twice = await weighings.attach_weighing_to_pass(
            session, tenant.tenant_id, unattributed.id, uuid_of(unweighed), by_login="reviewer"
        )
        assert twice.id == assigned.id
    box.close()


def uuid_of(event: PassEvent) -> uuid.UUID:
    return uuid.UUID(event.event_id)


async def test_weighing_for_another_agents_pass_is_refused(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant(REGION)
    site_a, site_b = await make_site(tenant.tenant_id), await make_site(tenant.tenant_id)
    box = Outbox(tmp_path / "a", agent_id=str(site_a.agent_id))
    event = box.append(draft(site_a, 1, Direction.IN)).event
    cloud_process.start()
    await _run(cloud_process, site_a, box, lambda b: b.stats().acked == 1)
    forged = await _send_raw(
        cloud_process,
        site_b,
        msg.WeighingAttach(attachment_id=new_event_id(), event_id=event.event_id, weighing=_record(1_000, 1, "in")),
    )
    assert (forged.ok, forged.code) == (False, "unknown_event")
    missing = await _send_raw(
        cloud_process,
        site_b,
        msg.WeighingAttach(attachment_id=new_event_id(), event_id=event.event_id, outcome="missing"),
    )
    assert (missing.ok, missing.code) == (False, "unknown_event")
    assert await _rows(database, site_a) == []
    async with database.session(site_a.principal) as session, session.begin():
        assert (await session.scalars(select(m.CheckFlag))).all() == []
    box.close()
