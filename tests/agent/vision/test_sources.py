"""Frame sources: folder, video file, stream reconnect with backoff, camera-silent signal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import cv2
import numpy as np
import pytest

from agent.sources import FileSource, FolderSource, FrameSource, SourceError, StreamSource, open_source, read_image
from agent.synth import write_lane_video

pytestmark = pytest.mark.anyio


async def test_folder_source_skips_broken_files(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((40, 60, 3), i * 50, np.uint8))
    (tmp_path / "3.jpg").write_bytes(b"")
    (tmp_path / "4.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "notes.txt").write_text("x")
    source = FolderSource(tmp_path, roi=(0, 0, 30, 30))
    assert isinstance(source, FrameSource)
    frames = [frame async for _, frame in source]
    assert len(frames) == 3
    health = source.health()
    assert health.frames == 3
    assert health.errors == 2
    assert "图像" in (health.last_error or "")
    assert source.roi == (0, 0, 30, 30)


async def test_file_source_reads_a_lane_video(tmp_path: Path) -> None:
    path = tmp_path / "lane.avi"
    truth = write_lane_video(path, ["鄂A12345"], fps=5, seconds_per_vehicle=1.0, gap_s=0.4, seed=1)
    assert truth[0].plate == "鄂A12345"
    source = open_source(str(path))
    assert isinstance(source, FileSource)
    stamps = [ts async for ts, frame in source if frame.shape == (720, 1280, 3)]
    assert len(stamps) == truth[0].last_frame + 1 + 2
    assert stamps == sorted(stamps)


async def test_file_source_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="为空"):
        [f async for f in FileSource(empty)]
    with pytest.raises(SourceError, match="不存在"):
        [f async for f in FileSource(tmp_path / "missing.avi")]
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError):
        [f async for f in FileSource(junk)]


class _FakeCapture:
    """Fails to open twice, then serves 3 frames, then dies."""

    opens = 0

    def __init__(self, url: str) -> None:
        type(self).opens += 1
        self.ok = type(self).opens > 2
        self.left = 3

    def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
        return self.ok

    def read(self) -> tuple[bool, Any]:
        time.sleep(0.01)  # a camera's frame interval: the consumer keeps up and sees every frame
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.zeros((20, 20, 3), np.uint8)

    def release(self) -> None:
        pass


async def test_stream_reconnects_with_backoff_and_reports_silence() -> None:
    _FakeCapture.opens = 0
    source = StreamSource(
        "rtsp://camera/1", silent_after_s=0.05, backoff_s=0.01, backoff_max_s=0.02, capture_factory=_FakeCapture
    )
    assert source.silent is False or source.health().frames == 0
    got = 0
    async for _ts, _frame in source:
        got += 1
        if got == 3:
            break
    health = source.health()
    assert health.reconnects == 2
    assert health.connected
    assert health.errors == 2
    assert "无法连接" in (health.last_error or "")
    await anyio.sleep(0.06)
    assert source.silent
    assert source.health().silent
    await source.close()
    assert not source.health().connected


class _FastCamera:
    """A 200 fps camera whose frames carry their number (pixel value), 60 frames then the end."""

    def __init__(self, url: str) -> None:
        self.n = 0

    def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
        return True

    def read(self) -> tuple[bool, Any]:
        time.sleep(0.005)
        if self.n >= 60:
            return False, None
        self.n += 1
        return True, np.full((4, 4, 3), self.n, np.uint8)

    def release(self) -> None:
        pass


async def test_slow_consumer_gets_the_newest_frame_not_a_backlog() -> None:
    source = StreamSource("rtsp://camera/fast", backoff_s=5.0, capture_factory=_FastCamera)
    seen: list[int] = []
    async for _ts, frame in source:
        seen.append(int(frame[0, 0, 0]))
        await anyio.sleep(0.05)  # recognition slower than the camera: ~10 camera frames per consumed one
        if len(seen) == 4:
            break
    await source.close()
    assert seen == sorted(seen)
    assert seen[-1] - seen[0] >= 15  # it skipped ahead with the camera instead of reading 1, 2, 3, 4
    assert source.dropped >= 15
    assert source.health().frames >= seen[-1]


async def test_dead_stream_stays_silent_without_crashing() -> None:
    source = StreamSource(
        "rtsp://127.0.0.1:9/none",
        silent_after_s=0.05,
        backoff_s=0.01,
        backoff_max_s=0.01,
        capture_factory=lambda url: None,
    )
    frames = 0

    async def consume() -> None:
        nonlocal frames
        async for _ in source:
            frames += 1

    with anyio.move_on_after(0.2):
        await consume()
    await source.close()
    assert frames == 0
    assert source.silent
    assert source.health().reconnects >= 3


def test_read_image_errors(tmp_path: Path) -> None:
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(SourceError, match="为空"):
        read_image(tmp_path / "zero.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG junk")
    with pytest.raises(SourceError, match="无法解码"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(SourceError, match="不存在"):
        read_image(tmp_path / "nope.png")
