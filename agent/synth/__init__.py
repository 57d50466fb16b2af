"""Synthetic licence plates, gate scenes and lane videos (fixed seeds) for tests, bench and demo."""

from __future__ import annotations

from agent.synth.plates import CATEGORIES, PlateSpec, random_number, random_spec, render_plate
from agent.synth.scene import CONDITIONS, SceneTruth, generate_scene
from agent.synth.video import LanePassage, write_lane_video

__all__ = [
    "CATEGORIES",
    "CONDITIONS",
    "LanePassage",
    "PlateSpec",
    "SceneTruth",
    "generate_scene",
    "random_number",
    "random_spec",
    "render_plate",
    "write_lane_video",
]
