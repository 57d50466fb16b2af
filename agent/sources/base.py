"""The frame-source interface: an async iterator of ``(monotonic_ts, frame)`` with a health signal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import msgspec
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
Roi = tuple[int, int, int, int]


class SourceError(RuntimeError):
    """A source cannot be opened or read (Chinese message for the operator)."""


class SourceHealth(msgspec.Struct, frozen=True):
    """What the heartbeat reports about a camera or file source."""

    name: str
    connected: bool
    silent: bool
    frames: int
    reconnects: int
    errors: int
    last_frame_age_s: float | None = None
    last_error: str | None = None


@runtime_checkable
class FrameSource(Protocol):
    """A camera stream, video file or image folder.

    Iterating yields ``(time.monotonic() of capture, BGR frame)``. ``silent`` turns true when no
    frame arrived for the source's silence timeout (the "camera silent" alarm); ``roi`` is the lane's
    region of interest ``(x1, y1, x2, y2)`` in frame pixels, or ``None`` for the whole frame.
    """

    name: str
    roi: Roi | None

    def __aiter__(self) -> AsyncIterator[tuple[float, Frame]]:
        """Frames as they come."""
        ...

    @property
    def silent(self) -> bool:
        """No frame for longer than the silence timeout."""
        ...

    def health(self) -> SourceHealth:
        """Counters and state for heartbeats."""
        ...

    async def close(self) -> None:
        """Stop iterating and release the device or file."""
        ...
