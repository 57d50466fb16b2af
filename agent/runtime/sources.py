"""Read sources for a lane: the camera pipeline (frames → recognizer → voter) and a spool file.

The spool source reads JSON lines (one vehicle read per line) from a file that another process
appends to; it is used by the demo, the crash soak and tests. Each line::

    {"read_id": "r-42", "plate": "鄂A12345", "colour": "yellow", "confidence": 0.97, "photo_size": 4000}

A restarted agent re-reads the spool from the start; the outbox stores each ``read_id`` once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec
import structlog

from agent.ops.metrics import recognize_timed
from agent.outbox.store import PhotoData
from agent.runtime.pipeline import LaneRead, monotonic_to_utc
from agent_protocol.events import SnapshotRole, new_event_id
from hj1321.plates import PlateColour

if TYPE_CHECKING:
    from agent.evidence.ring import FrameRing
    from agent.runtime.motion import MotionGate
    from agent.sources.base import Frame, FrameSource
    from agent.vision.recognizer import PlateRecognizer
    from agent.vision.types import PlateRead
    from agent.vision.voter import PlateVoter, VehicleRead

__all__ = ["SpoolLine", "SpoolReadSource", "VisionReadSource"]

log = structlog.get_logger(__name__)


class SpoolLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of a spool file."""

    read_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    plate: str | None = None
    colour: PlateColour | None = None
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.95
    internal_code: str | None = None
    photo_size: Annotated[int, msgspec.Meta(ge=0, le=5_000_000)] = 0
    at: datetime | None = None
    cargo: Annotated[str, msgspec.Meta(max_length=64)] | None = None


_LINE = msgspec.json.Decoder(SpoolLine)


def _fake_photo(read_id: str, size: int) -> bytes:
    seed = hashlib.sha256(read_id.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class SpoolReadSource:
    """Tails a JSON-lines spool file; malformed lines are logged and skipped, never fatal."""

    def __init__(self, path: Path, *, poll_s: float = 0.05) -> None:
        """Read ``path`` (created by the writer; waited for if absent)."""
        self.path = path
        self.poll_s = poll_s
        self.bad_lines = 0

    async def reads(self) -> AsyncIterator[LaneRead]:
        """Every line, then new lines as they are appended."""
        while not self.path.exists():  # noqa: ASYNC110 - polling a file another process creates
            await asyncio.sleep(self.poll_s)
        with self.path.open("rb") as fh:
            buffer = b""
            while True:
                chunk = fh.readline()
                if not chunk:
                    await asyncio.sleep(self.poll_s)
                    continue
                buffer += chunk
                if not buffer.endswith(b"\n"):
                    continue  # a line still being written
                line, buffer = buffer.strip(), b""
                if not line:
                    continue
                try:
                    item = _LINE.decode(line)
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    self.bad_lines += 1
                    log.warning("spool.bad_line", path=str(self.path), error=str(exc))
                    continue
                photos = (
                    (PhotoData(role=SnapshotRole.SCENE, data=_fake_photo(item.read_id, item.photo_size)),)
                    if item.photo_size
                    else ()
                )
                yield LaneRead(
                    read_id=item.read_id,
                    plate=item.plate,
                    colour=item.colour,
                    confidence=item.confidence,
                    moment=item.at or datetime.now(UTC),
                    internal_code=item.internal_code,
                    photos=photos,
                    cargo=item.cargo,
                )


def _encode_jpeg(frame: Frame, quality: int) -> bytes | None:
    import cv2  # noqa: PLC0415 - OpenCV is heavy; only the camera path needs it

    ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    return bytes(buf.tobytes()) if ok else None


class VisionReadSource:
    """Frames of one camera → plate recognizer (in a worker thread) → voter → lane reads.

    Every frame also feeds the evidence ring buffer (at its reduced rate); a read carries the
    scene photo of the frame where the track ended and the plate crop.
    """

    def __init__(
        self,
        *,
        lane_id: str,
        frames: FrameSource,
        recognizer: PlateRecognizer,
        voter: PlateVoter,
        ring: FrameRing | None = None,
        jpeg_quality: int = 80,
        gate: MotionGate | None = None,
    ) -> None:
        """Wire a camera to recognition and voting (``gate``: skip frames where nothing changed)."""
        self.lane_id = lane_id
        self.frames = frames
        self.recognizer = recognizer
        self.voter = voter
        self.ring = ring
        self.jpeg_quality = jpeg_quality
        self.gate = gate
        self._last_frame: Frame | None = None

    def _to_read(self, vr: VehicleRead) -> LaneRead:
        photos: list[PhotoData] = []
        frame = self._last_frame
        if frame is not None:
            scene = _encode_jpeg(frame, self.jpeg_quality)
            if scene:
                photos.append(PhotoData(role=SnapshotRole.SCENE, data=scene))
            x1, y1, x2, y2 = vr.box
            crop = frame[max(0, y1) : y2, max(0, x1) : x2]
            if crop.size:
                plate_jpeg = _encode_jpeg(crop, 90)
                if plate_jpeg:
                    photos.append(PhotoData(role=SnapshotRole.PLATE, data=plate_jpeg))
        colour = PlateColour(vr.colour) if vr.colour in PlateColour._value2member_map_ else None
        return LaneRead(
            read_id=new_event_id(),
            plate=vr.plate or None,
            colour=colour,
            confidence=vr.confidence,
            moment=monotonic_to_utc(vr.last_ts),
            photos=tuple(photos),
            needs_review=vr.needs_review,
        )

    async def keep_evidence(self, ts: float, frame: Frame) -> None:
        """Feed the clip ring buffer (at its own reduced rate)."""
        wall = time.time() - (time.monotonic() - ts)
        if self.ring is not None and self.ring.due(wall):
            jpeg = await asyncio.to_thread(_encode_jpeg, frame, self.jpeg_quality)
            if jpeg:
                self.ring.push(wall, jpeg)

    async def recognise(self, ts: float, frame: Frame) -> list[PlateRead]:
        """The plate reads of one frame; none (without running the models) when the motion gate skips it."""
        if self.gate is not None and not self.gate.wants(frame, self.frames.roi, ts):
            return []
        self._last_frame = frame
        reads: list[PlateRead] = await asyncio.to_thread(
            recognize_timed, self.recognizer, frame, self.frames.roi, self.lane_id
        )
        if self.gate is not None:
            self.gate.ran(ts, found=bool(reads))
        return reads

    async def reads(self) -> AsyncIterator[LaneRead]:
        """Consensus reads as vehicles pass; the camera is released when the lane stops (or fails)."""
        try:
            async for ts, frame in self.frames:
                await self.keep_evidence(ts, frame)
                plate_reads = await self.recognise(ts, frame)
                # Skipped frames feed no reads: the voter still sees time pass and ends idle tracks.
                for vr in self.voter.feed(plate_reads, ts, lane=self.lane_id):
                    yield self._to_read(vr)
            for vr in self.voter.flush():
                yield self._to_read(vr)
        finally:
            # A grabber thread left inside FFmpeg at interpreter exit aborts the process
            # ("FATAL: exception not rethrown", exit -6 after SIGTERM; found by the soak's camera lane).
            await self.frames.close()
