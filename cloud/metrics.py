"""Prometheus metrics of a cloud replica (issue 21): ``GET /metrics`` in the text exposition format.

One registry per process (``REGISTRY``; a replica's figures, summed across replicas by Prometheus):

* ingest: events stored / already stored (duplicates absorbed) / refused, batch ack latency;
* connected agents, and per agent what its heartbeats say: queue depth, oldest unsent event,
  free disk, clock skew against the cloud (the hub flags > 30 s);
* uplink: records sent per platform profile and outcome, send latency;
* logic checks: lag between the newest stored pass and the checks' watermark;
* process: CPU, memory, open files (prometheus-client's process collector).

Alert rules (``infra/monitoring/alerts.yml``) and the Grafana dashboard (``infra/monitoring/grafana-ecogate.json``)
use only the names defined here and in ``agent/ops/metrics.py``; ``tests/infra/test_monitoring.py`` holds that.
The endpoint answers only with the bearer token of ``ECOGATE_METRICS_TOKEN`` when it is set (the scraper's),
and is left out of the OpenAPI document.
"""

from __future__ import annotations

import hmac
import os
from typing import Any, Final

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = [
    "AGENTS_CONNECTED",
    "AGENT_CLOCK_SKEW",
    "AGENT_DISK_FREE",
    "AGENT_OLDEST_UNSENT",
    "AGENT_QUEUE_DEPTH",
    "CHECKS_LAG",
    "INGEST_ACK_SECONDS",
    "INGEST_EVENTS",
    "REGISTRY",
    "UPLINK_RECORDS",
    "UPLINK_SEND_SECONDS",
    "metrics_endpoint",
    "observe_heartbeat",
]

REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)

INGEST_EVENTS: Final = Counter(
    "ecogate_ingest_events",
    "Pass events received from agents, by result (stored, duplicate, refused).",
    ["result"],
    registry=REGISTRY,
)
INGEST_ACK_SECONDS: Final = Histogram(
    "ecogate_ingest_ack_seconds",
    "Time from an event batch's arrival to its ack (commit included).",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
AGENTS_CONNECTED: Final = Gauge("ecogate_agents_connected", "Agents connected to this replica.", registry=REGISTRY)
AGENT_QUEUE_DEPTH: Final = Gauge(
    "ecogate_agent_queue_depth", "Events an agent holds that the cloud has not acked.", ["agent"], registry=REGISTRY
)
AGENT_OLDEST_UNSENT: Final = Gauge(
    "ecogate_agent_oldest_unsent_seconds", "Age of an agent's oldest unacked event.", ["agent"], registry=REGISTRY
)
AGENT_DISK_FREE: Final = Gauge(
    "ecogate_agent_disk_free_bytes", "Free bytes on an agent's data disk.", ["agent"], registry=REGISTRY
)
AGENT_CLOCK_SKEW: Final = Gauge(
    "ecogate_agent_clock_skew_seconds",
    "Agent clock minus cloud clock at its last heartbeat.",
    ["agent"],
    registry=REGISTRY,
)
UPLINK_RECORDS: Final = Counter(
    "ecogate_uplink_records",
    "Records sent to regulator platforms, by profile and outcome.",
    ["profile", "outcome"],
    registry=REGISTRY,
)
UPLINK_SEND_SECONDS: Final = Histogram(
    "ecogate_uplink_send_seconds",
    "Duration of one send to a regulator platform.",
    ["profile"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
CHECKS_LAG: Final = Gauge(
    "ecogate_checks_lag_seconds", "Newest stored pass minus the logic checks' watermark.", registry=REGISTRY
)


def observe_heartbeat(
    agent: str, *, queue_depth: int, oldest_unsent_s: float, disk_free_bytes: int | None, clock_skew_s: float
) -> None:
    """Record what one agent's heartbeat says (the hub calls it for every heartbeat)."""
    AGENT_QUEUE_DEPTH.labels(agent).set(queue_depth)
    AGENT_OLDEST_UNSENT.labels(agent).set(oldest_unsent_s)
    AGENT_CLOCK_SKEW.labels(agent).set(clock_skew_s)
    if disk_free_bytes is not None:
        AGENT_DISK_FREE.labels(agent).set(disk_free_bytes)


def _authorised(request: Request[Any, Any, Any]) -> bool:
    token = os.environ.get("ECOGATE_METRICS_TOKEN", "")
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@get("/metrics", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The registry in Prometheus' text format (401 without the scraper's token when one is configured)."""
    if not _authorised(request):
        return Response(b"unauthorised\n", status_code=401, media_type="text/plain")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
