"""Run our exported plate recognizer with onnxruntime (no torch in the agent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from agent.vision.training.charset import greedy_decode
from agent.vision.training.data import normalise, to_line
from hj1321.plates import is_valid_plate

Image8 = npt.NDArray[np.uint8]


class OwnPlateReader:
    """Read upright plate crops (BGR) with the model from ``agent.vision.training.train``."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def read(self, crop: Image8, double_row: bool = False) -> tuple[str | None, float]:
        """The plate (None unless grammar-valid) and its confidence (geometric mean of characters)."""
        line = to_line(crop, double_row)
        x = normalise(line, 256 if double_row else 128)[None]
        logits = self._session.run(None, {"x": x})[0][0]
        text, conf = greedy_decode(np.asarray(logits, np.float32))
        if not text or not is_valid_plate(text):
            return None, 0.0
        return text, float(np.exp(np.mean(np.log(np.maximum(conf, 1e-9)))))
