"""Chaos at CI size (issue 16): 2 minutes of agent, cloud and PostgreSQL kills, link cuts and a 20 s
database outage; 0 lost and 0 doubled at every layer, the portal's upload figure equal to the
regulator simulator's stored count, at most 5 reconnects during the outage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_chaos_two_minutes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "chaos.py"),
            "--minutes",
            "2",
            "--seed",
            "3",
            "--json",
            "--dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.stdout.strip(), proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["violations"] == [], figures
    assert proc.returncode == 0
    assert figures["outages"] == 1
    assert all(n <= 5 for n in figures["outage_reconnects"])
    assert figures["agent_kills"] + figures["cloud_kills"] + figures["pg_kills"] + figures["link_cuts"] > 0
    layers = {layer["layer"]: layer for layer in figures["layers"]}
    assert all(layer["lost"] == 0 and layer["doubled"] == 0 for layer in layers.values()), layers
    assert figures["upload_held"] == figures["regsim_records"] > 0
