"""Evidence kept with each pass: photos and a short clip from a ring buffer of recent frames."""

from __future__ import annotations

from agent.evidence.ring import FrameRing

__all__ = ["FrameRing"]
