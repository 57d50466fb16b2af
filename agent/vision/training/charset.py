"""Classes of our plate recognizer and CTC label handling (numpy only, used by training and the agent)."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from agent.vision.decode import READ_ALPHABET

#: Class 0 is the CTC blank; class i (i >= 1) is ``CHARSET[i - 1]``.
CHARSET: Final = READ_ALPHABET
NUM_CLASSES: Final = len(CHARSET) + 1
_INDEX: Final = {c: i + 1 for i, c in enumerate(CHARSET)}
#: Input height of the model (pixels); width is free (a multiple of 4).
INPUT_HEIGHT: Final = 32
#: Width a single-row plate is resized to for training (plates are about 3.1:1, double rows 2x wider).
INPUT_WIDTH: Final = 128


def encode(plate: str) -> list[int]:
    """Class indices of a canonical plate (every character must be in :data:`CHARSET`)."""
    return [_INDEX[c] for c in plate]


def greedy_decode(logits: npt.NDArray[np.float32]) -> tuple[str, list[float]]:
    """Best path of one line's output (T × classes, log-probabilities or logits): text and each
    emitted character's probability (softmax maximum over its frames)."""
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    path = probs.argmax(axis=1)
    text: list[str] = []
    conf: list[float] = []
    prev = 0
    for t, cls in enumerate(path.tolist()):
        if cls not in (0, prev):
            text.append(CHARSET[cls - 1])
            conf.append(float(probs[t, cls]))
        elif cls != 0 and cls == prev and conf:
            conf[-1] = max(conf[-1], float(probs[t, cls]))
        prev = cls
    return "".join(text), conf
