"""Fault tolerance of sync (issue 5): kills, a crash between commit and ack, PG restarts, a faulty network.

Each test runs a scenario of ``bench/soak_sync.py`` at CI size: the cloud (``ecogate cloud serve``) and
the agent (the real outbox and SyncClient) are separate processes talking over real TCP; afterwards
every outbox event is compared with the ledger (zero lost, zero duplicated, per-lane order, hashes) and
every photo with the blob store (sha256 recomputed, bytes equal).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _soak() -> ModuleType:
    name = "_bench_soak_sync"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "soak_sync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


soak = _soak()


@pytest.fixture(name="env")
def fx_env(admin_url: str, db_urls: Any, tmp_path: Path) -> Any:
    """Where a scenario runs: this worker's database, a superuser DSN on it and the embedded server."""
    return soak.Env(
        db_urls,
        soak.superuser_dsn(admin_url, db_urls.app_url),
        tmp_path,
        seed=5,
        pg=soak.embedded_handle(admin_url),
        photo_bytes=3000,
    )


def check(report: Any) -> None:
    """Zero lost, zero duplicated, every photo intact; the counts are in the failure message."""
    assert report.violations == [], report
    assert report.passes > 0
    assert report.stored == report.passes
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.unexpected == 0
    assert report.photos_checked == 2 * report.passes
    assert report.photos_bad == 0


def test_agent_sigkilled_with_a_batch_in_flight(env: Any) -> None:
    report = asyncio.run(soak.kill_agent(env, kills=5, passes=300, rate=40))
    check(report)
    assert report.extra["kills_with_batch_in_flight"] == 5


def test_cloud_dies_after_commit_before_ack(env: Any) -> None:
    # A slow stream (20 s) keeps batches small and many even when cloud restarts are slow on a busy machine.
    report = asyncio.run(soak.kill_cloud(env, kills=3, passes=400, rate=20))
    check(report)
    assert report.extra["committed_not_acked"] == 3  # the ledger was ahead of the agent's acks each time


def test_postgresql_restarted_under_load(env: Any) -> None:
    if env.pg is None:
        pytest.skip("external database: cannot restart it")
    report = asyncio.run(soak.pg_restart(env, restarts=2, passes=300, rate=40))
    check(report)
    assert report.extra["restarts"] == 2


@pytest.mark.slow
def test_fault_proxy_60_seconds(env: Any) -> None:
    report = asyncio.run(soak.proxy_soak(env, seconds=60, rate=10))
    check(report)
    faults = report.extra["proxy"]
    assert faults["drops"] + faults["resets"] > 0
    assert faults["stalls"] > 0
    assert faults["connections"] > 1
