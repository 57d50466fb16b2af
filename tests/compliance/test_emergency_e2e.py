"""End to end: a platform admin declares a region alert on a real cloud process over TCP; the command for
every tenant of the region is on the LISTEN/NOTIFY channel the hub replicas listen on, within 5 s, and the
tenant outside the region gets nothing.

Three tenants in two regions (武汉 4201: 江岸 420102 and 武昌 420106; 宜昌 4205: 420502), each with a site
and an active agent. The last leg — the hub turning the NOTIFY into a websocket ``command`` and the agent
applying ``set_emergency_level`` — is measured by tests/compliance/test_emergency_agents.py.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from cloud.compliance import push

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


_sync = _load("_compliance_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
fx_cloud_process = _sync.fx_cloud_process
fx_make_site = _sync.fx_make_site


async def test_region_alert_reaches_every_agent_channel_within_5s(
    cloud_process, make_tenant, make_site, make_staff, db_urls
) -> None:
    tenants = {
        "江岸": await make_tenant(region_code="420102", grade="C"),
        "武昌": await make_tenant(region_code="420106", grade="B"),
        "宜昌": await make_tenant(region_code="420502", grade="C"),
    }
    sites = {name: await make_site(t.tenant_id) for name, t in tenants.items()}
    admin_login = await make_staff("platform_admin")
    await asyncio.to_thread(cloud_process.start)
    received: dict[str, float] = {}
    conn = await asyncpg.connect(db_urls.app_url.replace("postgresql+asyncpg://", "postgresql://"))
    wanted = {str(t.tenant_id) for t in tenants.values()}
    inside = {str(tenants["江岸"].tenant_id), str(tenants["武昌"].tenant_id)}
    both = asyncio.Event()

    def on_notify(*args: Any) -> None:
        message = json.loads(args[3])
        if message["name"] == "set_emergency_level" and message["tenant_id"] in wanted:
            received.setdefault(message["tenant_id"], time.monotonic())
            if set(received) >= inside:
                both.set()

    await conn.add_listener(push.CHANNEL, on_notify)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud_process.port}", timeout=30) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"login": admin_login, "password": _sync._cloud.PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            started = time.monotonic()
            response = await client.post(
                "/api/v1/admin/region-alerts",
                json={
                    "region_code": "4201",
                    "level": "red",
                    "ends_at": "2099-01-01T00:00:00Z",
                    "reason": "红色预警（测试）",
                },
                headers=headers,
            )
            assert response.status_code == 201, response.text
            await asyncio.wait_for(both.wait(), timeout=5)
            await asyncio.sleep(0.3)  # give a wrong NOTIFY for 宜昌 the chance to show up
            cancel = f"/api/v1/admin/region-alerts/{response.json()['alert']['id']}/cancel"
            assert (await client.post(cancel, json={"reason": "测试结束"}, headers=headers)).status_code == 200
    finally:
        await conn.close()
    elapsed = {t: received[t] - started for t in received}
    print(f"region alert → command on the hub channel: {max(elapsed.values()) * 1000:.0f} ms")  # noqa: T201
    assert set(elapsed) == inside
    assert max(elapsed.values()) <= 5.0
    assert str(tenants["宜昌"].tenant_id) not in received
    assert all(s.agent_id for s in sites.values())
