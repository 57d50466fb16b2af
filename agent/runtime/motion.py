"""Motion gate: recognise a camera frame only when something in the lane changed.

A gate camera sends 10–25 frames a second all day, and most of them show an empty lane. Running
the plate recognizer on every one of them keeps a core busy per lane for nothing (issue 4: the
agent must stay under one core on average while idle between vehicles). The gate compares a
small copy of each frame (the lane's region of interest when one is set) with

* the last frame that was recognised (*motion*: something moved since), and
* the *background*: the last recognised frame in which no plate was found (*presence*).

A frame is recognised when it moved, when something is present and ``present_probe_s`` has passed
since the last recognition (a truck waiting at the barrier is still re-read, slowly), or when
``idle_probe_s`` has passed whatever the picture (a slow change such as dusk re-baselines the
background). Skipped frames cost about a millisecond. A vehicle driving in differs from the
background in its first frame, so the gate adds no latency to the first read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import cv2
import numpy as np

if TYPE_CHECKING:
    from agent.sources.base import Frame, Roi

__all__ = ["MotionGate"]

#: Width of the small copy compared between frames (height follows the aspect).
SMALL_WIDTH: Final = 160


class MotionGate:
    """Decides per frame whether the recognizer needs to see it.

    Args:
        pixel_delta: a small-image pixel counts as changed when a colour channel moved by more.
        min_changed: fraction of small-image pixels that must change (at least 4 pixels).
        present_probe_s: re-read interval while something is present but nothing moves.
        idle_probe_s: re-read interval of an unchanged picture.
    """

    def __init__(
        self,
        *,
        pixel_delta: int = 18,
        min_changed: float = 0.002,
        present_probe_s: float = 0.5,
        idle_probe_s: float = 2.0,
    ) -> None:
        """Set the thresholds."""
        self.pixel_delta = pixel_delta
        self.min_changed = min_changed
        self.present_probe_s = present_probe_s
        self.idle_probe_s = idle_probe_s
        self.skipped = 0
        self.passed = 0
        self._last: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self._last_run = float("-inf")
        self._pending: np.ndarray | None = None

    @staticmethod
    def small(frame: Frame, roi: Roi | None = None) -> np.ndarray:
        """The downscaled copy of ``frame`` (its ROI when set) that the gate compares."""
        if roi is not None:
            x1, y1, x2, y2 = roi
            crop = frame[max(0, y1) : y2, max(0, x1) : x2]
            if crop.size:
                frame = crop
        h, w = frame.shape[:2]
        scale = SMALL_WIDTH / max(1, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)

    def _changed(self, a: np.ndarray, b: np.ndarray | None) -> bool:
        if b is None or a.shape != b.shape:
            return True
        diff = cv2.absdiff(a, b)
        if diff.ndim == 3:
            diff = diff.max(axis=2)
        changed = int(np.count_nonzero(diff > self.pixel_delta))
        return changed >= max(4, int(self.min_changed * diff.size))

    def wants(self, frame: Frame, roi: Roi | None, now: float) -> bool:
        """Whether ``frame`` (taken at monotonic ``now``) should be recognised; call :meth:`ran` after."""
        small = self.small(frame, roi)
        since = now - self._last_run
        run = (
            self._changed(small, self._last)
            or (since >= self.present_probe_s and self._changed(small, self._background))
            or since >= self.idle_probe_s
        )
        if run:
            self._pending = small
            self.passed += 1
        else:
            self.skipped += 1
        return run

    def ran(self, now: float, *, found: bool) -> None:
        """The frame :meth:`wants` let through was recognised; ``found``: it held a plate."""
        if self._pending is None:
            return
        self._last = self._pending
        if not found:
            self._background = self._pending
        self._last_run = now
        self._pending = None
