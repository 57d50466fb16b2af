"""Run our exported plate recognizer with onnxruntime (no torch in the agent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from agent.vision.training.charset import INPUT_WIDTH, greedy_decode, normalise, to_line
from hj1321.plates import is_valid_plate

Image8 = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class OwnRead:
    """A grammar-valid plate read by our model: text, each character's probability, and their
    geometric mean (``confidence``)."""

    plate: str
    char_confidences: tuple[float, ...]
    confidence: float


class OwnPlateReader:
    """Read upright plate crops (BGR) with the model from ``agent.vision.training.train``."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def read(self, crop: Image8, *, double_row: bool = False) -> OwnRead | None:
        """The plate in ``crop`` (a double-row plate: both rows), or None unless grammar-valid."""
        if min(crop.shape[:2]) < 4:
            return None
        line = to_line(crop, double_row)
        x = normalise(line, INPUT_WIDTH * (2 if double_row else 1))[None]
        logits = self._session.run(None, {"x": x})[0][0]
        text, conf = greedy_decode(np.asarray(logits, np.float32))
        if not text or not is_valid_plate(text):
            return None
        mean = float(np.exp(np.mean(np.log(np.maximum(conf, 1e-9)))))
        return OwnRead(text, tuple(round(p, 4) for p in conf), mean)
