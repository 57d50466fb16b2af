"""``python -m agent.devices.sim`` in a real subprocess: ports printed, drivable over stdin, clean exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import serial

from agent.devices.scale_protocols import Xk3190A9Parser


def test_sim_cli_prints_ports_and_takes_commands(tmp_path: Path) -> None:
    ports_file = tmp_path / "ports.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.devices.sim",
            "--dir",
            str(tmp_path),
            "--anpr-http",
            "--ports-file",
            str(ports_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        ports = json.loads(proc.stdout.readline())
        assert set(ports) == {"weighbridge", "barrier", "led", "loop", "anpr_http"}
        assert ports["weighbridge"] == str(tmp_path / "weighbridge")
        assert json.loads(ports_file.read_text(encoding="utf-8")) == ports
        assert ports["anpr_http"].startswith("http://127.0.0.1:")

        proc.stdin.write("weight 12340\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok"
        parser = Xk3190A9Parser()
        with serial.Serial(ports["weighbridge"], timeout=0.2) as port:
            deadline = time.monotonic() + 3
            weights: list[float] = []
            while 12_340.0 not in weights and time.monotonic() < deadline:
                weights += [f.kg for f in parser.feed(port.read(64))]
        assert 12_340.0 in weights

        proc.stdin.write("status\n")
        proc.stdin.flush()
        status = json.loads(proc.stdout.readline())
        assert status["weight_kg"] == 12_340
        assert status["barrier"] == "closed"
        proc.stdin.write("bogus\n")
        proc.stdin.flush()
        assert "无法执行" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 0
    assert not (tmp_path / "weighbridge").exists()
