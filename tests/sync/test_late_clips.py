"""Late clip attachments end to end (issue 4, ADR 0020): a real agent outbox and sync client, a real
cloud process over a websocket, PostgreSQL under RLS; stored once however often sent, refused when
the event is not the sender's, shown in the pass detail API with its bytes at /api/v1/blobs."""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.client import backoff

from agent.outbox import AttachmentStatus, ClipData, Outbox
from agent.sync import SyncClient
from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction, PassEvent, new_event_id
from cloud.db import models as m
from cloud.db.engine import Database
from tenants.roles import APP_ROLE, REGULATOR_ROLE

pytestmark = pytest.mark.anyio

PASSWORD: str = sys.modules["_sync_cloud_conftest"].PASSWORD
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
#: Outside 武汉 (420x): the regulator isolation test reads the first page of its region's passes.
REGION = "130102"


def draft(site: Any, n: int) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id=str(site.agent_id),
        site_id=str(site.site_id),
        lane_id=str(site.lane_in),
        direction=Direction.IN,
        occurred_at=T0 + timedelta(seconds=n),
        plate=f"鄂A{n:05d}",
        confidence=0.93,
        decision=Decision.ALLOW,
        read_id=f"read-{n}",
    )


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.2, max_delay=0.5, factor=1.5)


def client(cloud: Any, site: Any, box: Outbox) -> SyncClient:
    return SyncClient(cloud.url, site.token, box, heartbeat_s=0.5, poll_s=0.05, reconnect_delays=quick_backoff)


def _clip(seed: int, occurred: Any) -> ClipData:
    frames = [b"\xff\xd8\xff" + random.Random(seed * 10 + i).randbytes(4000) + b"\xff\xd9" for i in range(6)]
    return ClipData(data=b"".join(frames), start=occurred - timedelta(seconds=5), end=occurred + timedelta(seconds=3))


async def _run(sync: SyncClient, box: Outbox, done: Any, limit_s: float = 30.0) -> None:
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


async def _clips(database: Database, site: Any) -> list[Any]:
    async with database.session(site.principal) as session, session.begin():
        return list((await session.scalars(select(m.PassClip).order_by(m.PassClip.id))).all())


async def _attach_raw(cloud: Any, site: Any, attach: msg.EvidenceAttach) -> msg.AttachAck:
    """Send one evidence_attach on a fresh connection of ``site``'s agent (a replay, or a forged one)."""
    async with connect(cloud.url, additional_headers={"Authorization": f"Bearer {site.token}"}) as ws:
        await ws.send(msg.encode(msg.Hello(agent_id=str(site.agent_id), agent_clock=T0, features=[])))
        welcome = msg.decode(await ws.recv(decode=False))
        assert isinstance(welcome, msg.Welcome)
        assert msg.FEATURE_LATE_CLIPS in welcome.features
        await ws.send(msg.encode(attach))
        while True:
            reply = msg.decode(await ws.recv(decode=False))
            if isinstance(reply, msg.AttachAck):
                return reply


