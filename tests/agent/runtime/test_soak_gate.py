"""The crash soak at CI size: 30 SIGKILLs of the real agent, no barrier open without its stored event."""

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
        timeout=240,
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
    assert figures["events_stored"] == figures["reads_written"]
    assert figures["opens_journaled"] >= figures["reads_allowed"]
    assert figures["opens_on_wire"] <= figures["opens_journaled"]
    assert figures["final_exit_code"] == 0
    assert figures["chain_ok"] is True
