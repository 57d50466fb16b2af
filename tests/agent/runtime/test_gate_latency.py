"""CI run of bench/gate_latency.py (small): generated video → real recognizer → decision → commit →
Modbus open on a real pty, two camera lanes and the booth; refused vehicles never get an open command.
No timed asserts (figures are for the bench); this checks the path works end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_gate_latency_bench_runs_small() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gate_latency.py"),
            "--vehicles",
            "4",
            "--idle-s",
            "1",
            "--baseline",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    fig = json.loads(out.stdout)
    assert fig["refused_with_open"] == 0
    assert fig["events_stored"] == fig["vehicles_in_video"]
    assert fig["refused"] >= 1
    assert fig["allowed"] >= 1
    assert fig["frame_to_open_ms"]["n"] == fig["allowed"]
    # Measured from each allowed vehicle's first frame in view; the voter emitted early.
    assert fig["appear_to_open_ms"]["n"] == fig["allowed"]
    assert fig["voter"] == "early"
    assert fig["early_emissions"] >= 1
    assert fig["exit_code"] == 0
