"""The cloud's logs as JSON with request, tenant, site and agent ids (issue 21).

A real ``ecogate cloud serve`` with ``ECOGATE_LOG_JSON=1`` on this worker's database; its output is
parsed line by line: a request's ``http.request`` line carries the caller's ``X-Request-ID`` (echoed in
the answer) or a generated UUIDv7 (echoed too), and the signed-in user's tenant; the hub's lines of an
agent's connection carry the agent, site and tenant ids.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from bench.ingest import SimAgent, chain
from bench.soak_sync import Cloud, make_sites

pytestmark = pytest.mark.anyio

PASSWORD = "Passw0rd!2024"  # tests/cloud/conftest.py
#: A text log line: a level first, or a date and time first (stdlib, uvicorn, Litestar and structlog formats).
_LOG_LINE = re.compile(
    r"^\s*(\[?(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2})", re.IGNORECASE
)


def _request(url: str, *, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={**(headers or {})})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    return urllib.request.urlopen(request, timeout=10)


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """The log's JSON lines; no other line looks like a log line (the banner and Python's own warnings may)."""
    lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    objects = [json.loads(x) for x in lines if x.startswith("{")]
    plain = [x for x in lines if not x.startswith("{")]
    assert not [x for x in plain if _LOG_LINE.match(x)], plain[:5]
    return objects


async def test_request_tenant_agent_and_site_ids_in_json_lines(db_urls, make_tenant, tmp_path: Path) -> None:
    tenant = await make_tenant(name="日志编号钢铁")
    (site,) = await make_sites(db_urls)
    cloud = Cloud(db_urls, tmp_path)
    await asyncio.to_thread(cloud.start, {"ECOGATE_LOG_JSON": "1", "ECOGATE_LOG_LEVEL": "info"})
    base = f"http://127.0.0.1:{cloud.port}"
    try:
        given = f"test-{uuid.uuid4().hex[:12]}"
        with _request(
            f"{base}/api/v1/auth/login",
            body={"login": tenant.admin_login, "password": PASSWORD},
            headers={"X-Request-ID": given},
        ) as answer:
            assert answer.headers["X-Request-ID"] == given
            token = json.loads(answer.read())["token"]
        with _request(f"{base}/api/v1/vehicles", headers={"Authorization": f"Bearer {token}"}) as answer:
            generated = answer.headers["X-Request-ID"]
        assert uuid.UUID(generated).version == 7
        with _request(f"{base}/health", headers={"X-Request-ID": "bad id with spaces"}) as answer:
            assert answer.headers["X-Request-ID"] != "bad id with spaces"  # not a plain token: replaced

        agent = SimAgent(site, chain(site, 3))
        await agent.open(cloud.url)
        await agent.stream(agent.events, batch=3, window=1)
        assert agent.ws is not None
        await agent.ws.close()
        await asyncio.sleep(0.5)
    finally:
        await asyncio.to_thread(cloud.stop)

    lines = _json_lines(cloud.log_path)
    requests = {x.get("request_id"): x for x in lines if x.get("event") == "http.request"}
    login = requests[given]
    assert (login["method"], login["path"], login["status"]) == ("POST", "/api/v1/auth/login", 200)
    listing = requests[generated]
    assert listing["path"] == "/api/v1/vehicles"
    assert listing["status"] == 200
    assert listing["tenant_id"] == str(tenant.tenant_id)
    assert {"timestamp", "level"} <= listing.keys()
    hub = [x for x in lines if str(x.get("event", "")).startswith("hub.")]
    assert hub, [x.get("event") for x in lines][-30:]
    ids = {"agent_id": str(site.agent_id), "site_id": str(site.site_id), "tenant_id": str(site.tenant_id)}
    connected = [x for x in hub if x["event"] == "hub.connected"]
    assert connected
    for item in connected:
        assert {k: item.get(k) for k in ids} == ids, item
        assert item.get("request_id")  # the websocket's request id, as for any request
