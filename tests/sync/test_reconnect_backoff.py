"""Reconnect storm (issue 16): a hub that accepts and closes with 4503 retry-after is not hammered.

A real websockets server over TCP plays the hub whose database is down: it accepts every handshake
and closes at once with close code 4503 ``retry-after=1``. The real :class:`SyncClient` must wait at
least the retry-after between attempts and keep backing off (a session that never got healthy does
not reset the backoff): before issue 16 one agent reconnected 243 times in a 20 s outage.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from agent.outbox import Outbox
from agent.sync.client import SyncClient
from agent_protocol import messages as msg

pytestmark = pytest.mark.anyio


async def test_try_later_close_is_honoured(tmp_path: Path) -> None:
    attempts: list[float] = []

    async def hub(ws: ServerConnection) -> None:
        attempts.append(time.monotonic())
        await ws.close(msg.CLOSE_TRY_LATER, msg.try_later_reason(1, "云端数据库暂不可用，请稍后重试"))

    box = Outbox(tmp_path / "outbox", agent_id="agent-1")
    async with serve(hub, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = SyncClient(f"ws://127.0.0.1:{port}/agent/ws", "token", box)
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await asyncio.sleep(4.0)
        stop.set()
        await asyncio.wait_for(task, 10)
    box.close()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert 1 <= len(attempts) <= 4, attempts  # 1 s retry-after plus jitter: never a storm
    assert all(gap >= 0.95 for gap in gaps), gaps
    assert client.backoff.failures == len(attempts)  # no reset: no session was healthy


async def test_refused_connections_back_off_with_full_jitter(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox", agent_id="agent-1")
    client = SyncClient("ws://127.0.0.1:9/agent/ws", "token", box)  # nothing listens on port 9
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    await asyncio.sleep(3.0)
    stop.set()
    await asyncio.wait_for(task, 10)
    box.close()
    # Caps 1, 2, 4 s: a handful of attempts in 3 s, never a tight loop.
    assert 1 <= client.backoff.attempts <= 8


async def test_a_hub_that_never_acks_is_left_and_reconnected(tmp_path: Path) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from agent_protocol.events import Decision, Direction, PassEvent, new_event_id  # noqa: PLC0415

    hellos: list[float] = []

    async def silent_hub(ws: ServerConnection) -> None:
        msg.decode(await ws.recv(decode=False))  # hello
        hellos.append(time.monotonic())
        await ws.send(msg.encode(msg.Welcome(server_clock=datetime.now(UTC), last_stored_seq=0)))
        async for _frame in ws:  # takes batches and heartbeats, never acks (a hub stuck in its database)
            pass

    box = Outbox(tmp_path / "outbox", agent_id="agent-1")
    box.append(
        PassEvent(
            event_id=new_event_id(),
            agent_id="agent-1",
            site_id="site-1",
            lane_id="lane-1",
            direction=Direction.IN,
            occurred_at=datetime.now(UTC),
            plate="鄂A12345",
            confidence=0.9,
            decision=Decision.ALLOW,
        )
    )
    async with serve(silent_hub, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = SyncClient(
            f"ws://127.0.0.1:{port}/agent/ws",
            "token",
            box,
            ack_timeout_s=1.0,
            reconnect_delays=lambda: iter([0.2] * 50),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await asyncio.sleep(3.5)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert box.stats().acked == 0
    box.close()
    assert len(hellos) >= 2  # the stuck connection was given up and opened again
