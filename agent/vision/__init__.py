"""Agent vision: licence-plate recognition on the rapidocr_onnxruntime models, voting across frames.

Public API: :class:`PlateRecognizer` (``recognize(frame, roi=None) -> list[PlateRead]``),
:class:`PlateRead`, :class:`PlateVoter` and :class:`VehicleRead`. See docs/vision.md.
"""

from __future__ import annotations

from agent.vision.recognizer import PlateRecognizer
from agent.vision.types import InvalidFrameError, PlateRead
from agent.vision.voter import PlateVoter, VehicleRead

__all__ = ["InvalidFrameError", "PlateRead", "PlateRecognizer", "PlateVoter", "VehicleRead"]
