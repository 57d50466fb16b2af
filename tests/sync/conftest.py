"""Sync test fixtures: the cloud fixtures, a real cloud process over TCP, a site with lanes and an agent."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub.credentials import issue_agent_credential
from tenants.context import Principal, Role

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_sync_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_make_tenant = _cloud.fx_make_tenant


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CloudProcess:
    """``ecogate cloud serve`` in a subprocess on a fixed port (start, stop, start again)."""

    def __init__(self, db_urls: Any, blob_root: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.blob_root = blob_root
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_APP_URL": db_urls.app_url,
            "DATABASE_OWNER_URL": db_urls.owner_url,
            "DATABASE_REGULATOR_URL": db_urls.regulator_url,
            "DATABASE_POOL_SIZE": "4",
            "ECOGATE_SESSION_SECRET": "sync-test-secret-" + "x" * 32,
            "ECOGATE_BLOB_ROOT": str(blob_root),
            "ECOGATE_DATA_DIR": str(blob_root.parent),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The agent websocket URL."""
        return f"ws://127.0.0.1:{self.port}/agent/ws"

    def start(self) -> None:
        """Start and wait until /health answers."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ecogate_cli", "cloud", "serve", "--no-migrate", "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cloud exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("cloud did not start")

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open, nothing is answered."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a frozen process (SIGCONT)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL)."""
        if self.proc is None:
            return
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture(name="cloud_process")
def fx_cloud_process(db_urls: Any, tmp_path: Path) -> Iterator[CloudProcess]:
    """A cloud process, not started yet."""
    proc = CloudProcess(db_urls, tmp_path / "cloud" / "blobs", tmp_path / "cloud.log")
    proc.blob_root.mkdir(parents=True)
    yield proc
    proc.stop()


@dataclass
class SiteHandle:
    """A tenant's site with one gate and two lanes, and an agent credential for it."""

    tenant_id: uuid.UUID
    site_id: uuid.UUID
    lane_in: uuid.UUID
    lane_out: uuid.UUID
    agent_id: uuid.UUID
    token: str
    principal: Principal


@pytest.fixture(name="make_site")
def fx_make_site(database: Database) -> Callable[..., Awaitable[SiteHandle]]:
    """Factory: a site with a gate, an in and an out lane, and an active agent in ``tenant_id``."""

    async def make(tenant_id: uuid.UUID) -> SiteHandle:
        principal = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="sync-test")
        async with database.session(principal) as session, session.begin():
            site = m.Site(tenant_id=tenant_id, name="一厂区", address="")
            session.add(site)
            await session.flush()
            gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code=f"G{uuid.uuid4().hex[:6]}", name="东门")
            session.add(gate)
            await session.flush()
            lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="IN1", name="入口", direction="in")
            lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="OUT1", name="出口", direction="out")
            session.add_all([lane_in, lane_out])
            await session.flush()
            ids = (site.id, lane_in.id, lane_out.id)
        agent_id, token = await issue_agent_credential(database, principal, ids[0], "测试代理")
        return SiteHandle(tenant_id, ids[0], ids[1], ids[2], agent_id, token, principal)

    return make
