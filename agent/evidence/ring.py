"""A ring buffer of recent JPEG frames per camera, from which a pass's clip is cut.

Frames are stored already JPEG-encoded at a reduced rate (``fps``), for at most ``seconds``; a
clip is the concatenation of the buffered JPEGs between two moments (``video/x-motion-jpeg``,
playable by common players and trivially split back into frames). No video codec is needed.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime

from agent.outbox.store import ClipData

__all__ = ["FrameRing"]


class FrameRing:
    """Recent frames of one camera, thread-safe."""

    def __init__(self, *, seconds: float = 20.0, fps: float = 4.0) -> None:
        """Keep at most ``seconds`` of frames, at most ``fps`` per second."""
        self.seconds = seconds
        self.min_gap = 1.0 / fps
        self._frames: deque[tuple[float, bytes]] = deque()
        self._lock = threading.Lock()

    def due(self, ts: float) -> bool:
        """Tell whether a frame taken at unix time ``ts`` should be buffered (rate limit)."""
        with self._lock:
            return not self._frames or ts - self._frames[-1][0] >= self.min_gap

    def push(self, ts: float, jpeg: bytes) -> None:
        """Buffer one encoded frame taken at unix time ``ts``."""
        with self._lock:
            self._frames.append((ts, jpeg))
            while self._frames and ts - self._frames[0][0] > self.seconds:
                self._frames.popleft()

    def latest(self) -> bytes | None:
        """The newest buffered frame."""
        with self._lock:
            return self._frames[-1][1] if self._frames else None

    def newest_ts(self) -> float | None:
        """Unix time of the newest buffered frame (None when empty)."""
        with self._lock:
            return self._frames[-1][0] if self._frames else None

    def clip(self, start: datetime, end: datetime) -> ClipData | None:
        """The frames between ``start`` and ``end`` as one motion-JPEG clip (None when empty)."""
        t0, t1 = start.timestamp(), end.timestamp()
        with self._lock:
            picked = [(ts, data) for ts, data in self._frames if t0 <= ts <= t1]
        if not picked:
            return None
        return ClipData(
            data=b"".join(data for _, data in picked),
            start=datetime.fromtimestamp(picked[0][0], UTC),
            end=datetime.fromtimestamp(picked[-1][0], UTC),
        )
