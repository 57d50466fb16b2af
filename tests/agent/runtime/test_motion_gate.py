"""The motion gate: empty, unchanged lanes are not recognised; a vehicle is, from its first frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.runtime.motion import MotionGate
from agent.runtime.sources import VisionReadSource
from agent.sources import FileSource
from agent.synth import write_lane_video
from agent.vision import PlateRecognizer, PlateVoter


def _noisy(base: np.ndarray, rng: np.random.Generator, sigma: float = 4.0) -> np.ndarray:
    return np.clip(base.astype(np.float32) + rng.normal(0.0, sigma, base.shape), 0, 255).astype(np.uint8)


def test_unchanged_lane_is_probed_only_now_and_then() -> None:
    rng = np.random.default_rng(1)
    empty = np.full((360, 640, 3), 90, np.uint8)
    cv2.rectangle(empty, (50, 50), (200, 150), (200, 180, 160), -1)
    gate = MotionGate(idle_probe_s=2.0)
    ran = []
    for i in range(100):  # 4 s at 25 fps of sensor noise only
        t = i / 25
        if gate.wants(_noisy(empty, rng), None, t):
            gate.ran(t, found=False)
            ran.append(i)
    assert ran == [0, 50]  # the first frame, then one probe after idle_probe_s
    assert gate.skipped == 98


def test_vehicle_entering_is_recognised_on_its_first_frame_and_while_it_moves() -> None:
    rng = np.random.default_rng(2)
    empty = np.full((720, 1280, 3), 90, np.uint8)
    gate = MotionGate()
    assert gate.wants(empty, None, 0.0)
    gate.ran(0.0, found=False)
    assert not gate.wants(_noisy(empty, rng), None, 0.04)
    red = (30, 60, 200)  # about the road's brightness: only the colour differs
    for i in range(5):  # a truck front driving closer: it moves on every frame
        frame = _noisy(empty, rng)
        cv2.rectangle(
            frame, (500 - 10 * i, 300 + 8 * i), (780 + 10 * i, 600 + 10 * i), (30, 60, 200), -1
        )  # red: the road's brightness
        t = 0.08 + i * 0.04
        assert gate.wants(frame, None, t), i
        gate.ran(t, found=True)
    # it stops: still present (differs from the empty background) → re-read every present_probe_s only
    stopped = _noisy(empty, rng)
    cv2.rectangle(stopped, (460, 332), (820, 640), red, -1)
    assert not gate.wants(stopped, None, 0.3)
    assert not gate.wants(stopped, None, 0.6)
    assert gate.wants(stopped, None, 0.75)  # 0.5 s after the last recognition (0.24)
    gate.ran(0.75, found=True)
    assert not gate.wants(stopped, None, 1.0)
    assert gate.wants(stopped, None, 1.3)


def test_roi_limits_what_counts_as_change() -> None:
    empty = np.full((720, 1280, 3), 90, np.uint8)
    gate = MotionGate()
    roi = (640, 360, 1280, 720)
    assert gate.wants(empty, roi, 0.0)
    gate.ran(0.0, found=False)
    outside = empty.copy()
    cv2.rectangle(outside, (0, 0), (600, 340), (255, 255, 255), -1)  # a bus passing outside the lane
    assert not gate.wants(outside, roi, 0.1)
    inside = empty.copy()
    cv2.rectangle(inside, (700, 400), (1000, 700), (255, 255, 255), -1)
    assert gate.wants(inside, roi, 0.2)


@pytest.mark.anyio
async def test_gated_lane_reads_the_same_plates_with_fewer_recognitions(tmp_path: Path) -> None:
    video = tmp_path / "lane.avi"
    truth = write_lane_video(video, ["鄂AF0236", "鄂A7K512"], fps=10.0, seed=3, gap_s=2.0, tail_s=2.0)
    recognizer = PlateRecognizer()

    async def run(gate: MotionGate | None) -> list[str]:
        source = VisionReadSource(
            lane_id="l1", frames=FileSource(video), recognizer=recognizer, voter=PlateVoter(), gate=gate
        )
        return [r.plate or "" async for r in source.reads()]

    gate = MotionGate()
    gated = await run(gate)
    assert gated == [p.plate for p in truth]
    assert gated == await run(None)
    assert gate.skipped >= 30  # most of the 2 s gaps and the 2 s tail (~60 empty frames) were not recognised