async def test_late_clip_arrives_once_with_its_blob_and_shows_in_the_pass_detail(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant(REGION)
    site = await make_site(tenant.tenant_id)
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    events = [box.append(draft(site, n)).event for n in (1, 2, 3)]
    cloud_process.start()
    await _run(client(cloud_process, site, box), box, lambda b: b.stats().acked == 3)  # the events first
    late = []
    for event in events[:2]:
        stored = box.attach_clip(box.expect_clip(event.event_id), _clip(event.seq, event.occurred_at))
        assert stored is not None
        late.append(stored)
    # A crash after the first clip was sent but before its ack: on the next open it is pending again.
    box.mark_attachments_sent([late[0].id])
    box.close()
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    assert {a.status for a in box.attachments()} == {AttachmentStatus.PENDING}

    await _run(
        client(cloud_process, site, box),
        box,
        lambda b: [a.status for a in b.attachments()] == [AttachmentStatus.ACKED] * 2,
    )
    assert box.stats().acked == 3
    rows = await _clips(database, site)
    assert sorted(str(r.id) for r in rows) == sorted(a.id for a in late)
    for att in late:
        assert att.clip is not None
        row = next(r for r in rows if str(r.id) == att.id)
        assert (str(row.pass_event_id), row.agent_id, row.sha256, row.size_bytes) == (
            att.event_id,
            site.agent_id,
            att.clip.sha256,
            att.clip.size,
        )
        assert (row.start, row.end, row.mime) == (att.clip.start, att.clip.end, "video/x-motion-jpeg")
        path = cloud_process.blob_root / att.clip.sha256[:2] / att.clip.sha256[2:4] / att.clip.sha256
        assert path.read_bytes() == box.read_blob(att.clip.sha256)

    # Sent again (a replay after a lost ack): acknowledged, stored once.
    first = late[0]
    assert first.clip is not None
    again = await _attach_raw(
        cloud_process, site, msg.EvidenceAttach(attachment_id=first.id, event_id=first.event_id, clip=first.clip)
    )
    assert again.ok
    assert len(await _clips(database, site)) == 2

    # An attachment naming an event this agent never sent is refused and stores nothing.
    unknown = await _attach_raw(
        cloud_process, site, msg.EvidenceAttach(attachment_id=new_event_id(), event_id=new_event_id(), clip=first.clip)
    )
    assert (unknown.ok, unknown.code) == (False, "unknown_event")
    assert len(await _clips(database, site)) == 2

    # The ledger's pass detail lists the sealed clip (none here) and the late one, bytes at /api/v1/blobs.
    base = f"http://127.0.0.1:{cloud_process.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        login = await http.post("/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        detail = await http.get(f"/passes/{first.event_id}", headers=headers)
        assert detail.status_code == 200, detail.text
        clips = detail.json()["clips"]
        assert [(c["sha256"], c["size"], c["late"]) for c in clips] == [(first.clip.sha256, first.clip.size, True)]
        blob = await http.get(f"/blobs/{first.clip.sha256}", headers=headers)
        assert blob.status_code == 200
        assert hashlib.sha256(blob.content).hexdigest() == first.clip.sha256
    box.close()


async def test_attachment_for_another_tenants_event_is_refused_and_invisible(
    make_tenant: Any, make_site: Any, cloud_process: Any, database: Database, tmp_path: Path
) -> None:
    tenant_a, tenant_b = await make_tenant(REGION), await make_tenant(REGION)
    site_a, site_b = await make_site(tenant_a.tenant_id), await make_site(tenant_b.tenant_id)
    box = Outbox(tmp_path / "a", agent_id=str(site_a.agent_id))
    event = box.append(draft(site_a, 1)).event
    att = box.attach_clip(box.expect_clip(event.event_id), _clip(1, event.occurred_at))
    assert att is not None
    assert att.clip is not None
    cloud_process.start()
    await _run(client(cloud_process, site_a, box), box, lambda b: b.attachments()[0].status is AttachmentStatus.ACKED)
    # Tenant B's agent names tenant A's event: refused (RLS hides it), nothing stored under either tenant.
    forged = await _attach_raw(
        cloud_process, site_b, msg.EvidenceAttach(attachment_id=new_event_id(), event_id=event.event_id, clip=att.clip)
    )
    assert (forged.ok, forged.code) == (False, "unknown_event")
    assert [str(r.id) for r in await _clips(database, site_a)] == [att.id]
    assert await _clips(database, site_b) == []
    async with database.session(site_b.principal) as session, session.begin():
        assert await session.scalar(select(func.count()).select_from(m.PassClip)) == 0
    box.close()


async def test_pass_clip_is_append_only_for_the_app(db_urls: Any) -> None:
    conn = await asyncpg.connect(db_urls.owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
            " WHERE table_schema = 'public' AND table_name = 'pass_clip'"
        )
    finally:
        await conn.close()
    assert {r["privilege_type"] for r in rows if r["grantee"] == APP_ROLE} == {"SELECT", "INSERT"}
    assert {r["privilege_type"] for r in rows if r["grantee"] == REGULATOR_ROLE} == {"SELECT"}


async def test_a_cloud_without_late_clips_keeps_them_pending(
    make_tenant: Any, make_site: Any, database: Database, tmp_path: Path
) -> None:
    """An older cloud (no ``late_clips`` in its welcome) never gets evidence_attach: events flow, clips wait.

    The older cloud is a small websocket server speaking protocol v1 without the feature, as a cloud
    built before it did: it acks events and closes with 4400 on any message type it does not know.
    """
    from websockets.asyncio.server import serve  # noqa: PLC0415

    tenant = await make_tenant(REGION)
    site = await make_site(tenant.tenant_id)
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    event = box.append(draft(site, 1)).event
    assert box.attach_clip(box.expect_clip(event.event_id), _clip(1, event.occurred_at)) is not None
    seen: list[str] = []

    async def old_cloud(ws: Any) -> None:
        hello = msg.decode(await ws.recv(decode=False))
        assert isinstance(hello, msg.Hello)
        assert msg.FEATURE_LATE_CLIPS in hello.features
        await ws.send(msg.encode(msg.Welcome(server_clock=event.occurred_at, features=[msg.FEATURE_PRECHECK])))
        async for frame in ws:
            message = msg.decode(frame)
            seen.append(type(message).__name__)
            if isinstance(message, msg.EvidenceAttach | msg.AttachAck):
                await ws.close(msg.CLOSE_VERSION, "unknown message type")
                return
            if isinstance(message, msg.EventBatch):
                await ws.send(msg.encode(msg.Ack(up_to_seq=message.events[-1].seq)))
            elif isinstance(message, msg.BlobOffer):
                await ws.send(msg.encode(msg.BlobWant(sha256=[])))

    async with serve(old_cloud, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        cloud = type("Old", (), {"url": f"ws://127.0.0.1:{port}"})()
        sync = client(cloud, site, box)
        await _run(sync, box, lambda b: b.stats().acked == 1)
        stop = asyncio.Event()
        task = asyncio.create_task(sync.run(stop))
        await asyncio.sleep(1.0)  # several write-loop rounds with the attachment ready to go
        stop.set()
        await asyncio.wait_for(task, 10)
    assert "EvidenceAttach" not in seen
    assert box.attachments()[0].status is AttachmentStatus.PENDING
    assert box.next_attachments()  # still waiting for a cloud that takes it
    box.close()
