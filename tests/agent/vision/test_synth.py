"""The synthetic generator: deterministic, valid plates, fixed difficulty."""

from __future__ import annotations

import random

import numpy as np

from agent.synth import CATEGORIES, CONDITIONS, generate_scene, random_spec, render_plate
from hj1321.plates import KIND_COLOURS, parse_plate


def test_same_seed_same_scene() -> None:
    a, ta = generate_scene(42)
    b, tb = generate_scene(42)
    assert np.array_equal(a, b)
    assert ta == tb
    assert a.shape == (720, 1280, 3)


def test_every_category_renders_a_valid_plate() -> None:
    rng = random.Random(0)
    for category in CATEGORIES:
        for _ in range(5):
            spec = random_spec(rng, category)
            plate = parse_plate(spec.number)
            assert spec.colour in KIND_COLOURS[plate.kind]
            img = render_plate(spec)
            assert img.shape == ((220 if spec.double_row else 140), 480 if len(spec.number) == 8 else 440, 3)


def test_conditions_and_difficulty() -> None:
    truths = [generate_scene(s)[1] for s in range(len(CONDITIONS) * 2)]
    assert {t.condition for t in truths} == set(CONDITIONS)
    empties = [t for t in truths if t.condition == "empty"]
    assert all(t.plate is None and t.box is None for t in empties)
    assert len(empties) / len(truths) >= 0.1
    for t in truths:
        if t.box is not None:
            width = t.box[2] - t.box[0]
            assert 95 <= width <= 320, (t.seed, width)
            assert t.box[3] <= 720


def test_low_light_is_dark() -> None:
    dark, _ = generate_scene(1, condition="low_light")
    normal, _ = generate_scene(1, condition="normal")
    assert dark.mean() < 0.5 * normal.mean()
