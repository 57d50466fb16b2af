"""A short synthetic lane video: trucks with plates driving up to the camera, one after another.

Used by the demo (the agent's camera) and the gate-latency bench. Each vehicle approaches over
``seconds_per_vehicle`` (its plate grows from about 110 to 260 px wide and moves down the frame),
then the lane is empty for ``gap_s``. Written with ``cv2.VideoWriter`` (MJPG in .avi by default).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import cv2
import msgspec
import numpy as np

from agent.synth.plates import PlateSpec, random_spec, render_plate
from agent.synth.scene import BODY_COLOURS, HEIGHT, WIDTH, background, draw_signs, draw_vehicle, place_plate
from hj1321.plates import KIND_COLOURS, PlateKind, parse_plate


class LanePassage(msgspec.Struct, frozen=True):
    """Truth for one vehicle of a lane video: its plate and the frames it is visible in."""

    plate: str
    colour: str
    first_frame: int
    last_frame: int
    first_s: float
    last_s: float


def spec_for(plate: str | PlateSpec) -> PlateSpec:
    """A :class:`PlateSpec` for a plate number (its kind's usual colour; trailers double-row)."""
    if isinstance(plate, PlateSpec):
        return plate
    parsed = parse_plate(plate)
    colour = KIND_COLOURS[parsed.kind][0]
    return PlateSpec(parsed.number, parsed.kind, colour, double_row=parsed.kind is PlateKind.TRAILER)


def write_lane_video(
    path: str | Path,
    plates: Sequence[str | PlateSpec] | int,
    *,
    fps: float = 10.0,
    seconds_per_vehicle: float = 3.0,
    gap_s: float = 1.0,
    seed: int = 0,
    fourcc: str = "MJPG",
    noise: float = 3.0,
    tail_s: float = 0.0,
) -> list[LanePassage]:
    """Write a lane video of the given plates (or of that many random plates); return the truth.

    ``tail_s`` more seconds of the empty lane follow the last vehicle (a camera keeps sending frames).

    Raises:
        OSError: the video writer cannot be opened for ``path``.
    """
    rng = random.Random(seed)
    specs = [random_spec(rng) for _ in range(plates)] if isinstance(plates, int) else [spec_for(p) for p in plates]
    scene = background(rng)
    draw_signs(scene, rng, (400, 250, 880, 720))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"无法写入视频: {path}")
    noise_rng = np.random.default_rng(seed)
    truth: list[LanePassage] = []
    frame_no = 0

    def emit(img: np.ndarray) -> None:
        nonlocal frame_no
        noisy = np.clip(img.astype(np.float32) + noise_rng.normal(0.0, noise, img.shape), 0, 255).astype(np.uint8)
        writer.write(noisy)
        frame_no += 1

    try:
        for spec in specs:
            plate_img = render_plate(spec)
            body = rng.choice(BODY_COLOURS)
            n = max(2, round(seconds_per_vehicle * fps))
            first = frame_no
            aspect = plate_img.shape[0] / plate_img.shape[1]
            for i in range(n):
                t = i / (n - 1)
                plate_w = int(110 + 150 * t)
                plate_h = int(plate_w * aspect)
                body_w = int(plate_w * 3.6)
                body_h = int(body_w * 0.8)
                bottom = int(HEIGHT * 0.62 + (HEIGHT - 12 - plate_h + body_h // 5 - HEIGHT * 0.62) * t)
                frame = scene.copy()
                centre = draw_vehicle(frame, WIDTH // 2, bottom, body_w, body_h, body, plate_h)
                frame_rng = random.Random(seed * 100_003 + frame_no)
                place_plate(frame, plate_img, frame_rng, centre, plate_w, 2.0)
                emit(frame)
            truth.append(
                LanePassage(
                    plate=spec.number,
                    colour=str(spec.colour),
                    first_frame=first,
                    last_frame=frame_no - 1,
                    first_s=first / fps,
                    last_s=(frame_no - 1) / fps,
                )
            )
            for _ in range(max(0, round(gap_s * fps))):
                emit(scene)
        for _ in range(max(0, round(tail_s * fps))):
            emit(scene)
    finally:
        writer.release()
    return truth
