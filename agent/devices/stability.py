"""Stable-weight detection: N readings within ±tolerance over a time window, one report per plateau."""

from __future__ import annotations

from collections import deque
from typing import Annotated

import msgspec

from agent.devices.types import StableWeight, WeightReading

_Seconds = Annotated[float, msgspec.Meta(gt=0, le=60)]
_Kg = Annotated[float, msgspec.Meta(ge=0, le=100_000)]


class StabilitySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When a weight counts as stable.

    Attributes:
        window_s: the readings must stay in the band for at least this many seconds.
        tolerance_kg: every reading in the window lies within ±tolerance_kg of the window's mean.
        min_readings: at least this many readings in the window.
        min_weight_kg: plateaus below this are an empty scale and never reported.
        rearm_kg: after a report, a new plateau is reported only if it differs by more than this,
            or the scale was empty in between.
        max_gap_s: a longer silence between readings restarts the window.
        require_indicator_stable: ignore readings the indicator flags as "in motion" (Toledo).
    """

    window_s: _Seconds = 2.0
    tolerance_kg: _Kg = 20.0
    min_readings: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    min_weight_kg: _Kg = 500.0
    rearm_kg: _Kg = 200.0
    max_gap_s: _Seconds = 1.0
    require_indicator_stable: bool = False


class StabilityDetector:
    """Feeds on readings and returns a :class:`StableWeight` once per settled load."""

    def __init__(self, settings: StabilitySettings | None = None) -> None:
        self.settings = settings or StabilitySettings()
        self._window: deque[WeightReading] = deque()
        self._last_reported: float | None = None

    @property
    def empty(self) -> bool:
        """True when the newest reading is below the empty-scale threshold (or nothing was read)."""
        return not self._window or self._window[-1].kg < self.settings.min_weight_kg

    def reset(self) -> None:
        """Forget the window (after a reconnect); the last reported plateau is kept."""
        self._window.clear()

    def feed(self, reading: WeightReading) -> StableWeight | None:
        """Add one reading; return a stable weight when this reading completes a new plateau."""
        cfg = self.settings
        if cfg.require_indicator_stable and reading.indicator_stable is False:
            self._window.clear()
            return None
        window = self._window
        if window and reading.monotonic - window[-1].monotonic > cfg.max_gap_s:
            window.clear()
        window.append(reading)
        if reading.kg < cfg.min_weight_kg:
            self._last_reported = None  # empty scale: the next load is new even at the same weight
            window.clear()
            window.append(reading)
            return None
        # keep one reading at or before the window start so the span can be measured
        while len(window) > 1 and window[1].monotonic <= reading.monotonic - cfg.window_s:
            window.popleft()
        weights = [r.kg for r in window]
        mean = sum(weights) / len(weights)
        if max(abs(w - mean) for w in weights) > cfg.tolerance_kg:
            # drop the oldest readings until the rest fit the band again
            while len(window) > 1:
                window.popleft()
                rest = [r.kg for r in window]
                rest_mean = sum(rest) / len(rest)
                if max(abs(w - rest_mean) for w in rest) <= cfg.tolerance_kg:
                    break
            return None
        span = reading.monotonic - window[0].monotonic
        if span < cfg.window_s or len(window) < cfg.min_readings:
            return None
        if self._last_reported is not None and abs(mean - self._last_reported) <= cfg.rearm_kg:
            return None
        self._last_reported = mean
        return StableWeight(
            kg=sorted(weights)[(len(weights) - 1) // 2],
            min_kg=min(weights),
            max_kg=max(weights),
            readings=len(weights),
            started=window[0].monotonic,
            monotonic=reading.monotonic,
            at=reading.at,
        )
