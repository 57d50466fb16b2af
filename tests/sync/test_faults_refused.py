"""A batch the cloud refuses is never dropped: alarm, growing pause, delivery once the cloud is fixed.

Also the fault proxy itself: transparent when disabled, refuses and cuts when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent.outbox import Outbox
from agent.sync import SyncClient
from agent.sync.client import jittered_backoff
from agent_protocol.events import Decision, Direction, PassEvent, new_event_id
from cloud.db import models as m
from cloud.db.engine import Database
from infra.faultproxy import FaultProxy, FaultSettings

pytestmark = pytest.mark.anyio


def quick() -> Generator[float]:
    return jittered_backoff(initial_s=0.05, max_s=0.3)


def draft(site: Any, n: int, lane_id: str) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id=str(site.agent_id),
        site_id=str(site.site_id),
        lane_id=lane_id,
        direction=Direction.IN,
        occurred_at=datetime(2026, 11, 28, 8, tzinfo=UTC) + timedelta(seconds=n),
        plate=f"鄂A{n:05d}",
        confidence=0.9,
        decision=Decision.ALLOW,
        read_id=f"read-{n}",
    )


async def test_refused_batch_alarms_backs_off_and_is_delivered_after_the_fix(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    new_lane = uuid.uuid4()  # a lane installed at the gate but not yet registered in the cloud
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    box.append(draft(site, 1, str(site.lane_in)))
    box.append(draft(site, 2, str(new_lane)))
    box.append(draft(site, 3, str(site.lane_in)))
    cloud_process.start()
    sync = SyncClient(
        cloud_process.url,
        site.token,
        box,
        batch_size=1,
        window=1,
        heartbeat_s=0.2,
        poll_s=0.05,
        reconnect_delays=quick,
        refused_delays=quick,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    try:
        async with asyncio.timeout(30):
            while sync.refusals < 3:
                assert not task.done(), task
                await asyncio.sleep(0.05)
        assert box.stats().acked == 1  # the first pass went through; the refused one stays queued
        assert box.stats().queue_depth == 2
        assert any("unknown_lane" in a for a in sync.alarms)
        async with asyncio.timeout(10):  # the alarm reaches the cloud with a heartbeat
            while True:
                async with database.session(site.principal) as session, session.begin():
                    agent = (await session.execute(select(m.Agent).where(m.Agent.id == site.agent_id))).scalar_one()
                if "拒收" in str(agent.health):
                    break
                await asyncio.sleep(0.1)
        async with database.session(site.principal) as session, session.begin():  # the fix in the cloud
            gate_id = (await session.execute(select(m.Lane.gate_id).where(m.Lane.id == site.lane_in))).scalar_one()
            session.add(
                m.Lane(
                    id=new_lane, tenant_id=tenant.tenant_id, gate_id=gate_id, code="IN2", name="新入口", direction="in"
                )
            )
        async with asyncio.timeout(30):
            while box.stats().acked < 3:
                assert not task.done(), task
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        box.close()
    async with database.session(site.principal) as session, session.begin():
        seqs = (
            await session.scalars(
                select(m.PassEvent.seq).where(m.PassEvent.agent_id == site.agent_id).order_by(m.PassEvent.seq)
            )
        ).all()
    assert list(seqs) == [1, 2, 3]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):  # the proxy resets the upstream side too
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _ping_until_cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async with asyncio.timeout(5):
        while True:
            writer.write(b"ping")
            await writer.drain()
            await reader.readexactly(4)


async def test_fault_proxy_forwards_refuses_and_cuts() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        async with FaultProxy(upstream_port=port, enabled=False) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"x" * 100_000)
            await writer.drain()
            assert await reader.readexactly(100_000) == b"x" * 100_000
            assert proxy.cut_all(reset=True) == 1
            with pytest.raises(ConnectionResetError):
                await reader.read(10)
            writer.close()
        settings = FaultSettings(refuse_probability=1.0)
        async with FaultProxy(upstream_port=port, settings=settings, seed=1) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await reader.readexactly(1)
            writer.close()
            assert proxy.counts.refused == 1
        settings = FaultSettings(mean_fault_s=0.05, weights=(1.0, 1.0, 0.0), refuse_probability=0.0)
        async with FaultProxy(upstream_port=port, settings=settings, seed=2) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await _ping_until_cut(reader, writer)
            writer.close()
            assert proxy.counts.drops + proxy.counts.resets == 1
    finally:
        server.close()
        await server.wait_closed()
