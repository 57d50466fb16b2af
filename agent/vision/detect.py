"""Text detection with the PP-OCRv4 det model: a probability map turned into text boxes."""

from __future__ import annotations

import math

import cv2
import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

Image8 = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


class TextBox(msgspec.Struct, frozen=True):
    """A detected text line: rotated rectangle (centre, size, angle in degrees) and mean score."""

    cx: float
    cy: float
    w: float
    h: float
    angle: float
    score: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounds ``(x1, y1, x2, y2)`` of the rotated rectangle."""
        pts = cv2.boxPoints(((self.cx, self.cy), (self.w, self.h), self.angle))
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> TextBox:
        """The box in other coordinates: multiplied by ``factor``, then shifted."""
        return TextBox(
            self.cx * factor + dx, self.cy * factor + dy, self.w * factor, self.h * factor, self.angle, self.score
        )


def _normalise_rect(
    rect: tuple[tuple[float, float], tuple[float, float], float],
) -> tuple[float, float, float, float, float]:
    """minAreaRect output as (cx, cy, w, h, angle) with w the long, mostly horizontal side."""
    (cx, cy), (w, h), angle = rect
    if w < h:
        w, h = h, w
        angle += 90.0
    angle = ((angle + 90.0) % 180.0) - 90.0
    return cx, cy, w, h, angle


class TextDetector:
    """Run the det model on an image and return text boxes in that image's pixel coordinates.

    Thread-safe: holds only the onnxruntime session (``run`` may be called concurrently).
    """

    def __init__(self, session: ort.InferenceSession, threshold: float = 0.3, unclip: float = 1.5) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self.threshold = threshold
        self.unclip = unclip

    def probability_map(self, img: Image8) -> FloatArray:
        """Text probability map of ``img`` (BGR); padded to multiples of 32, cropped back."""
        h, w = img.shape[:2]
        ph, pw = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        x = np.zeros((1, 3, ph, pw), dtype=np.float32)
        x[0, :, :h, :w] = (img.astype(np.float32).transpose(2, 0, 1) - 127.5) / 127.5
        out = self._session.run(None, {self._input: x})[0]
        return np.asarray(out[0, 0, :h, :w], dtype=np.float32)

    def boxes(self, prob: FloatArray, min_size: float = 3.0) -> list[TextBox]:
        """Text boxes from a probability map, each grown by the unclip ratio as PP-OCR does."""
        binary = (prob > self.threshold).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        found: list[TextBox] = []
        for contour in contours:
            if len(contour) < 3:
                continue
            (rcx, rcy), (rw, rh), rangle = cv2.minAreaRect(contour)
            cx, cy, w, h, angle = _normalise_rect(((rcx, rcy), (rw, rh), rangle))
            if min(w, h) < min_size:
                continue
            x, y, bw, bh = cv2.boundingRect(contour)
            mask = np.zeros((bh, bw), np.uint8)
            cv2.fillPoly(mask, [contour - np.array([x, y])], 1)
            score = float(cv2.mean(prob[y : y + bh, x : x + bw], mask)[0])
            grow = w * h * self.unclip / (2 * (w + h))
            found.append(TextBox(cx, cy, w + 2 * grow, h + 2 * grow, angle, score))
        return found

    def detect(self, img: Image8, min_size: float = 3.0) -> list[TextBox]:
        """Text boxes of ``img`` in its own coordinates."""
        return self.boxes(self.probability_map(img), min_size)
