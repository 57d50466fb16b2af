"""Metrics scraped during the ingest bench show the figures the bench prints (issue 21 acceptance).

``bench/ingest.py`` at CI size: the cloud's ``/metrics`` is scraped before and after each phase; the
hub's counters must hold exactly the events stored and the batches acked that the bench counted, its
ack-latency histogram must not place the hub's share above the round trip the bench measured, and the
in-process agent's own registry must show the link up and the connection it made. (The gate soak's
scrape of the agent's endpoint is checked by ``tests/agent/runtime/test_soak_gate.py``: a disagreement
there is a violation.)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram

from bench.metrics_scrape import delta, histogram_quantile, scrape_registry, total

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ingest_bench_scrape_agrees_with_its_figures() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "ingest.py"),
            *("--agents", "3", "--events", "300", "--rate", "30", "--latency-seconds", "3"),
            *("--drain-events", "300", "--checks-wait", "120", "--pool", "4", "--raw-conns", "2", "--json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    scraped = result["scrape"]
    throughput, steady, drain = scraped["throughput"], scraped["steady"], scraped["drain"]
    assert throughput["stored"] == throughput["events"] == 900
    assert throughput["acks"] == throughput["batches"] == 9  # 3 agents x 3 batches of 100
    assert steady["stored"] == steady["events"] == 90
    assert steady["acks"] == steady["batches"]
    assert throughput["duplicate"] == throughput["refused"] == steady["duplicate"] == steady["refused"] == 0
    assert drain["stored"] == drain["events"] == 300
    assert drain["agent_link_up"] == 1
    assert abs(drain["agent_clock_skew_s"]) < 5.0  # the agent's skew gauge, set from the cloud's welcome
    assert scraped["agree"] is True, scraped
    assert result["ledger_rows"] == result["ledger_rows_expected"]
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_histogram_quantile_reads_buckets_like_prometheus() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("t_seconds", "test", buckets=(0.01, 0.1, 1.0), registry=registry)
    before = scrape_registry(registry)
    for value in [0.005] * 50 + [0.05] * 45 + [0.5] * 5:
        histogram.observe(value)
    samples = delta(before, scrape_registry(registry))
    assert total(samples, "t_seconds_count") == 100
    p50 = histogram_quantile(samples, "t_seconds", 0.5)
    assert (p50.low, p50.high) == (0.0, 0.01)
    assert math.isclose(p50.value, 0.01)
    p99 = histogram_quantile(samples, "t_seconds", 0.99)
    assert (p99.low, p99.high) == (0.1, 1.0)
    assert math.isclose(p99.value, 0.1 + 0.9 * 4 / 5)
    assert math.isnan(histogram_quantile({}, "t_seconds", 0.5).value)
