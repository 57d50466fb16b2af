"""Result types of plate recognition."""

from __future__ import annotations

import msgspec


class PlateRead(msgspec.Struct, frozen=True):
    """One plate read in one frame (or one picture).

    ``plate`` is canonical (``hj1321.plates.canonical_plate``), ``colour`` a canonical colour name,
    ``confidence`` in 0–1, ``box`` the plate's ``[x1, y1, x2, y2]`` in frame pixels, ``ms`` the time
    the whole frame took. ``needs_review`` marks reads below the review threshold for the guard.
    """

    plate: str
    colour: str
    confidence: float
    box: tuple[int, int, int, int]
    ms: float = 0.0
    char_confidences: tuple[float, ...] = ()
    double_row: bool = False
    needs_review: bool = False
    source: str = ""

    def to_json_line(self) -> dict[str, object]:
        """The keys ``ecogate agent recognize`` prints (and nothing else)."""
        return {
            "plate": self.plate,
            "colour": self.colour,
            "confidence": round(self.confidence, 4),
            "box": list(self.box),
            "ms": round(self.ms, 1),
            "source": self.source,
        }


class InvalidFrameError(ValueError):
    """The frame is no image (None, empty, wrong shape or type)."""
