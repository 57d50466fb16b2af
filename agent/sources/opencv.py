"""OpenCV frame sources: RTSP/HTTP camera streams, video files and image folders.

Blocking OpenCV calls (open, read, decode) run in worker threads (``asyncio.to_thread``) so the
agent's event loop stays responsive. Streams reconnect with the shared backoff and report
``silent`` after ``silent_after_s`` without a frame; files and folders end when they are exhausted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np

from agent.sources.base import Frame, Roi, SourceError, SourceHealth
from agent_protocol.backoff import Backoff

IMAGE_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES: Final = frozenset({".avi", ".mp4", ".mkv", ".mov", ".m4v", ".flv", ".ts", ".webm", ".mpg", ".mpeg"})
STREAM_SCHEMES: Final = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def read_image(path: str | Path) -> Frame:
    """Decode an image file (any path, also non-ASCII) to BGR.

    Raises:
        SourceError: the file is missing, empty or no decodable image.
    """
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"文件不存在: {p}")
    data = p.read_bytes()
    if not data:
        raise SourceError(f"图像文件为空: {p}")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise SourceError(f"无法解码图像: {p}")
    return np.asarray(img, dtype=np.uint8)


class _Base:
    """Shared health bookkeeping."""

    def __init__(self, name: str, roi: Roi | None, silent_after_s: float) -> None:
        self.name = name
        self.roi = roi
        self.silent_after_s = silent_after_s
        self._started = time.monotonic()
        self._last_frame: float | None = None
        self._frames = 0
        self._reconnects = 0
        self._errors = 0
        self._last_error: str | None = None
        self._connected = False
        self._closed = False

    def mark_frame(self) -> float:
        now = time.monotonic()
        self._last_frame = now
        self._frames += 1
        return now

    def mark_error(self, message: str) -> None:
        self._errors += 1
        self._last_error = message

    @property
    def silent(self) -> bool:
        """No frame for longer than ``silent_after_s`` (counted from start before the first frame)."""
        since = self._last_frame if self._last_frame is not None else self._started
        return time.monotonic() - since > self.silent_after_s

    def health(self) -> SourceHealth:
        """Counters and state for heartbeats."""
        age = None if self._last_frame is None else time.monotonic() - self._last_frame
        return SourceHealth(
            name=self.name,
            connected=self._connected,
            silent=self.silent,
            frames=self._frames,
            reconnects=self._reconnects,
            errors=self._errors,
            last_frame_age_s=age,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Stop iterating."""
        self._closed = True


CaptureFactory = Callable[[str], Any]


