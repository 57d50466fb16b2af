"""An agent cannot act for another tenant or site, whatever its payload says (issue 5 security).

Tenant B's agent, connected with its own valid credential, names tenant A's agent, site and lane in
its events, answers tenant A's command and offers A's blobs: nothing of tenant A changes, and
tenant A's commands never reach it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from agent.outbox import Outbox
from agent.sync import SyncClient
from agent.sync.commands import CommandHandler
from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction, PassEvent, new_event_id
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub import commands

pytestmark = pytest.mark.anyio


def _event(agent: Any, site: Any) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id=str(agent.agent_id),
        site_id=str(site.site_id),
        lane_id=str(site.lane_in),
        direction=Direction.IN,
        occurred_at=datetime(2026, 11, 28, 8, tzinfo=UTC),
        plate="鄂A00001",
        confidence=0.9,
        decision=Decision.ALLOW,
        read_id="r1",
    )


async def _refusal(url: str, token: str, agent_id: str, batch: msg.EventBatch) -> str:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(msg.encode(msg.Hello(agent_id=agent_id, agent_clock=datetime.now(UTC))))
        assert isinstance(msg.decode(await ws.recv(decode=False)), msg.Welcome)
        await ws.send(msg.encode(batch))
        error = msg.decode(await ws.recv(decode=False))
        assert isinstance(error, msg.Error)
        return error.code


async def test_agent_cannot_write_or_receive_for_another_tenant(
    cloud_process: Any, make_tenant: Any, make_site: Any, database: Database, tmp_path: Path
) -> None:
    a = await make_site((await make_tenant()).tenant_id)
    b = await make_site((await make_tenant()).tenant_id)
    await asyncio.to_thread(cloud_process.start)
    url = cloud_process.url

    # Events naming A's agent, or B's agent with A's site and lane: refused, nothing stored for A or B.
    box = Outbox(tmp_path / "forge", agent_id=str(a.agent_id))
    box.append(_event(a, a))
    forged = msg.EventBatch(events=box.next_batch(10))
    assert await _refusal(url, b.token, str(b.agent_id), forged) == "wrong_agent"
    box.close()
    box = Outbox(tmp_path / "forge2", agent_id=str(b.agent_id))
    box.append(_event(b, a))
    assert await _refusal(url, b.token, str(b.agent_id), msg.EventBatch(events=box.next_batch(10))) == "wrong_site"
    box.close()
    # A hello that names A's agent with B's credential is refused.
    async with connect(url, additional_headers={"Authorization": f"Bearer {b.token}"}) as ws:
        await ws.send(msg.encode(msg.Hello(agent_id=str(a.agent_id), agent_clock=datetime.now(UTC))))
        with pytest.raises(Exception, match="1002"):
            await ws.recv()

    # Both agents connected with command handlers; a command for tenant A reaches A only.
    got: dict[str, list[str]] = {"a": [], "b": []}
    runs = []
    stop = asyncio.Event()
    for key, site in (("a", a), ("b", b)):

        async def reload(key: str = key) -> str:
            got[key].append("reload")
            return "已重载"

        handler = CommandHandler(tmp_path / key / "state", reload_config=reload)
        sync = SyncClient(
            url,
            site.token,
            Outbox(tmp_path / key / "outbox", agent_id=str(site.agent_id)),
            heartbeat_s=0.3,
            poll_s=0.05,
            commands=handler,
        )
        runs.append((sync, asyncio.create_task(sync.run(stop))))
    try:
        deadline = time.monotonic() + 20
        while not all(s.connected for s, _ in runs):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        async with database.session(a.principal) as session, session.begin():
            command_a = await commands.issue_command(session, a.tenant_id, "reload_config", {}, None, None)
        deadline = time.monotonic() + 5
        while not got["a"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert got["b"] == []

        # B answers A's command id: the answer lands in B's tenant only; A's command keeps A's answer.
        async with connect(url, additional_headers={"Authorization": f"Bearer {b.token}"}) as ws:
            await ws.send(msg.encode(msg.Hello(agent_id=str(b.agent_id), agent_clock=datetime.now(UTC))))
            await ws.recv()
            await ws.send(msg.encode(msg.CommandResult(command_id=str(command_a), ok=False, message="伪造")))
            await ws.send(msg.encode(msg.BlobOffer(sha256=[])))
            while not isinstance(msg.decode(await ws.recv(decode=False)), msg.BlobWant):
                pass
    finally:
        stop.set()
        await asyncio.gather(*(t for _, t in runs), return_exceptions=True)
    async with database.session(a.principal) as session, session.begin():
        results_a = list(
            await session.scalars(select(m.AgentCommandResult).where(m.AgentCommandResult.command_id == command_a))
        )
        events_a = await session.scalar(select(func.count()).select_from(m.PassEvent))
    async with database.session(b.principal) as session, session.begin():
        results_b = list(await session.scalars(select(m.AgentCommandResult)))
        events_b = await session.scalar(select(func.count()).select_from(m.PassEvent))
    assert [(r.agent_id, r.ok) for r in results_a] == [(a.agent_id, True)]
    assert all(r.tenant_id == b.tenant_id and r.agent_id == b.agent_id for r in results_b)
    assert events_a == 0
    assert events_b == 0
    assert uuid.UUID(str(command_a))
