"""The lane's late clip (ADR 0020): cut after the barrier command from a real FrameRing, stored as an
outbox attachment; a normal stop cuts waiting clips at once; a stalled camera does not hold them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from agent.devices.types import BarrierStatus
from agent.evidence.ring import FrameRing
from agent.outbox import AttachmentStatus, Outbox
from agent.runtime.pipeline import LATE_CLIP_GRACE_S, LanePipeline, LaneRead
from agent.runtime.virtual import VirtualBarrier
from hj1321.plates import PlateColour
from tests.agent.lane_kit import KNOWN, make_lane

pytestmark = pytest.mark.anyio

FPS = 20.0


class RecordingBarrier(VirtualBarrier):
    """Notes, at each open command, the late clip attachments the outbox already held."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__("test-barrier")
        self.outbox = outbox
        self.attachments_at_open: list[int] = []

    async def open(self) -> BarrierStatus:
        self.attachments_at_open.append(len(self.outbox.attachments()))
        return await super().open()


def _lane(outbox: Outbox, ring: FrameRing, barrier: VirtualBarrier, after_s: float) -> LanePipeline:
    return make_lane(outbox, barrier, clips=ring, clip_before_s=0.5, clip_after_s=after_s)


def _frame(ts: float) -> bytes:
    return b"\xff\xd8\xff" + f"{ts:.3f}".encode() + b"\xff\xd9"


async def _camera(ring: FrameRing, seconds: float) -> None:
    """Push frames in real time (wall clock), as a camera source does."""
    end = time.time() + seconds
    while (now := time.time()) < end:
        ring.push(now, _frame(now))
        await asyncio.sleep(1.0 / FPS)


def _times(data: bytes) -> list[float]:
    return [float(part.split(b"\xff\xd9")[0]) for part in data.split(b"\xff\xd8\xff")[1:]]


async def _wait(outbox: Outbox, limit_s: float) -> None:
    """Until the late clip is cut (its attachment leaves ``cutting``)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if any(a.status is not AttachmentStatus.CUTTING for a in outbox.attachments()):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError


async def test_late_clip_covers_before_and_after_and_never_precedes_the_barrier(outbox: Outbox) -> None:
    ring = FrameRing(seconds=10.0, fps=FPS)
    barrier = RecordingBarrier(outbox)
    lane = _lane(outbox, ring, barrier, after_s=1.0)
    camera = asyncio.create_task(_camera(ring, 3.0))
    await asyncio.sleep(0.8)  # the approach
    moment = datetime.now(UTC)
    event = await lane.handle_read(
        LaneRead(read_id="r1", plate=KNOWN, colour=PlateColour.YELLOW, confidence=0.97, moment=moment)
    )
    assert event is not None
    assert barrier.attachments_at_open == [0]  # the barrier command went first
    sealed = event.evidence.clip
    assert sealed is not None
    assert sealed.end <= moment + timedelta(seconds=0.5)  # the sealed clip: what the ring held at commit
    await _wait(outbox, 5.0)
    camera.cancel()
    [late] = outbox.attachments(event.event_id)
    assert late.status is AttachmentStatus.PENDING
    assert late.clip is not None
    data = outbox.read_blob(late.clip.sha256)
    assert data is not None
    times = _times(data)
    t = moment.timestamp()
    assert min(times) >= t - 0.5
    assert max(times) <= t + 1.0
    assert sum(1 for x in times if x > t) >= FPS * 0.8  # ~1 s of frames after the pass
    assert sum(1 for x in times if x < t) >= FPS * 0.4  # and the 0.5 s before it
    assert late.clip.start < event.occurred_at < late.clip.end
    assert outbox.get(event.event_id) == event  # the sealed event never changes


async def test_stop_cuts_waiting_clips_with_the_frames_so_far(outbox: Outbox) -> None:
    ring = FrameRing(seconds=60.0, fps=FPS)
    lane = _lane(outbox, ring, VirtualBarrier("gate"), after_s=30.0)
    camera = asyncio.create_task(_camera(ring, 1.0))
    await asyncio.sleep(0.6)
    event = await lane.handle_read(
        LaneRead(read_id="r1", plate=KNOWN, colour=PlateColour.YELLOW, confidence=0.97, moment=datetime.now(UTC))
    )
    assert event is not None
    await asyncio.sleep(0.3)
    assert [a.status for a in outbox.attachments()] == [AttachmentStatus.CUTTING]
    started = time.monotonic()
    assert await lane.flush_clips() == 1
    assert time.monotonic() - started < 5.0  # not the 30 s the clip would have waited
    camera.cancel()
    [late] = outbox.attachments(event.event_id)
    assert late.status is AttachmentStatus.PENDING
    assert late.clip is not None
    assert late.clip.end > event.occurred_at  # the frames after the pass that existed at the stop


async def test_stalled_camera_does_not_hold_the_clip(outbox: Outbox) -> None:
    ring = FrameRing(seconds=10.0, fps=FPS)
    lane = _lane(outbox, ring, VirtualBarrier("gate"), after_s=0.5)
    await _camera(ring, 0.6)  # then the camera stops sending
    started = time.monotonic()
    event = await lane.handle_read(
        LaneRead(read_id="r1", plate=KNOWN, colour=PlateColour.YELLOW, confidence=0.97, moment=datetime.now(UTC))
    )
    assert event is not None
    await _wait(outbox, 0.5 + LATE_CLIP_GRACE_S + 3.0)
    assert time.monotonic() - started >= 0.5  # it did wait for the frames after the pass
    [late] = outbox.attachments(event.event_id)
    assert late.status is AttachmentStatus.PENDING  # cut with the frames before the pass
    assert late.clip is not None
    assert late.clip.end <= event.occurred_at
