"""Prometheus metrics of a cloud replica (issue 21): ``GET /metrics`` in the text exposition format.

One registry per process (``REGISTRY``; a replica's figures, summed across replicas by Prometheus):

* ingest: events stored / already stored (duplicates absorbed) / refused, batch ack latency;
* connected agents, and per agent what its heartbeats say: queue depth, oldest unsent event,
  free disk, clock skew against the cloud (the hub flags > 30 s);
* uplink: records sent per platform profile and outcome, send latency;
* process: CPU, memory, open files (prometheus-client's process collector).

Fleet-wide figures read from the database at scrape time (at most every ``ECOGATE_METRICS_DB_EVERY_S``,
default 15 s, bounded by a 5 s timeout; migration 0020's SECURITY DEFINER functions return aggregates
only): the uplink backlog per platform profile and state with its oldest record's age, the logic checks'
lag (newest stored pass minus the checks' watermark, the worst tenant), the database's size; and the free
space of the volumes of the blob store and the data folder. Every replica reports the same fleet figures:
rules take ``max``.

Alert rules (``infra/monitoring/alerts.yml``) and the Grafana dashboard (``infra/monitoring/grafana-ecogate.json``)
use only the names defined here and in ``agent/ops/metrics.py``; ``tests/infra/test_monitoring.py`` holds that.
The endpoint answers only with the bearer token of ``ECOGATE_METRICS_TOKEN`` when it is set (the scraper's),
and is left out of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog
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
from sqlalchemy import text

if TYPE_CHECKING:
    from cloud.db.engine import Database

__all__ = [
    "AGENTS_CONNECTED",
    "AGENT_CLOCK_SKEW",
    "AGENT_DISK_FREE",
    "AGENT_OLDEST_UNSENT",
    "AGENT_QUEUE_DEPTH",
    "CHECKS_LAG",
    "DATABASE_BYTES",
    "DISK_FREE",
    "INGEST_ACK_SECONDS",
    "INGEST_EVENTS",
    "REGISTRY",
    "UPLINK_BACKLOG",
    "UPLINK_OLDEST",
    "UPLINK_RECORDS",
    "UPLINK_SEND_SECONDS",
    "forget_agent",
    "metrics_endpoint",
    "observe_heartbeat",
    "refresh_fleet",
]

log = structlog.get_logger(__name__)

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
    "ecogate_checks_lag_seconds",
    "Newest stored pass minus the logic checks' watermark, the worst tenant (fleet-wide, from the database).",
    registry=REGISTRY,
)
UPLINK_BACKLOG: Final = Gauge(
    "ecogate_uplink_backlog",
    "Records not yet delivered to regulator platforms, by profile and state (fleet-wide, from the database).",
    ["profile", "state"],
    registry=REGISTRY,
)
UPLINK_OLDEST: Final = Gauge(
    "ecogate_uplink_oldest_seconds",
    "Age of the oldest record not yet delivered, by profile and state (fleet-wide, from the database).",
    ["profile", "state"],
    registry=REGISTRY,
)
DATABASE_BYTES: Final = Gauge("ecogate_database_bytes", "Size of the EcoGate database.", registry=REGISTRY)
DISK_FREE: Final = Gauge(
    "ecogate_disk_free_bytes",
    "Free bytes on the volume of the blob store (filesystem store) and of the data folder.",
    ["volume"],
    registry=REGISTRY,
)
#: Uplink states counted in the backlog (``delivered`` is the end: its count is ``ecogate_uplink_records``).
BACKLOG_STATES: Final = ("pending", "photo_pending", "photo_refused", "rejected")
_fleet_at = 0.0
_backlog_series: set[tuple[str, str]] = set()


async def refresh_fleet(database: Database, *, force: bool = False) -> None:
    """Read the fleet-wide figures from the database (at most every ``ECOGATE_METRICS_DB_EVERY_S``)."""
    global _fleet_at  # noqa: PLW0603 - one cache per process
    every = float(os.environ.get("ECOGATE_METRICS_DB_EVERY_S", "15"))
    if not force and time.monotonic() - _fleet_at < every:
        return
    _fleet_at = time.monotonic()
    async with database.system_session("metrics: fleet aggregates") as session, session.begin():
        backlog = list(await session.execute(text("SELECT * FROM ops_uplink_backlog()")))
        lag = await session.scalar(text("SELECT ops_checks_lag()"))
        size = await session.scalar(text("SELECT pg_database_size(current_database())"))
    seen = {(str(r.profile), str(r.state)) for r in backlog}
    for profile, state in _backlog_series - seen:  # a backlog that emptied reads 0, not a stale value
        UPLINK_BACKLOG.labels(profile, state).set(0)
        UPLINK_OLDEST.labels(profile, state).set(0)
    for row in backlog:
        UPLINK_BACKLOG.labels(row.profile, row.state).set(row.records)
        UPLINK_OLDEST.labels(row.profile, row.state).set(row.oldest_s)
    _backlog_series.update(seen)
    CHECKS_LAG.set(float(lag or 0.0))
    DATABASE_BYTES.set(float(size or 0))


def observe_disks(volumes: dict[str, Path | None]) -> None:
    """Free space of each named folder's volume (a folder not made yet: its nearest existing parent's)."""
    for volume, path in volumes.items():
        if path is None:
            continue
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None:
            DISK_FREE.labels(volume).set(shutil.disk_usage(existing).free)


def observe_heartbeat(
    agent: str, *, queue_depth: int, oldest_unsent_s: float, disk_free_bytes: int | None, clock_skew_s: float
) -> None:
    """Record what one agent's heartbeat says (the hub calls it for every heartbeat)."""
    AGENT_QUEUE_DEPTH.labels(agent).set(queue_depth)
    AGENT_OLDEST_UNSENT.labels(agent).set(oldest_unsent_s)
    AGENT_CLOCK_SKEW.labels(agent).set(clock_skew_s)
    if disk_free_bytes is not None:
        AGENT_DISK_FREE.labels(agent).set(disk_free_bytes)


def forget_agent(agent: str) -> None:
    """Drop an agent's heartbeat series when it disconnects from this replica (no stale backlog or skew here
    once it is served by another replica, or gone)."""
    for gauge in (AGENT_QUEUE_DEPTH, AGENT_OLDEST_UNSENT, AGENT_DISK_FREE, AGENT_CLOCK_SKEW):
        with contextlib.suppress(KeyError):
            gauge.remove(agent)


def _authorised(request: Request[Any, Any, Any]) -> bool:
    token = os.environ.get("ECOGATE_METRICS_TOKEN", "")
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def _refresh(request: Request[Any, Any, Any]) -> None:
    """The database and disk figures, never failing the scrape (a stale figure beats no metrics)."""
    state = request.app.state
    settings = getattr(state, "settings", None)
    if settings is not None:
        blobs = settings.blobs
        observe_disks({"blobs": None if blobs.url else blobs.root, "data": settings.data_dir})
    database = getattr(state, "database", None)
    if database is None:
        return
    try:
        await asyncio.wait_for(refresh_fleet(database), timeout=5.0)
    except Exception as exc:  # noqa: BLE001 - the database may be down; the process figures still matter
        log.warning("metrics.fleet_refresh_failed", error=f"{type(exc).__name__}: {exc}"[:200])


@get("/metrics", opt={"public": True}, include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The registry in Prometheus' text format (401 without the scraper's token when one is configured)."""
    if not _authorised(request):
        return Response(b"unauthorised\n", status_code=401, media_type="text/plain")
    await _refresh(request)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
