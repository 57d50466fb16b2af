"""Agent ↔ cloud sync over a real websocket to a real cloud process (issue #5, first slice)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from websockets.asyncio.client import connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed

from agent.outbox import Outbox, PhotoData
from agent.sync import SyncAuthError, SyncClient
from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction, PassEvent, SnapshotRole, new_event_id
from cloud.db import models as m
from cloud.db.engine import Database

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.2, max_delay=0.5, factor=1.5)


def draft(site: Any, n: int, *, site_id: str | None = None, lane_id: str | None = None) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id=str(site.agent_id),
        site_id=site_id or str(site.site_id),
        lane_id=lane_id or str(site.lane_in if n % 2 else site.lane_out),
        direction=Direction.IN if n % 2 else Direction.OUT,
        occurred_at=T0 + timedelta(seconds=n),
        plate=f"鄂A{n % 100000:05d}",
        confidence=0.93,
        decision=Decision.ALLOW if n % 7 else Decision.REFUSE,
        reasons=() if n % 7 else ("emission_stage_low",),
        read_id=f"read-{n}",
    )


def fill(box: Outbox, site: Any, count: int, *, photos: bool = True) -> None:
    rng = random.Random(count)
    for n in range(1, count + 1):
        shots = (
            [
                PhotoData(role=SnapshotRole.SCENE, data=rng.randbytes(3000 + n)),
                PhotoData(role=SnapshotRole.PLATE, data=rng.randbytes(500 + n)),
            ]
            if photos
            else []
        )
        box.append(draft(site, n), photos=shots)


def client(cloud: Any, site: Any, box: Outbox, **kwargs: Any) -> SyncClient:
    return SyncClient(
        cloud.url, site.token, box, heartbeat_s=0.5, poll_s=0.05, reconnect_delays=quick_backoff, **kwargs
    )


async def run_until_acked(sync: SyncClient, box: Outbox, count: int, limit_s: float = 60.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    try:
        async with asyncio.timeout(limit_s):
            while box.stats().acked < count:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
    for _ in range(int(limit_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError


async def stored(database: Database, site: Any) -> list[Any]:
    async with database.session(site.principal) as session, session.begin():
        rows = await session.execute(
            select(
                m.PassEvent.id, m.PassEvent.seq, m.PassEvent.hash, m.PassEvent.scene_sha256, m.PassEvent.plate_sha256
            )
            .where(m.PassEvent.agent_id == site.agent_id)
            .order_by(m.PassEvent.seq)
        )
        return list(rows)


async def test_outage_then_everything_arrives_once_in_order(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    stop = asyncio.Event()
    sync = client(cloud_process, site, box)
    task = asyncio.create_task(sync.run(stop))  # the cloud is down: the client keeps retrying
    fill(box, site, 500)
    await asyncio.sleep(0.5)
    assert box.stats().acked == 0
    cloud_process.start()
    try:
        async with asyncio.timeout(90):
            while box.stats().acked < 500:
                assert not task.done(), task
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.2)  # a heartbeat after the last ack
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

    rows = await stored(database, site)
    events = box.events(limit=1000)
    assert [r.seq for r in rows] == list(range(1, 501))
    assert [str(r.id) for r in rows] == [e.event_id for e in events]
    assert [r.hash for r in rows] == [e.hash for e in events]
    for event in events:
        for digest in event.evidence.blob_hashes():
            path = cloud_process.blob_root / digest[:2] / digest[2:4] / digest
            assert path.read_bytes() == box.read_blob(digest)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    async with database.session(site.principal) as session, session.begin():
        blobs = await session.scalar(select(func.count()).select_from(m.Blob))
        agent = (await session.execute(select(m.Agent).where(m.Agent.id == site.agent_id))).scalar_one()
    assert blobs == 1000
    assert agent.last_seen_at is not None
    assert agent.health["clock_skew"] is False
    assert box.stats().queue_depth == 0
    box.close()


async def test_resent_batch_is_stored_once(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    folder = tmp_path / "agent"
    box = Outbox(folder, agent_id=str(site.agent_id))
    fill(box, site, 120, photos=False)
    cloud_process.start()
    headers = {"Authorization": f"Bearer {site.token}"}
    batch = box.next_batch(50)
    # A client that sends a batch and dies before the ack arrives.
    async with connect(cloud_process.url, additional_headers=headers) as ws:
        await ws.send(msg.encode(msg.Hello(agent_id=str(site.agent_id), agent_clock=datetime.now(UTC))))
        assert isinstance(msg.decode(await ws.recv(decode=False)), msg.Welcome)
        await ws.send(msg.encode(msg.EventBatch(events=batch)))
        box.mark_sent(e.event_id for e in batch)
        await ws.send(msg.encode(msg.EventBatch(events=batch)))  # the very same batch again
        ack = msg.decode(await ws.recv(decode=False))
        assert ack == msg.Ack(up_to_seq=50)
    box.close()

    box = Outbox(folder, agent_id=str(site.agent_id))  # restart: sent-but-unacked go back to pending
    assert box.replayed == 50
    await run_until_acked(client(cloud_process, site, box), box, 120)
    rows = await stored(database, site)
    assert [r.seq for r in rows] == list(range(1, 121))
    assert len({r.id for r in rows}) == 120
    box.close()


async def _refused(url: str, token: str) -> int | None:
    try:
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    return None


async def test_refusals(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant_a = await make_tenant()
    tenant_b = await make_tenant()
    site = await make_site(tenant_a.tenant_id)
    other_site = await make_site(tenant_a.tenant_id)
    foreign = await make_site(tenant_b.tenant_id)
    cloud_process.start()
    url = cloud_process.url
    secret = site.token.partition(".")[2]

    # Wrong secret, unknown agent, another tenant's agent id with this secret: refused at the handshake.
    assert await _refused(url, f"{site.agent_id}.{'0' * 64}") == msg.CLOSE_AUTH
    assert await _refused(url, f"{foreign.agent_id}.{secret}") == msg.CLOSE_AUTH
    assert await _refused(url, "not-a-token") == msg.CLOSE_AUTH
    box = Outbox(tmp_path / "wrong", agent_id=str(site.agent_id))
    sync = SyncClient(url, f"{site.agent_id}.{'1' * 64}", box, reconnect_delays=quick_backoff)
    with pytest.raises(SyncAuthError):
        await asyncio.wait_for(sync.run(asyncio.Event()), 10)
    box.close()

    # A revoked agent is refused too.
    async with database.session(foreign.principal) as session, session.begin():
        await session.execute(update(m.Agent).where(m.Agent.id == foreign.agent_id).values(status="revoked"))
    assert await _refused(url, foreign.token) == msg.CLOSE_AUTH

    headers = {"Authorization": f"Bearer {site.token}"}
    hello = msg.encode(msg.Hello(agent_id=str(site.agent_id), agent_clock=datetime.now(UTC)))

    # An event naming another site (of the same tenant) is refused; nothing is written.
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    box.append(draft(site, 1))
    box.append(draft(site, 2, site_id=str(other_site.site_id), lane_id=str(other_site.lane_in)))
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(hello)
        await ws.recv()
        await ws.send(msg.encode(msg.EventBatch(events=box.next_batch(10))))
        error = msg.decode(await ws.recv(decode=False))
        assert isinstance(error, msg.Error)
        assert error.code == "wrong_site"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == msg.CLOSE_PROTOCOL
    box.close()
    assert await stored(database, site) == []

    # A skewed agent clock is flagged in the stored health.
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(hello)
        await ws.recv()
        await ws.send(msg.encode(msg.Heartbeat(agent_clock=datetime.now(UTC) + timedelta(minutes=2), queue_depth=7)))
        await ws.send(msg.encode(msg.BlobOffer(sha256=[])))
        assert msg.decode(await ws.recv(decode=False)) == msg.BlobWant(sha256=[])  # the heartbeat is stored
    async with database.session(site.principal) as session, session.begin():
        health = await session.scalar(select(m.Agent.health).where(m.Agent.id == site.agent_id))
    assert health is not None
    assert health["clock_skew"] is True
    assert health["queue_depth"] == 7

    # A hello naming another agent closes the connection.
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(msg.encode(msg.Hello(agent_id=str(other_site.agent_id), agent_clock=datetime.now(UTC))))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == msg.CLOSE_PROTOCOL

    # Malformed frames close the connection: garbage, a text frame, a newer protocol version.
    for frame, code in (
        (b"\xc1\x00garbage", msg.CLOSE_PROTOCOL),
        ("hello", msg.CLOSE_PROTOCOL),
        (msg.encode(msg.Ack(up_to_seq=1, v=msg.PROTOCOL_VERSION + 1)), msg.CLOSE_VERSION),
        (b"\x00" * (msg.MAX_FRAME_BYTES + 1), msg.CLOSE_TOO_BIG),
    ):
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            await ws.send(hello)
            await ws.recv()
            await ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == code, frame
    assert await stored(database, site) == []


async def test_client_killed_before_ack_replays_without_duplicates(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    folder = tmp_path / "agent"
    box = Outbox(folder, agent_id=str(site.agent_id))
    fill(box, site, 40, photos=False)
    cloud_process.start()
    await run_until_acked(client(cloud_process, site, box), box, 40)

    # The cloud freezes (no acks); the agent sends more, then is killed before any ack arrives.
    stop = asyncio.Event()
    sync = client(cloud_process, site, box, batch_size=25)
    task = asyncio.create_task(sync.run(stop))
    await until(lambda: sync.connections > 0)
    await asyncio.sleep(0.3)
    cloud_process.pause()
    try:
        for n in range(41, 141):
            box.append(draft(site, n))
        await until(lambda: box.stats().sent >= 100)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        assert box.stats().acked == 40
        box.close()
    finally:
        cloud_process.resume()  # the frozen cloud now commits what it had received

    box = Outbox(folder, agent_id=str(site.agent_id))
    assert box.replayed == 100
    await run_until_acked(client(cloud_process, site, box), box, 140)
    rows = await stored(database, site)
    assert [r.seq for r in rows] == list(range(1, 141))
    box.close()


async def test_two_connections_of_one_agent_interleave_without_loss_or_refusal(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    """Each connection keeps a hint of the chain head (ADR 0019); a hint lagging behind what the other
    connection stored is corrected from the database, never a reason to refuse or to store twice."""
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    fill(box, site, 30, photos=False)
    events = box.next_batch(30)
    box.close()
    cloud_process.start()
    headers = {"Authorization": f"Bearer {site.token}"}

    async def send(ws: Any, batch: list[PassEvent]) -> msg.Message:
        await ws.send(msg.encode(msg.EventBatch(events=batch)))
        return msg.decode(await ws.recv(decode=False))

    async with (
        connect(cloud_process.url, additional_headers=headers) as a,
        connect(cloud_process.url, additional_headers=headers) as b,
    ):
        for ws in (a, b):
            await ws.send(msg.encode(msg.Hello(agent_id=str(site.agent_id), agent_clock=datetime.now(UTC))))
            assert isinstance(msg.decode(await ws.recv(decode=False)), msg.Welcome)
        assert await send(a, events[:10]) == msg.Ack(up_to_seq=10)  # a's hint: 10
        assert await send(b, events[:20]) == msg.Ack(up_to_seq=20)  # b's hint: 20 (1-10 were stored)
        assert await send(a, events[20:25]) == msg.Ack(up_to_seq=25)  # 21 does not follow a's hint 10
        assert await send(b, events[20:30]) == msg.Ack(up_to_seq=30)  # 21-25 stored by a: skipped
    rows = await stored(database, site)
    assert [r.seq for r in rows] == list(range(1, 31))
    assert [str(r.id) for r in rows] == [e.event_id for e in events]
