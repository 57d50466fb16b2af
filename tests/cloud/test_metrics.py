"""``GET /metrics`` (issue 21): the Prometheus text format, guarded by the scraper's token when one is set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_metrics_are_served_in_the_prometheus_format(client, monkeypatch) -> None:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    for name in ("ecogate_ingest_events", "ecogate_ingest_ack_seconds", "ecogate_agents_connected", "process_cpu"):
        assert name in answer.text
    monkeypatch.setenv("ECOGATE_METRICS_TOKEN", "scrape-secret-123")
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
    assert ok.status_code == 200
    assert "/metrics" not in (await client.get("/schema/openapi.json")).text
