"""Stable-weight detection on synthetic reading sequences (pure, no I/O)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from agent.devices.stability import StabilityDetector, StabilitySettings
from agent.devices.types import StableWeight, WeightReading

_AT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _feed(detector: StabilityDetector, samples: list[tuple[float, float]], **flags: bool) -> list[StableWeight]:
    out = []
    for t, kg in samples:
        stable = detector.feed(WeightReading(kg=kg, monotonic=t, at=_AT, **flags))
        if stable is not None:
            out.append(stable)
    return out


def _series(start: float, seconds: float, kg: float, noise: float = 0.0, hz: float = 10.0) -> list[tuple[float, float]]:
    rng = random.Random(7)
    n = int(seconds * hz)
    return [(start + i / hz, kg + rng.uniform(-noise, noise)) for i in range(n)]


def _ramp(start: float, seconds: float, a: float, b: float, hz: float = 10.0) -> list[tuple[float, float]]:
    n = int(seconds * hz)
    return [(start + i / hz, a + (b - a) * i / n) for i in range(n)]


def test_truck_settles_once() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=2.0, tolerance_kg=20, min_readings=5))
    samples = _series(0, 1, 0) + _ramp(1, 2, 0, 32_000) + _series(3, 6, 32_000, noise=15)
    stables = _feed(detector, samples)
    assert len(stables) == 1
    stable = stables[0]
    assert abs(stable.kg - 32_000) <= 15
    assert stable.monotonic - stable.started >= 2.0
    assert stable.monotonic < 5.5  # reported soon after the window filled


def test_noise_beyond_tolerance_is_never_stable() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=1.0, tolerance_kg=20))
    assert _feed(detector, _series(0, 5, 20_000, noise=200)) == []


def test_empty_scale_is_not_reported_and_rearms() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=1.0, min_weight_kg=500))
    first = _feed(detector, _series(0, 2, 0) + _series(2, 3, 15_000))
    again = _feed(detector, _series(5, 2, 0) + _series(7, 3, 15_000))
    assert [s.kg for s in first] == [15_000]
    assert [s.kg for s in again] == [15_000]
    assert detector.empty is False


def test_load_change_beyond_rearm_is_a_new_plateau() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=1.0, rearm_kg=200))
    stables = _feed(detector, _series(0, 3, 20_000) + _series(3, 3, 20_100) + _series(6, 3, 24_000))
    assert [s.kg for s in stables] == [20_000, 24_000]


def test_gap_in_readings_restarts_window() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=2.0, max_gap_s=0.5))
    samples = _series(0, 1.5, 10_000) + _series(3.0, 1.5, 10_000)
    assert _feed(detector, samples) == []


def test_min_readings_required() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=1.0, min_readings=8, max_gap_s=2))
    assert _feed(detector, _series(0, 3, 9_000, hz=2)) == []


def test_indicator_motion_flag_can_veto() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=1.0, require_indicator_stable=True))
    assert _feed(detector, _series(0, 3, 9_000), indicator_stable=False) == []
    assert [s.kg for s in _feed(detector, _series(3, 3, 9_000), indicator_stable=True)] == [9_000]


def test_reported_weight_is_a_shown_value() -> None:
    detector = StabilityDetector(StabilitySettings(window_s=1.0))
    samples = [(i / 10, 31_990.0 if i % 3 else 32_010.0) for i in range(30)]
    stables = _feed(detector, samples)
    assert [s.kg for s in stables] in ([31_990.0], [32_010.0])
