"""Classes of our plate recognizer, CTC label handling and input preparation (numpy/OpenCV only: used
by training and by the agent, which has no torch)."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from agent.vision.decode import READ_ALPHABET

Image8 = npt.NDArray[np.uint8]

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


def to_line(img: Image8, double_row: bool, top_share: float = 0.36) -> Image8:
    """One text line of a plate crop: a double-row plate's two rows side by side at equal height."""
    if not double_row:
        return img
    h = img.shape[0]
    cut = max(1, round(h * top_share))
    top, bottom = img[:cut], img[cut:]
    size = (max(1, round(top.shape[1] * bottom.shape[0] / top.shape[0] * 0.6)), bottom.shape[0])
    top_row = np.asarray(cv2.resize(top, size), np.uint8)
    return np.ascontiguousarray(np.hstack([top_row, bottom]))


def normalise(line: Image8, width: int = INPUT_WIDTH) -> npt.NDArray[np.float32]:
    """BGR line crop → model input 3 × 32 × width, values in [-1, 1] (aspect kept, right-padded)."""
    h, w = line.shape[:2]
    new_w = max(4, min(width, round(w * INPUT_HEIGHT / h)))
    interpolation = cv2.INTER_AREA if h > INPUT_HEIGHT else cv2.INTER_LINEAR
    resized = cv2.resize(line, (new_w, INPUT_HEIGHT), interpolation=interpolation)
    out = np.zeros((3, INPUT_HEIGHT, width), np.float32)
    out[:, :, :new_w] = (resized.astype(np.float32).transpose(2, 0, 1) - 127.5) / 127.5
    return out
