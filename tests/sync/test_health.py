"""Heartbeats stored on the agent row and the health flags of the agents API (issue 5).

Flags: clock skew over 30 s, a queue that grew at every one of the last heartbeats, an active agent
silent for over two minutes (or never seen).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect

from agent_protocol import messages as msg
from cloud.db import models as m
from cloud.db.engine import Database

pytestmark = pytest.mark.anyio
PASSWORD = "Passw0rd!2024"


async def test_heartbeats_and_flags(cloud_process: Any, make_tenant: Any, make_site: Any, database: Database) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    quiet = await make_site(tenant.tenant_id)
    await asyncio.to_thread(cloud_process.start)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud_process.port}", timeout=30) as api:
        login = await api.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}

        async def agent(agent_id: Any) -> dict[str, Any]:
            answer = await api.get(f"/api/v1/agents/{agent_id}", headers=headers)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        assert (await agent(quiet.agent_id))["flags"]["silent"] is True  # never seen

        async with connect(cloud_process.url, additional_headers={"Authorization": f"Bearer {site.token}"}) as ws:
            await ws.send(msg.encode(msg.Hello(agent_id=str(site.agent_id), agent_clock=datetime.now(UTC))))
            await ws.recv()
            for depth in (10, 20, 30, 40, 50):
                beat = msg.Heartbeat(
                    agent_clock=datetime.now(UTC) + timedelta(seconds=45),
                    queue_depth=depth,
                    oldest_unsent_age_s=depth * 10.0,
                    disk_free_bytes=5_000_000_000,
                    devices=[msg.DeviceState(device="cam-1", ok=False, detail="无视频")],
                )
                await ws.send(msg.encode(beat))
            await ws.send(msg.encode(msg.BlobOffer(sha256=[])))
            while not isinstance(msg.decode(await ws.recv(decode=False)), msg.BlobWant):
                pass
            seen = await agent(site.agent_id)
        assert seen["online"] is True
        assert seen["flags"] == {"silent": False, "clock_skew": True, "queue_growing": True}
        assert seen["health"]["queue_depth"] == 50
        assert seen["health"]["devices"] == [{"device": "cam-1", "ok": False, "detail": "无视频"}]

        # Three minutes without a heartbeat: silent.
        async with database.session(site.principal) as session, session.begin():
            await session.execute(
                update(m.Agent)
                .where(m.Agent.id == site.agent_id)
                .values(last_seen_at=datetime.now(UTC) - timedelta(minutes=3))
            )
        late = await agent(site.agent_id)
        assert late["online"] is False
        assert late["flags"]["silent"] is True
        listed = await api.get("/api/v1/agents", headers=headers)
        assert {a["id"] for a in listed.json()["items"]} == {str(site.agent_id), str(quiet.agent_id)}


async def test_logic_checks_run_after_ingest(
    cloud_process: Any, make_tenant: Any, make_site: Any, database: Database, tmp_path: Any
) -> None:
    """Flags appear as records arrive (issue 6 item 4), without anyone reading the review queue."""
    import time  # noqa: PLC0415

    from sqlalchemy import func, select  # noqa: PLC0415

    from agent.outbox import Outbox  # noqa: PLC0415
    from agent.sync import SyncClient  # noqa: PLC0415
    from agent_protocol.events import Decision, Direction, PassEvent, new_event_id  # noqa: PLC0415

    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    await asyncio.to_thread(cloud_process.start)
    box = Outbox(tmp_path / "outbox", agent_id=str(site.agent_id))
    box.append(
        PassEvent(
            event_id=new_event_id(),
            agent_id=str(site.agent_id),
            site_id=str(site.site_id),
            lane_id=str(site.lane_out),
            direction=Direction.OUT,
            occurred_at=datetime.now(UTC) - timedelta(minutes=5),
            plate="鄂A54321",
            confidence=0.95,
            decision=Decision.ALLOW,
            read_id="r1",
        )
    )
    stop = asyncio.Event()
    sync = SyncClient(cloud_process.url, site.token, box, heartbeat_s=0.5, poll_s=0.05)
    task = asyncio.create_task(sync.run(stop))
    try:
        deadline = time.monotonic() + 20
        while True:
            async with database.session(site.principal) as session, session.begin():
                flags = await session.scalar(select(func.count()).select_from(m.CheckFlag))
            if flags:
                break
            assert time.monotonic() < deadline, "no check flag after ingest"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        box.close()
