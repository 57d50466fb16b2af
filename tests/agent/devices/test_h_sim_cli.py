"""``python -m agent.devices.sim --camera … --screen …`` (issue 23) in a real subprocess: a camera that
drives the barrier over TCP and a family screen on a pty, driven by the real drivers."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.devices.camera_barrier import DahuaItcBarrier
from agent.devices.led_families import FamilyLedDisplay, SerialLedTransport
from agent.devices.types import LedLine

ROOT = Path(__file__).resolve().parents[3]
ARGS = ["--weighbridge", "none", "--no-barrier", "--no-led", "--loops", "0", "--camera", "dahua", "--screen", "bx"]


def _spawn(directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.devices.sim", "--dir", str(directory), *ARGS, "--barrier-travel", "0.1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@pytest.mark.anyio
async def test_sim_cli_starts_a_camera_barrier_and_a_family_screen(tmp_path: Path) -> None:
    proc = await asyncio.to_thread(_spawn, tmp_path)
    assert proc.stdout is not None
    assert proc.stdin is not None
    stdout, stdin = proc.stdout, proc.stdin
    try:
        ports = json.loads(await asyncio.to_thread(stdout.readline))
        assert set(ports) == {"camera_dahua", "screen_bx"}
        assert ports["screen_bx"] == str(tmp_path / "screen")
        barrier = DahuaItcBarrier(ports["camera_dahua"])
        led = FamilyLedDisplay("bx", SerialLedTransport(ports["screen_bx"]), timeout_s=2.0)
        try:
            assert (await barrier.open()).confirmed
            assert await led.show([LedLine("鄂A12345"), LedLine("请通行")])
        finally:
            await barrier.stop()
            await led.stop()
        stdin.write("status\n")
        stdin.flush()
        status = json.loads(await asyncio.to_thread(stdout.readline))
        assert status["screen"] == ["鄂A12345", "请通行"]
        assert status["camera_barrier"] in {"moving", "open"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 0
    assert not (tmp_path / "screen").exists()
