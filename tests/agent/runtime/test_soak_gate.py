"""The crash soak at CI size: 30 SIGKILLs of the real agent with a spool lane and a camera lane.

No barrier open without its stored event, one record and at most one opening per truck visit, no
opening for a read older than its lane's limit (issue 16).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_soak_gate_30_kills(tmp_path: Path) -> None:
    script = str(ROOT / "bench" / "soak_gate.py")
    proc = subprocess.run(
        [sys.executable, script, "--kills", "30", "--seed", "7", "--json", "--dir", str(tmp_path / "soak")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert proc.stdout.strip(), proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["violations"] == [], figures
    assert proc.returncode == 0, proc.stderr
    assert figures["kills"] == 30
    assert figures["checks"] == 31
    assert figures["kills_after_open"] > 0
    assert figures["reads_allowed"] > 0
    assert figures["reads_refused"] > 0
    assert figures["events_stored"] == figures["reads_written"] + figures["cam_events"]
    assert figures["opens_on_wire"] <= figures["opens_journaled"]
    assert figures["double_openings"] == 0
    assert figures["stale_opens"] == 0
    assert figures["kills_after_camera_record"] > 0
    assert figures["cam_visits"] > 0
    assert figures["cam_events"] == figures["cam_visits"]  # one record per truck visit, none lost
    assert figures["cam_double_records"] == 0
    assert figures["cam_lost"] == 0
    assert figures["final_exit_code"] == 0
    assert figures["chain_ok"] is True
