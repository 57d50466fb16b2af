"""What every portal browser test shares: Debian's Chromium and its flags, loading conftests, timings, screenshots."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium")
#: PLATFORM-NOTES.md: without the background-networking flags Chromium's connections are refused by the
#: machine's closed network, many at a time.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def load(name: str, path: Path) -> Any:
    """Import ``path`` as module ``name`` (conftests of other test folders, for their fixtures)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def first_render_ms(page: Any) -> float:
    """DOMContentLoaded of the page's navigation, in milliseconds (reported, never asserted)."""
    value = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n ? n.domContentLoadedEventEnd - n.startTime : -1; }"
    )
    return round(float(value), 1)


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into ``docs/screenshots/NAME.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@contextmanager
def running_cloud(sync_conftest: Any, db_urls: Any, tmp_path: Path) -> Iterator[Any]:
    """The cloud as a real uvicorn process (``CloudProcess`` of tests/sync/conftest.py), stopped afterwards."""
    proc = sync_conftest.CloudProcess(db_urls, tmp_path / "cloud" / "blobs", tmp_path / "cloud.log")
    proc.blob_root.mkdir(parents=True)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
