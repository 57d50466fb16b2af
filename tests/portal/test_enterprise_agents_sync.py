"""Lane ROI set-up end to end (issue 9): a real SyncClient over TCP answers the snapshot and applies the ROI.

A real cloud process (``ecogate cloud serve``), a real agent SyncClient with its CommandHandler (the
camera side is a FrameRing holding a real JPEG, as the runtime's lane source fills it). The portal's
domain service asks for a snapshot; the agent uploads the frame as a blob just before its answer, and
the answer names the blob. A saved ROI reaches the agent, which keeps it as a local override
(``lane_rois.json``) and applies it; a ROI saved while the agent is offline is delivered when it
reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import asyncpg
import cv2
import numpy as np
import pytest
from sqlalchemy import select
from websockets.client import backoff

from agent.evidence.ring import FrameRing
from agent.outbox import Outbox
from agent.sync import SyncClient
from agent.sync.commands import CommandHandler, load_roi_overrides
from cloud.blobs import BlobStore
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import lane_roi

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_sync = _load("_portal_agents_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
fx_settings = _sync.fx_settings
fx_make_tenant = _sync.fx_make_tenant
fx_cloud_process = _sync.fx_cloud_process
fx_make_site = _sync.fx_make_site
fx_superuser_url = _load(
    "_portal_agents_sync_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py"
).fx_superuser_url

pytestmark = [pytest.mark.anyio]


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.1, max_delay=0.3, factor=1.5)


async def _until(predicate: Any, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _frame_jpeg() -> bytes:
    frame = np.full((480, 800, 3), 70, dtype=np.uint8)
    cv2.rectangle(frame, (250, 200), (550, 330), (30, 200, 250), -1)
    ok, data = cv2.imencode(".jpg", frame)
    assert ok
    return bytes(data)


async def test_snapshot_and_roi_through_real_agent(
    cloud_process: Any, make_tenant: Any, make_site: Any, database: Database, tmp_path: Path, superuser_url: str
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    await asyncio.to_thread(cloud_process.start)
    state = tmp_path / "agent"
    ring = FrameRing(seconds=5.0, fps=2.0)
    jpeg = _frame_jpeg()
    ring.push(time.time(), jpeg)
    applied: list[tuple[str, tuple[int, int, int, int]]] = []

    async def snapshot(lane: str) -> bytes | None:
        return ring.latest() if lane == "IN1" else None

    async def apply_roi(lane: str, roi: tuple[int, int, int, int]) -> str:
        applied.append((lane, roi))
        return "已生效"

    box = Outbox(tmp_path / "outbox", agent_id=str(site.agent_id))

    def start() -> tuple[asyncio.Event, asyncio.Task[None], SyncClient]:
        handler = CommandHandler(state, snapshot=snapshot, apply_roi=apply_roi)
        sync = SyncClient(
            cloud_process.url,
            site.token,
            box,
            heartbeat_s=0.3,
            poll_s=0.05,
            reconnect_delays=quick_backoff,
            commands=handler,
        )
        stop = asyncio.Event()
        return stop, asyncio.create_task(sync.run(stop)), sync

    stop, task, sync = start()
    try:

        async def connected() -> bool:
            return sync.connected

        await _until(connected)
        async with database.session(site.principal) as session, session.begin():
            agent = await session.get_one(m.Agent, (site.tenant_id, site.agent_id))
            lane = await session.get_one(m.Lane, (site.tenant_id, site.lane_in))
            command_id = await lane_roi.request_snapshot(session, site.principal, agent, lane)

        async def answered() -> bool:
            async with database.session(site.principal) as session, session.begin():
                shot = await lane_roi.latest_snapshot(session, site.agent_id, site.lane_in)
            return shot is not None and shot.answered

        await _until(answered)
        async with database.session(site.principal) as session, session.begin():
            shot = await lane_roi.latest_snapshot(session, site.agent_id, site.lane_in)
            blob = await session.scalar(select(m.Blob).where(m.Blob.sha256 == hashlib.sha256(jpeg).hexdigest()))
        assert shot is not None
        assert shot.command_id == command_id
        assert shot.ok, shot.message
        assert shot.sha256 == hashlib.sha256(jpeg).hexdigest()
        assert blob is not None  # stored before the answer was recorded
        assert BlobStore(cloud_process.blob_root).get(shot.sha256) == jpeg
        assert lane_roi.jpeg_size(jpeg) == (800, 480)

        async with database.session(site.principal) as session, session.begin():
            agent = await session.get_one(m.Agent, (site.tenant_id, site.agent_id))
            lane = await session.get_one(m.Lane, (site.tenant_id, site.lane_in))
            row = await lane_roi.save_roi(
                session,
                site.principal,
                agent,
                lane,
                {"x1": "240", "y1": "190", "x2": "560", "y2": "340"},
                (800, 480),
                shot.sha256,
            )
            roi_command = row.command_id

        async def roi_answered() -> bool:
            async with database.session(site.principal) as session, session.begin():
                result = await session.scalar(
                    select(m.AgentCommandResult).where(m.AgentCommandResult.command_id == roi_command)
                )
            return result is not None and result.ok

        await _until(roi_answered)
        assert applied == [("IN1", (240, 190, 560, 340))]
        assert load_roi_overrides(state) == {"IN1": (240, 190, 560, 340)}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

    # Offline: the ROI is stored and its command waits in the log; the agent gets it at its next hello,
    # even after days away (older than the hub's one-day window for other pending commands).
    async with database.session(site.principal) as session, session.begin():
        agent = await session.get_one(m.Agent, (site.tenant_id, site.agent_id))
        lane = await session.get_one(m.Lane, (site.tenant_id, site.lane_in))
        late = await lane_roi.save_roi(
            session, site.principal, agent, lane, {"x1": "0", "y1": "100", "x2": "800", "y2": "400"}, (800, 480), None
        )
    owner = await asyncpg.connect(superuser_url)
    try:
        await owner.execute("UPDATE agent SET created_at = now() - interval '9 days' WHERE id = $1", site.agent_id)
        await owner.execute(
            "UPDATE agent_command SET created_at = now() - interval '3 days' WHERE id = $1", late.command_id
        )
    finally:
        await owner.close()
    assert json.loads((state / "lane_rois.json").read_text(encoding="utf-8")) == {"IN1": [240, 190, 560, 340]}
    stop, task, sync = start()
    try:

        async def delivered() -> bool:
            return load_roi_overrides(state).get("IN1") == (0, 100, 800, 400)

        await _until(delivered)
        assert applied[-1] == ("IN1", (0, 100, 800, 400))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