def open_capture(url: str, timeout_s: float = 5.0) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` with open and read timeouts, so a dead camera cannot block a worker
    thread for FFmpeg's default of tens of seconds."""
    ms = int(timeout_s * 1000)
    return cv2.VideoCapture(url, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])


class StreamSource(_Base):
    """A camera stream read with ``cv2.VideoCapture``, reconnecting with the shared backoff (full jitter).

    A grabber thread reads the stream continuously and keeps only the newest frame: a consumer that
    is slower than the camera (recognition takes longer than a frame interval) gets the latest
    picture, never a backlog that grows in the capture's buffers (issue 4: the barrier decision
    must be about the vehicle now in front of the camera, not one from seconds ago). Frames the
    consumer never saw are counted in ``dropped``.

    Args:
        url: ``rtsp://…``, ``http://…`` (MJPEG) or anything VideoCapture opens.
        silent_after_s: the "camera silent" signal after this long without a frame.
        backoff_s / backoff_max_s: first and longest wait between reconnect attempts.
        max_fps: drop frames above this rate (0: no limit).
        capture_factory: builds the capture (tests pass a fake).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        roi: Roi | None = None,
        silent_after_s: float = 5.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_fps: float = 0.0,
        capture_factory: CaptureFactory | None = None,
    ) -> None:
        super().__init__(name or url, roi, silent_after_s)
        self.url = url
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_fps = max_fps
        self.dropped = 0
        self._factory: CaptureFactory = capture_factory or open_capture
        self._capture: Any = None
        self._grabber: _Grabber | None = None

    def _open(self) -> Any:
        capture = self._factory(self.url)
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            return None
        return capture

    async def __aiter__(self) -> AsyncIterator[tuple[float, Frame]]:
        # The shared backoff: a stream that breaks right after opening keeps backing off (issue 16).
        backoff = Backoff(initial_s=self.backoff_s, max_s=self.backoff_max_s)
        last_emit = 0.0
        loop = asyncio.get_running_loop()
        while not self._closed:
            if self._grabber is None:
                capture = await asyncio.to_thread(self._open)
                if capture is None:
                    self._connected = False
                    self.mark_error(f"无法连接摄像机: {self.url}")
                    await backoff.wait()
                    self._reconnects += 1
                    continue
                self._connected = True
                backoff.started()
                self._grabber = _Grabber(capture, self, loop)
            item = await self._grabber.next()
            if item is None:  # the stream broke (the grabber thread released the capture)
                self._grabber = None
                backoff.ended()
                if self._closed:
                    break
                self.mark_error(f"视频流中断: {self.url}")
                self._connected = False
                await backoff.wait()
                self._reconnects += 1
                continue
            now, frame = item
            if self.max_fps > 0 and now - last_emit < 1.0 / self.max_fps:
                continue
            last_emit = now
            yield now, frame

    async def close(self) -> None:
        """Stop and release the capture."""
        self._closed = True
        grabber, self._grabber = self._grabber, None
        if grabber is not None:
            await asyncio.to_thread(grabber.stop)
        self._connected = False


class _Grabber:
    """Reads one opened capture in a daemon thread and keeps the newest frame for the consumer."""

    def __init__(self, capture: Any, source: StreamSource, loop: asyncio.AbstractEventLoop) -> None:
        self._capture = capture
        self._source = source
        self._loop = loop
        self._lock = threading.Lock()
        self._latest: tuple[float, Frame] | None = None
        self._ended = False
        self._stop = False
        self._wake = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name=f"grab-{source.name}", daemon=True)
        self._thread.start()

    def _signal(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._wake.set)

    def _run(self) -> None:
        try:
            while not self._stop:
                ok, frame = self._capture.read()
                if not ok or frame is None or frame.size == 0:
                    break
                now = self._source.mark_frame()
                with self._lock:
                    if self._latest is not None:
                        self._source.dropped += 1
                    self._latest = (now, np.asarray(frame, dtype=np.uint8))
                self._signal()
        except Exception as exc:  # noqa: BLE001 - any capture failure is a broken stream, reported as such
            self._source.mark_error(f"视频流读取失败: {exc}")
        finally:
            with contextlib.suppress(Exception):
                self._capture.release()
            with self._lock:
                self._ended = True
            self._signal()

    async def next(self) -> tuple[float, Frame] | None:
        """The newest frame not yet taken (waits for one); None once the stream has ended."""
        while True:
            with self._lock:
                item, self._latest = self._latest, None
                ended = self._ended
            if item is not None:
                return item
            if ended:
                return None
            self._wake.clear()
            with self._lock:  # re-check: the thread may have delivered between the two locks
                if self._latest is not None or self._ended:
                    continue
            await self._wake.wait()

    def stop(self) -> None:
        """Ask the thread to end and wait for it (a read blocks at most the capture's read timeout)."""
        self._stop = True
        self._thread.join(timeout=10.0)


class FileSource(_Base):
    """A video file, frame by frame; ``realtime`` paces it at its own frame rate, ``step`` skips frames.

    ``live`` plays the file like a camera: frame ``i`` is due at ``start + i / fps`` and a consumer
    that falls behind gets the newest due frame (the stale ones are skipped and counted in
    ``dropped``), as :class:`StreamSource` does for a real stream. The timestamps are monotonic clock
    values when ``realtime`` or ``live``, else ``start + index / fps``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        roi: Roi | None = None,
        realtime: bool = False,
        live: bool = False,
        step: int = 1,
        silent_after_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        super().__init__(name or self.path.name, roi, silent_after_s)
        self.realtime = realtime or live
        self.live = live
        self.step = max(1, step)
        self.fps = 0.0
        #: ``time.monotonic()`` when the first frame was due (frame ``i`` is due ``i / fps`` later).
        self.start = 0.0
        self.dropped = 0
        # Reads run in worker threads; a cancelled consumer must not release the capture under a
        # read still in flight (a use-after-free in OpenCV: the agent's stop used to segfault).
        self._io = threading.Lock()

    def _open(self) -> Any:
        if not self.path.is_file():
            raise SourceError(f"文件不存在: {self.path}")
        if self.path.stat().st_size == 0:
            raise SourceError(f"视频文件为空: {self.path}")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise SourceError(f"无法打开视频: {self.path}")
        return capture

    async def __aiter__(self) -> AsyncIterator[tuple[float, Frame]]:
        capture = await asyncio.to_thread(self._open)
        self._connected = True
        try:
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps = fps if 0 < fps < 1000 else 25.0
            self.start = time.monotonic()
            index = 0
            while not self._closed:
                if self.live:  # the camera moved on while the consumer was busy: skip to the newest frame
                    skipped = await asyncio.to_thread(self._skip_to_due, capture, index)
                    if skipped < 0:
                        break
                    index += skipped
                ok, frame = await asyncio.to_thread(self._read, capture)
                if not ok or frame is None:
                    break
                index += 1
                if (index - 1) % self.step:
                    continue
                ts = self.start + (index - 1) / self.fps
                if self.realtime:
                    wait = ts - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    ts = time.monotonic()
                self.mark_frame()
                yield ts, np.asarray(frame, dtype=np.uint8)
        finally:
            with self._io:  # waits for a read in flight (milliseconds for a file)
                capture.release()
            self._connected = False

    def _read(self, capture: Any) -> tuple[bool, Any]:
        with self._io:
            ok, frame = capture.read()
            return bool(ok), frame

    def _skip_to_due(self, capture: Any, index: int) -> int:
        """Grab (without decoding) the frames that are already stale; their count, -1 at the end."""
        due = int((time.monotonic() - self.start) * self.fps)
        skipped = 0
        with self._io:
            while index + skipped < due:
                if not capture.grab():
                    return -1
                skipped += 1
                self.dropped += 1
        return skipped


class FolderSource(_Base):
    """The images of a folder in name order; unreadable files are counted as errors and skipped."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        roi: Roi | None = None,
        interval_s: float = 0.0,
        silent_after_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        super().__init__(name or self.path.name, roi, silent_after_s)
        self.interval_s = interval_s

    def files(self) -> list[Path]:
        """Image files of the folder, sorted by name."""
        if not self.path.is_dir():
            raise SourceError(f"目录不存在: {self.path}")
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())

    async def __aiter__(self) -> AsyncIterator[tuple[float, Frame]]:
        self._connected = True
        try:
            for file in self.files():
                if self._closed:
                    break
                try:
                    frame = await asyncio.to_thread(read_image, file)
                except SourceError as exc:
                    self.mark_error(str(exc))
                    continue
                yield self.mark_frame(), frame
                if self.interval_s > 0:
                    await asyncio.sleep(self.interval_s)
        finally:
            self._connected = False


def open_source(
    spec: str, *, roi: Roi | None = None, silent_after_s: float = 5.0
) -> StreamSource | FileSource | FolderSource:
    """A source for ``spec``: a stream URL, a folder of images or a video file."""
    if spec.lower().startswith(STREAM_SCHEMES):
        return StreamSource(spec, roi=roi, silent_after_s=silent_after_s)
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, roi=roi, silent_after_s=silent_after_s)
    return FileSource(path, roi=roi, silent_after_s=silent_after_s)
