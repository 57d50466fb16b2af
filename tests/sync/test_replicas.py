"""Two cloud processes on one database (issue 5 acceptance).

A command issued through the API of one process reaches an agent connected to the other within 2 s
(LISTEN/NOTIFY); SIGKILL of the process holding the agent makes it reconnect to the other (through a
small TCP balancer standing in for the production load balancer) and nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.client import backoff

from agent.outbox import Outbox
from agent.sync import SyncClient
from agent.sync.commands import CommandHandler, RemoteRelease
from agent_protocol import messages as msg
from cloud.db import models as m
from cloud.db.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("sync_replicas")]
ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_helpers = _load("_replicas_sync_helpers", ROOT / "tests" / "sync" / "test_sync.py")
_conf = _load("_replicas_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.1, max_delay=0.3, factor=1.5)


class Balancer:
    """A TCP balancer: each new connection goes to the first backend that accepts it."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for a, b in self.links:
            a.close()
            b.close()
        if self.server is not None:
            self.server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in self.ports:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.links.append((writer, up_writer))
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
            return
        writer.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


async def _until(predicate: Any, limit_s: float, task: asyncio.Task[None] | None = None) -> float:
    started = time.monotonic()
    while not predicate():
        if task is not None and task.done():
            task.result()
        if time.monotonic() - started > limit_s:
            raise TimeoutError
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_command_crosses_replicas_and_agent_fails_over(
    make_tenant: Any, make_site: Any, db_urls: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    cloud_a = _conf.CloudProcess(db_urls, tmp_path / "a" / "blobs", tmp_path / "a.log")
    cloud_b = _conf.CloudProcess(db_urls, tmp_path / "b" / "blobs", tmp_path / "b.log")
    for cloud in (cloud_a, cloud_b):
        cloud.blob_root.mkdir(parents=True)
    # One blob store shared by both processes, as in production (a shared volume / object store).
    cloud_b.env["ECOGATE_BLOB_ROOT"] = str(cloud_a.blob_root)
    await asyncio.gather(asyncio.to_thread(cloud_a.start), asyncio.to_thread(cloud_b.start))
    balancer = Balancer([cloud_b.port, cloud_a.port])  # the agent lands on B first
    await balancer.start()
    box = Outbox(tmp_path / "agent", agent_id=str(site.agent_id))
    opened: list[tuple[str | None, float]] = []

    async def open_barrier(release: RemoteRelease) -> str:
        opened.append((release.lane_id, time.monotonic()))
        return f"已开闸（{release.reason}）"

    handler = CommandHandler(tmp_path / "agent" / "state", open_barrier=open_barrier)
    sync = SyncClient(
        f"ws://127.0.0.1:{balancer.port}/agent/ws",
        site.token,
        box,
        heartbeat_s=0.5,
        poll_s=0.05,
        reconnect_delays=quick_backoff,
        commands=handler,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    try:
        _helpers.fill(box, site, 100, photos=True)
        await _until(lambda: box.stats().acked >= 100, 60, task)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud_a.port}", timeout=30) as api:
            login = await api.post(
                "/api/v1/auth/login", json={"login": tenant.admin_login, "password": _conf._cloud.PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            await asyncio.sleep(0.5)  # both listeners are up long before this
            started = time.monotonic()
            sent = await api.post(
                f"/api/v1/agents/{site.agent_id}/commands",
                json={"name": "open_barrier", "lane_id": str(site.lane_in), "reason": "远程开闸测试"},
                headers=headers,
            )
            assert sent.status_code == 201, sent.text
            await _until(lambda: bool(opened), 5)
            latency = opened[0][1] - started
            print(f"command through replica A → agent on replica B: {latency * 1000:.0f} ms")  # noqa: T201
            assert opened[0][0] == str(site.lane_in)
            assert latency <= 2.0

            # Kill the process holding the agent while it records more passes.
            assert cloud_b.proc is not None
            cloud_b.proc.send_signal(signal.SIGKILL)
            cloud_b.proc.wait()
            cloud_b.proc = None
            for n in range(101, 301):
                box.append(_helpers.draft(site, n), photos=[])
            await _until(lambda: box.stats().acked >= 300, 60, task)

            # The agent is now on A: a second command arrives there.
            before = len(opened)
            again = await api.post(
                f"/api/v1/agents/{site.agent_id}/commands",
                json={"name": "open_barrier", "lane_id": str(site.lane_out), "reason": "故障切换后"},
                headers=headers,
            )
            assert again.status_code == 201, again.text
            await _until(lambda: len(opened) > before, 5)
            await asyncio.sleep(0.3)
            listed = await api.get(f"/api/v1/agents/{site.agent_id}/commands", headers=headers)
            assert listed.status_code == 200
            results = [c["result"] for c in listed.json()["items"] if c["name"] == "open_barrier"]
            assert len(results) == 2
            assert all(r is not None and r["ok"] for r in results)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await balancer.stop()
        cloud_a.stop()
        cloud_b.stop()
    assert sync.connections >= 2
    async with database.session(site.principal) as session, session.begin():
        seqs = list(
            await session.scalars(
                select(m.PassEvent.seq).where(m.PassEvent.agent_id == site.agent_id).order_by(m.PassEvent.seq)
            )
        )
        results = await session.scalar(select(func.count()).select_from(m.AgentCommandResult))
    assert seqs == list(range(1, 301))  # nothing lost, nothing doubled
    assert results == 2
    assert [len(opened)] == [2]
    assert msg.FEATURE_COMMANDS in handler.features
