"""Scriptable weight profiles for the weighbridge simulator: a truck drives on, settles and drives off."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Ramp:
    """Move linearly to ``to_kg`` over ``seconds``."""

    to_kg: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Hold:
    """Stay at the current weight for ``seconds``, with uniform noise of ±``noise_kg``."""

    seconds: float
    noise_kg: float = 0.0


Segment = Ramp | Hold


@dataclass(slots=True)
class ScaleProfile:
    """A sequence of segments starting from ``start_kg``; after the last one the weight stays put."""

    segments: list[Segment]
    start_kg: float = 0.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def duration(self) -> float:
        """Seconds until the last segment ends."""
        return sum(segment.seconds for segment in self.segments)

    @property
    def final_kg(self) -> float:
        """The weight after the last segment."""
        weight = self.start_kg
        for segment in self.segments:
            if isinstance(segment, Ramp):
                weight = segment.to_kg
        return weight

    def weight_at(self, t: float) -> float:
        """The weight ``t`` seconds after the profile started (noise included)."""
        weight = self.start_kg
        elapsed = 0.0
        for segment in self.segments:
            if t < elapsed + segment.seconds:
                into = t - elapsed
                if isinstance(segment, Ramp):
                    return weight + (segment.to_kg - weight) * into / segment.seconds
                return weight + self._rng.uniform(-segment.noise_kg, segment.noise_kg)
            elapsed += segment.seconds
            if isinstance(segment, Ramp):
                weight = segment.to_kg
        return weight

    @classmethod
    def truck(
        cls,
        kg: float,
        *,
        ramp_s: float = 1.5,
        settle_s: float = 0.8,
        hold_s: float = 3.0,
        noise_kg: float = 10.0,
        leave: bool = True,
        seed: int = 0,
    ) -> ScaleProfile:
        """A truck of ``kg`` drives on (ramp with bounce while settling), stands still, drives off."""
        segments: list[Segment] = [
            Ramp(kg * 1.02, ramp_s),
            Hold(settle_s, noise_kg=max(kg * 0.01, noise_kg)),
            Ramp(kg, 0.2),
            Hold(hold_s, noise_kg=noise_kg),
        ]
        if leave:
            segments.append(Ramp(0.0, ramp_s))
        return cls(segments, seed=seed)
