"""Outage (issue 5): the cloud is down while a separate agent process records 500 passes with photos.

When the cloud returns every pass is in the ledger exactly once, in per-lane order, with the agent's
hashes, and every photo in the blob store is byte-identical (sha256 recomputed). Runs
``bench/soak_sync.py``'s ``outage`` scenario at CI size (the bench runs it with 5,000).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _soak() -> Any:
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


def test_outage_500_passes_with_photos(admin_url: str, db_urls: Any, tmp_path: Path) -> None:
    soak = _soak()
    env = soak.Env(db_urls, soak.superuser_dsn(admin_url, db_urls.app_url), tmp_path, seed=3)
    report = asyncio.run(soak.outage(env, 500))
    assert report.violations == [], report
    assert report.extra["acked_during_outage"] == 0
    assert report.extra["agent_exit"] == 0
    assert report.passes == report.stored == 500
    assert report.lost == report.duplicated == report.unexpected == 0
    assert report.extra["lanes"] == 2
    assert report.photos_checked == 1000
    assert report.photos_bad == 0
