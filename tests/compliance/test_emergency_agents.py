"""Issue 6 acceptance, hub leg: a platform admin declares a region alert on a real cloud process; every
connected agent of the tenants in the region applies the level in its decision engine within 5 s.

Three tenants in two regions (武汉 4201: 江岸 420102 and 武昌 420106; 宜昌 4205: 420502), each with a site and
an agent running the real SyncClient + CommandHandler + DecisionEngine over a websocket. The alert is for
4201: 江岸 and 武昌 switch to red, 宜昌 stays at none. Cancelling the alert brings the two back to none.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.client import backoff

from agent.decision.engine import DecisionEngine
from agent.outbox import Outbox
from agent.sync import SyncClient
from agent.sync.commands import CommandHandler
from hj1321.grading import WarningLevel

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_sync = _load("_emergency_agents_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
fx_cloud_process = _sync.fx_cloud_process
fx_make_site = _sync.fx_make_site


def quick_backoff() -> Generator[float]:
    return backoff(initial_delay=0.05, min_delay=0.1, max_delay=0.3, factor=1.5)


async def _until(predicate: Any, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.005)


async def test_region_alert_applied_by_every_agent_within_5s(
    cloud_process: Any, make_tenant: Any, make_site: Any, make_staff: Any, tmp_path: Path
) -> None:
    tenants = {
        "江岸": await make_tenant(region_code="420102", grade="C"),
        "武昌": await make_tenant(region_code="420106", grade="B"),
        "宜昌": await make_tenant(region_code="420502", grade="C"),
    }
    sites = {name: await make_site(t.tenant_id) for name, t in tenants.items()}
    admin_login = await make_staff("platform_admin")
    await asyncio.to_thread(cloud_process.start)
    engines: dict[str, DecisionEngine] = {}
    clients: dict[str, SyncClient] = {}
    stop = asyncio.Event()
    tasks = []
    for name, site in sites.items():
        engines[name] = DecisionEngine()
        box = Outbox(tmp_path / name / "outbox", agent_id=str(site.agent_id))
        handler = CommandHandler(tmp_path / name / "state", engines[name])
        clients[name] = SyncClient(
            cloud_process.url,
            site.token,
            box,
            heartbeat_s=1.0,
            poll_s=0.05,
            reconnect_delays=quick_backoff,
            commands=handler,
        )
        tasks.append(asyncio.create_task(clients[name].run(stop)))
    inside = ("江岸", "武昌")
    applied: dict[str, float] = {}
    try:
        await _until(lambda: all(c.connected for c in clients.values()), 30)
        await asyncio.sleep(0.3)  # the hello sync (level none) is done
        assert all(e.level is WarningLevel.NONE for e in engines.values())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud_process.port}", timeout=30) as api:
            login = await api.post("/api/v1/auth/login", json={"login": admin_login, "password": _sync._cloud.PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            started = time.monotonic()
            declared = await api.post(
                "/api/v1/admin/region-alerts",
                json={
                    "region_code": "4201",
                    "level": "red",
                    "ends_at": "2099-01-01T00:00:00Z",
                    "reason": "红色预警（测试）",
                },
                headers=headers,
            )
            assert declared.status_code == 201, declared.text
            cancel = f"/api/v1/admin/region-alerts/{declared.json()['alert']['id']}/cancel"
            cancelled = False

            async def watch(name: str) -> None:
                await _until(lambda: engines[name].level is WarningLevel.RED, 5)
                applied[name] = time.monotonic() - started

            try:
                await asyncio.gather(*(watch(n) for n in inside))
                await asyncio.sleep(0.5)  # a wrong command for 宜昌 would have arrived by now
                assert engines["宜昌"].level is WarningLevel.NONE
                worst = max(applied.values())
                print(  # noqa: T201
                    "region alert declared → applied by every agent in the region: "
                    + ", ".join(f"{n} {applied[n] * 1000:.0f} ms" for n in inside)
                    + f" (max {worst * 1000:.0f} ms, limit 5000 ms)"
                )
                assert worst <= 5.0

                started = time.monotonic()
                assert (await api.post(cancel, json={"reason": "测试结束"}, headers=headers)).status_code == 200
                cancelled = True
            finally:
                if not cancelled:  # a red alert for all of 4201 must not outlive the test in the shared database
                    await api.post(cancel, json={"reason": "测试失败，撤销"}, headers=headers)
            for name in inside:
                await _until(lambda name=name: engines[name].level is WarningLevel.NONE, 5)
            print(f"alert cancelled → every agent back to none: {(time.monotonic() - started) * 1000:.0f} ms")  # noqa: T201
    finally:
        stop.set()
        await asyncio.gather(*(asyncio.wait_for(t, 10) for t in tasks), return_exceptions=True)
    assert engines["宜昌"].level is WarningLevel.NONE
