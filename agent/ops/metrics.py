"""Prometheus metrics of a gate agent (issue 21), served on ``ECOGATE_AGENT_METRICS_PORT`` when it is set.

Names start with ``ecogate_gate_`` (the cloud's per-agent figures from heartbeats are ``ecogate_agent_*``):
recognition latency and reads per lane (with or without a plate: the read rate), barrier commands by
outcome (confirmed, failed), the outbox's depth and oldest unsent event, free disk, whether the cloud
link is up, connections made to it and the clock against the cloud's at the last one, and each
device's health (the weighbridge's among them). ``start_server`` binds ``ECOGATE_AGENT_METRICS_ADDR``
(default 127.0.0.1: a scraper on the gate PC or a tunnel; set 0.0.0.0 on purpose). The rules in
``infra/monitoring/alerts.yml`` use these names; a test holds that.

Where the figures come from (one-line hooks, nothing else changes at the call sites): the camera read
source times each recognition (:func:`recognize_timed`), the lane pipeline counts reads and barrier
outcomes, the sync client sets the link state, connections and skew, and :func:`sample_forever`
(started by ``ecogate agent run`` beside the watchdog) copies the outbox's stats and the devices'
health into gauges every 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server

if TYPE_CHECKING:
    from agent.outbox.store import OutboxStats

__all__ = [
    "BARRIER_COMMANDS",
    "CLOCK_SKEW",
    "CLOUD_CONNECTED",
    "CLOUD_CONNECTIONS",
    "DEVICE_STATE",
    "DISK_FREE",
    "OLDEST_UNSENT",
    "OUTBOX_DEPTH",
    "READS",
    "RECOGNITION_SECONDS",
    "REGISTRY",
    "observe_devices",
    "observe_outbox",
    "observe_read",
    "recognize_timed",
    "sample_forever",
    "start_server",
]

log = structlog.get_logger(__name__)

REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

RECOGNITION_SECONDS: Final = Histogram(
    "ecogate_gate_recognition_seconds",
    "Plate recognition time of one frame, per lane.",
    ["lane"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
    registry=REGISTRY,
)
READS: Final = Counter(
    "ecogate_gate_reads",
    "Vehicle reads handed to the decision, per lane, decision and whether a plate was read (plate, none).",
    ["lane", "decision", "read"],
    registry=REGISTRY,
)
BARRIER_COMMANDS: Final = Counter(
    "ecogate_gate_barrier_commands",
    "Barrier open commands by outcome (confirmed by the relay, failed after retries).",
    ["lane", "outcome"],
    registry=REGISTRY,
)
OUTBOX_DEPTH: Final = Gauge("ecogate_gate_outbox_depth", "Events the cloud has not acked yet.", registry=REGISTRY)
OLDEST_UNSENT: Final = Gauge(
    "ecogate_gate_oldest_unsent_seconds", "Age of the oldest event the cloud has not acked.", registry=REGISTRY
)
DISK_FREE: Final = Gauge("ecogate_gate_disk_free_bytes", "Free bytes on the data disk.", registry=REGISTRY)
CLOUD_CONNECTED: Final = Gauge("ecogate_gate_cloud_connected", "1 while the cloud link is up.", registry=REGISTRY)
CLOUD_CONNECTIONS: Final = Counter(
    "ecogate_gate_cloud_connections",
    "Websocket connections opened to the cloud hub (every one after the first is a reconnect).",
    registry=REGISTRY,
)
CLOCK_SKEW: Final = Gauge(
    "ecogate_gate_clock_skew_seconds",
    "This PC's clock minus the cloud's, from the cloud's welcome at the last connection.",
    registry=REGISTRY,
)
DEVICE_STATE: Final = Gauge(
    "ecogate_gate_device_state",
    "1 for a device's current health level (starting, ok, degraded, fault, stopped), 0 for the others.",
    ["device", "kind", "state"],
    registry=REGISTRY,
)
_LEVELS: Final = ("starting", "ok", "degraded", "fault", "stopped")


def recognize_timed(recognizer: Any, frame: Any, roi: Any, lane: str) -> Any:
    """``recognizer.recognize(frame, roi, lane)`` timed into :data:`RECOGNITION_SECONDS` (in the worker thread)."""
    started = time.perf_counter()
    try:
        return recognizer.recognize(frame, roi, lane)
    finally:
        RECOGNITION_SECONDS.labels(lane).observe(time.perf_counter() - started)


def observe_read(lane: str, decision: str, *, plate: bool) -> None:
    """Count one read handed to the decision."""
    READS.labels(lane, decision, "plate" if plate else "none").inc()


def observe_outbox(stats: OutboxStats | None) -> None:
    """Copy the outbox's queue and space figures into the gauges (None: the outbox is not open)."""
    if stats is None:
        return
    OUTBOX_DEPTH.set(stats.queue_depth)
    OLDEST_UNSENT.set(stats.oldest_unsent_age_s or 0.0)
    if stats.free_bytes >= 0:
        DISK_FREE.set(stats.free_bytes)


def observe_devices(devices: Mapping[str, Any]) -> None:
    """One state series per device and health level (the weighbridge, barriers, LEDs)."""
    for name, device in devices.items():
        health = device.health
        for level in _LEVELS:
            DEVICE_STATE.labels(name, str(health.kind), level).set(1 if str(health.level) == level else 0)


async def sample_forever(agent: Any, every_s: float = 15.0) -> None:
    """Every ``every_s``: the outbox's stats, the devices' health and the link state into the gauges.

    15 s by default, Prometheus' usual scrape interval and the heartbeat's: the outbox's stats are counts
    under the outbox's lock, which a pass's commit waits for.
    """
    while True:
        try:
            observe_outbox(await asyncio.to_thread(agent.stats))
            observe_devices(dict(agent.devices))
            CLOUD_CONNECTED.set(1 if agent.online() else 0)
        except Exception:
            log.warning("metrics.sample_failed", exc_info=True)
        await asyncio.sleep(every_s)


async def stop_sampler(task: asyncio.Task[None]) -> None:
    """Cancel the sampler task and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def start_server() -> int | None:
    """Serve the registry when ``ECOGATE_AGENT_METRICS_PORT`` is set; the port, or None."""
    port = os.environ.get("ECOGATE_AGENT_METRICS_PORT", "")
    if not port.isdigit():
        return None
    start_http_server(int(port), addr=os.environ.get("ECOGATE_AGENT_METRICS_ADDR", "127.0.0.1"), registry=REGISTRY)
    return int(port)
