"""Registry / blacklist / policy snapshots over the real hub (issue 5 with issue 6's blacklist).

At hello the hub sends the snapshots whose versions differ from those the agent announces; a blacklist
change in the portal pushes a fresh registry snapshot before the ``blacklist_updated`` command, the
agent stores it (data_dir/registry.json) and its decision engine refuses the plate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.client import backoff

from agent.decision.engine import DecisionEngine
from agent.decision.registry import load_snapshot
from agent.outbox import Outbox
from agent.sync import SyncClient
from agent.sync.commands import CommandHandler

pytestmark = pytest.mark.anyio
PASSWORD = "Passw0rd!2024"


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.1, max_delay=0.3, factor=1.5)


async def _until(predicate: Any, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_snapshots_at_hello_and_on_blacklist_change(
    cloud_process: Any, make_tenant: Any, make_site: Any, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    await asyncio.to_thread(cloud_process.start)
    state = tmp_path / "state"
    engine = DecisionEngine()
    handler = CommandHandler(state, engine)
    box = Outbox(tmp_path / "outbox", agent_id=str(site.agent_id))

    def start(h: CommandHandler) -> tuple[SyncClient, asyncio.Event, asyncio.Task[None]]:
        sync = SyncClient(
            cloud_process.url, site.token, box, heartbeat_s=0.3, poll_s=0.05, reconnect_delays=quick_backoff, commands=h
        )
        stop = asyncio.Event()
        return sync, stop, asyncio.create_task(sync.run(stop))

    sync, stop, task = start(handler)
    try:
        await _until(lambda: handler.registry_version is not None and handler.policy_version is not None)
        first = handler.registry_version
        assert (state / "registry.json").exists()
        assert (state / "policy.json").exists()
        assert engine.registry.blacklisted("鄂A12345", datetime.now(UTC)) is None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud_process.port}", timeout=30) as api:
            login = await api.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            added = await api.post(
                "/api/v1/compliance/blacklist", json={"plate": "鄂A12345", "reason": "超标排放"}, headers=headers
            )
            assert added.status_code == 201, added.text
        await _until(lambda: handler.registry_version != first)
        assert engine.registry.blacklisted("鄂A12345", datetime.now(UTC)) is not None
        saved = load_snapshot(state / "registry.json")
        assert saved.version == handler.registry_version
        assert [e.plate for e in saved.blacklist] == ["鄂A12345"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

    # A restarted agent announces what it holds: nothing is sent again, the state survives the restart.
    again = CommandHandler(state, DecisionEngine())
    # what is on disk (the cloud may have pushed one more registry version while the agent stopped)
    assert again.registry_version is not None
    assert again.registry_version == load_snapshot(state / "registry.json").version
    applied: list[str] = []
    original = again.on_snapshot

    async def spy(snapshot: Any) -> None:
        applied.append(snapshot.kind)
        await original(snapshot)

    again.on_snapshot = spy  # type: ignore[method-assign]
    sync, stop, task = start(again)
    try:
        await _until(lambda: sync.connected)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert applied == []
    box.close()


async def test_registry_snapshot_of_real_vehicles_converts_on_the_agent(
    cloud_process: Any, make_tenant: Any, make_site: Any, database: Any, tmp_path: Path
) -> None:
    """The cloud's registry snapshot of ledger vehicles decodes into the agent's RegistrySnapshot."""
    from agent.decision.registry import LocalRegistry  # noqa: PLC0415
    from agent_protocol import messages as msg  # noqa: PLC0415
    from cloud.hub import commands  # noqa: PLC0415
    from cloud.hub.credentials import AgentIdentity  # noqa: PLC0415

    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    await asyncio.to_thread(cloud_process.start)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud_process.port}", timeout=30) as api:
        login = await api.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        made = await api.post(
            "/api/v1/vehicles",
            json={
                "category": "transport",
                "plate": "鄂A6Z801",
                "plate_colour": "yellow",
                "vin": "LFWADRJF011002346",
                "emission_stage": "国六",
                "fuel_type": "柴油",
                "fleet_name": "车队",
            },
            headers=headers,
        )
        assert made.status_code == 201, made.text
        nrmm = await api.post(
            "/api/v1/vehicles",
            json={
                "category": "nrmm",
                "env_reg_code": "ATTACK1",
                "pin": "PIN1",
                "emission_stage": "国四",
                "fuel_type": "柴油",
            },
            headers=headers,
        )
        assert nrmm.status_code == 201, nrmm.text
    who = AgentIdentity(agent_id=site.agent_id, tenant_id=tenant.tenant_id, site_id=site.site_id)
    snap = await commands.snapshot_message(database, who, "registry")
    frame = msg.decode(msg.encode(snap))
    assert isinstance(frame, msg.Snapshot)
    handler = CommandHandler(tmp_path / "state", DecisionEngine())
    await handler.on_snapshot(frame)
    assert handler.registry_version == snap.version, "the agent refused the cloud's registry snapshot"
    registry = load_snapshot(tmp_path / "state" / "registry.json")
    assert len(registry.vehicles) == 2
    assert LocalRegistry(registry).find(plate="鄂A6Z801") is not None
