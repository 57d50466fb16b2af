"""Prometheus metrics of a gate agent (issue 21), served on ``ECOGATE_AGENT_METRICS_PORT`` when it is set.

Names start with ``ecogate_gate_`` (the cloud's per-agent figures from heartbeats are ``ecogate_agent_*``):
recognition latency and reads per lane, barrier commands by outcome (confirmed, failed), the outbox's
depth and oldest unsent event, free disk, whether the cloud link is up. ``start_server`` binds
``ECOGATE_AGENT_METRICS_ADDR`` (default 127.0.0.1: a scraper on the gate PC or a tunnel; set 0.0.0.0
on purpose). The rules in ``infra/monitoring/alerts.yml`` use these names; a test holds that.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server

__all__ = [
    "BARRIER_COMMANDS",
    "CLOUD_CONNECTED",
    "DISK_FREE",
    "OLDEST_UNSENT",
    "OUTBOX_DEPTH",
    "READS",
    "RECOGNITION_SECONDS",
    "REGISTRY",
    "start_server",
]

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
    "Plates emitted to the decision, per lane and decision.",
    ["lane", "decision"],
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


def start_server() -> int | None:
    """Serve the registry when ``ECOGATE_AGENT_METRICS_PORT`` is set; the port, or None."""
    port = os.environ.get("ECOGATE_AGENT_METRICS_PORT", "")
    if not port.isdigit():
        return None
    start_http_server(int(port), addr=os.environ.get("ECOGATE_AGENT_METRICS_ADDR", "127.0.0.1"), registry=REGISTRY)
    return int(port)
