"""Enrollment, revocation and rotation against a real cloud process over TCP (issue 5).

``ecogate agent enroll CODE --cloud URL --data DIR`` (a real subprocess) exchanges a one-time code for
a credential stored 0600; the code works once and not after expiry; a revoked credential is refused
at the next handshake and its live connection is closed; a rotated credential replaces the old one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from websockets.client import backoff

from agent.outbox import Outbox
from agent.sync import SyncAuthError, SyncClient
from agent.sync.enroll import load_credential
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub.credentials import code_hash

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Passw0rd!2024"


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.1, max_delay=0.3, factor=1.5)


def _enroll_cli(code: str, cloud: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecogate_cli", "agent", "enroll", code, "--cloud", cloud, "--data", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )


async def _admin(api: httpx.AsyncClient, login: str) -> dict[str, str]:
    answer = await api.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def test_enroll_revoke_rotate(
    cloud_process: Any, make_tenant: Any, make_site: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    other = await make_tenant()
    await asyncio.to_thread(cloud_process.start)
    base = f"http://127.0.0.1:{cloud_process.port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        headers = await _admin(api, tenant.admin_login)
        other_headers = await _admin(api, other.admin_login)
        # Another tenant cannot make a code for this tenant's site.
        refused = await api.post(
            "/api/v1/agents/enrollment-codes", json={"site_id": str(site.site_id), "name": "x"}, headers=other_headers
        )
        assert refused.status_code == 422
        made = await api.post(
            "/api/v1/agents/enrollment-codes", json={"site_id": str(site.site_id), "name": "东门代理"}, headers=headers
        )
        assert made.status_code == 201, made.text
        code = made.json()["code"]
        async with database.session(site.principal) as session, session.begin():
            stored = await session.scalar(select(m.AgentEnrollmentCode.code_hash))
        assert stored == code_hash(code)
        assert code not in json.dumps(stored)

        data = tmp_path / "agent-data"
        done = await asyncio.to_thread(_enroll_cli, code, base, data)
        assert done.returncode == 0, done.stderr
        path = data / "credential.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        credential = load_credential(data)
        assert credential is not None
        assert credential.site_id == str(site.site_id)
        assert credential.tenant_id == str(tenant.tenant_id)
        assert credential.hub_url == cloud_process.url

        again = await asyncio.to_thread(_enroll_cli, code, base, tmp_path / "second")
        assert again.returncode == 1
        assert "注册码无效" in again.stderr
        assert not (tmp_path / "second" / "credential.json").exists()

        # An expired code is refused.
        late = await api.post(
            "/api/v1/agents/enrollment-codes", json={"site_id": str(site.site_id), "name": "过期"}, headers=headers
        )
        async with database.session(site.principal) as session, session.begin():
            await session.execute(
                update(m.AgentEnrollmentCode)
                .where(m.AgentEnrollmentCode.id == late.json()["id"])
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        expired = await api.post("/api/v1/agent-enrollment", json={"code": late.json()["code"]})
        assert expired.status_code == 400
        assert expired.json()["code"] == "enrollment_code_invalid"

        # The enrolled agent syncs with its credential.
        box = Outbox(tmp_path / "outbox", agent_id=credential.agent_id)
        stop = asyncio.Event()
        sync = SyncClient(
            credential.hub_url, credential.token, box, heartbeat_s=0.3, poll_s=0.05, reconnect_delays=quick_backoff
        )
        task = asyncio.create_task(sync.run(stop))
        deadline = time.monotonic() + 20
        while not sync.connected:
            assert time.monotonic() < deadline
            assert not task.done(), task
            await asyncio.sleep(0.02)
        listed = await api.get("/api/v1/agents", headers=headers)
        ours = next(a for a in listed.json()["items"] if a["id"] == credential.agent_id)
        assert ours["status"] == "active"
        assert (await api.get(f"/api/v1/agents/{credential.agent_id}", headers=other_headers)).status_code == 404

        # Rotation: the live connection is closed, the old credential is refused, the new one works.
        rotated = await api.post(f"/api/v1/agents/{credential.agent_id}/rotate", headers=headers)
        assert rotated.status_code == 200, rotated.text
        with pytest.raises(SyncAuthError):
            await asyncio.wait_for(task, 10)
        new_token = rotated.json()["token"]
        assert new_token != credential.token
        sync = SyncClient(
            credential.hub_url, new_token, box, heartbeat_s=0.3, poll_s=0.05, reconnect_delays=quick_backoff
        )
        stop = asyncio.Event()
        task = asyncio.create_task(sync.run(stop))
        deadline = time.monotonic() + 20
        while not sync.connected:
            assert time.monotonic() < deadline
            assert not task.done(), task
            await asyncio.sleep(0.02)

        # Revocation closes the live connection (close 4401) and the next handshake is refused.
        revoked = await api.post(
            f"/api/v1/agents/{credential.agent_id}/revoke", json={"reason": "设备丢失"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"
        with pytest.raises(SyncAuthError):
            await asyncio.wait_for(task, 10)
        retry = SyncClient(credential.hub_url, new_token, box, reconnect_delays=quick_backoff)
        with pytest.raises(SyncAuthError):
            await asyncio.wait_for(retry.run(asyncio.Event()), 10)
        box.close()


async def test_cli_code_and_list(make_tenant: Any, make_site: Any, db_urls: Any, tmp_path: Path) -> None:
    """``ecogate agents code`` / ``list`` (installers at a shell) against the real database."""
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    env = {
        **os.environ,
        "DATABASE_APP_URL": db_urls.app_url,
        "DATABASE_OWNER_URL": db_urls.owner_url,
        "DATABASE_REGULATOR_URL": db_urls.regulator_url,
        "ECOGATE_DATA_DIR": str(tmp_path),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ecogate_cli", "agents", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )

    made = await asyncio.to_thread(
        run, "code", "--tenant", str(tenant.tenant_id), "--site", str(site.site_id), "--name", "西门", "--json"
    )
    assert made.returncode == 0, made.stderr
    assert len(json.loads(made.stdout)["code"]) == 19
    unknown = await asyncio.to_thread(
        run, "code", "--tenant", str(tenant.tenant_id), "--site", str(tenant.tenant_id), "--name", "x"
    )
    assert unknown.returncode == 1
    assert "厂区不存在" in unknown.stderr
    listed = await asyncio.to_thread(run, "list", "--tenant", str(tenant.tenant_id), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [a["id"] for a in json.loads(listed.stdout)["agents"]] == [str(site.agent_id)]
