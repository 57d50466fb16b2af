"""Shared defences and helpers for camera push formats (issue 23).

* :func:`decode_text` — the body's charset: UTF-8 unless the request declares GBK/GB2312/GB18030
  (Chinese cameras often send GBK); undeclared bytes that are not UTF-8 are refused with a Chinese
  message naming the fix, never guessed.
* :func:`load_json` — JSON from the network: at most ``MAX_JSON_BYTES`` and ``MAX_JSON_DEPTH`` levels
  of nesting (checked before decoding), decoded by msgspec.
* :func:`decode_picture` — a base64 picture, bounded, that must look like a JPEG.
* :class:`ClockCheck` — compares the camera's event time with the agent's clock; a skew beyond
  ``threshold_s`` is logged and reported as the device health ``clock_skew`` (a device alarm the
  heartbeat carries, like any other :class:`agent.devices.health.HealthTracker`).
* :func:`to_lane_read` — a :class:`CameraRead` as the lane's :class:`LaneRead` (scene + plate pictures).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

import msgspec
import structlog

from agent.devices.health import HealthTracker
from agent.outbox.store import PhotoData
from agent.sources.camera_push import CameraRead, PushFormatError
from agent_protocol.events import SnapshotRole, new_event_id
from hj1321.plates import PlateColour

if TYPE_CHECKING:
    from agent.runtime.pipeline import LaneRead

log = structlog.get_logger(__name__)

MAX_JSON_BYTES: Final = 8 * 2**20
MAX_JSON_DEPTH: Final = 16
MAX_PICTURE_BYTES: Final = 4 * 2**20
#: ASSUMPTION: a camera time without an offset is China Standard Time (cameras are set to local time).
CHINA_TZ: Final = timezone(timedelta(hours=8))
_GB_CHARSETS: Final = frozenset({"gbk", "gb2312", "gb18030", "cp936", "x-gbk"})
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS: Final = bytes(b for b in range(256) if b not in b"{}[]")


def charset_of(content_type: str) -> str | None:
    """The declared charset of a Content-Type, lower case, or ``None``."""
    match = _CHARSET.search(content_type or "")
    return match.group(1).lower() if match else None


def decode_text(data: bytes, content_type: str) -> str:
    """Text of a body or part: the declared GB charset (decoded as GB18030, a superset), else UTF-8."""
    charset = charset_of(content_type)
    if charset in _GB_CHARSETS:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise PushFormatError(f"推送内容声明为 {charset} 编码，但无法按该编码解码") from exc
    if charset not in {None, "utf-8", "utf8", "us-ascii", "ascii"}:
        raise PushFormatError(f"不支持的字符编码“{charset}”：请使用 UTF-8 或 GBK")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushFormatError(
            "推送内容不是 UTF-8 编码：如摄像机发送 GBK，请在 Content-Type 中声明 charset=GBK"
        ) from exc


def json_depth(data: bytes) -> int:
    """Deepest nesting of objects/arrays (brackets inside strings ignored)."""
    depth = deepest = 0
    for byte in _STRINGS.sub(b'""', data).translate(None, _BRACKETS):
        if byte in b"{[":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(data: bytes, content_type: str, type_: Any = Any) -> Any:
    """Decode a JSON body defensively (size, depth, charset) into ``type_``; Chinese errors."""
    if len(data) > MAX_JSON_BYTES:
        raise PushFormatError(f"JSON 推送过大（{len(data)} 字节，上限 {MAX_JSON_BYTES}）")
    if json_depth(data) > MAX_JSON_DEPTH:
        raise PushFormatError(f"JSON 嵌套层数超过 {MAX_JSON_DEPTH} 层")
    text = decode_text(data, content_type)
    try:
        return msgspec.json.decode(text, type=type_)
    except msgspec.ValidationError as exc:
        raise PushFormatError(f"推送字段不符合格式：{exc}") from exc
    except msgspec.DecodeError as exc:
        raise PushFormatError(f"推送内容不是有效的 JSON：{exc}") from exc


def decode_picture(value: str | None, what: str) -> bytes | None:
    """A base64 JPEG (``None``/empty → ``None``); too large, not base64 or not a JPEG → error."""
    if not value:
        return None
    if len(value) > MAX_PICTURE_BYTES * 4 // 3 + 4:
        raise PushFormatError(f"{what}过大")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PushFormatError(f"{what}不是有效的 base64 编码") from exc
    if not data.startswith(b"\xff\xd8"):
        raise PushFormatError(f"{what}不是 JPEG 图片")
    return data


def iso_from_epoch(seconds: float) -> str:
    """An epoch timestamp as ISO 8601 in China Standard Time."""
    return datetime.fromtimestamp(seconds, CHINA_TZ).isoformat()


def parse_camera_time(text: str | None) -> datetime | None:
    """The camera's event time (ISO 8601; no offset → China Standard Time), or ``None``."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TZ)


class ClockCheck:
    """The camera's clock against the agent's: skew beyond ``threshold_s`` → health ``clock_skew``.

    The health is degraded (reads are still used: the lane stamps passes with the agent's own
    clock); it returns to ``ok`` with the first push whose time agrees again.
    """

    def __init__(self, name: str, *, threshold_s: float = 120.0, latency_s: float = 5.0) -> None:
        self.threshold_s = threshold_s
        self.latency_s = latency_s
        self.health = HealthTracker(name, "camera")
        self.last_skew_s: float | None = None

    def check(self, read: CameraRead, *, now: datetime | None = None) -> float | None:
        """Skew in seconds (camera minus agent) of one read, or ``None`` when it has no usable time."""
        moment = parse_camera_time(read.event_time)
        if moment is None:
            return None
        # the push left the camera a moment ago: subtract how long ago it was received
        agent_now = (now or datetime.now(UTC)) - timedelta(seconds=max(0.0, time.monotonic() - read.received_ts))
        skew = (moment - agent_now).total_seconds()
        self.last_skew_s = skew
        if abs(skew) > self.threshold_s:
            log.warning("camera.clock_skew", camera=read.camera, skew_s=round(skew, 1), event_time=read.event_time)
            self.health.degraded(
                "clock_skew",
                f"摄像机时钟偏差 {skew:+.0f} 秒（超过 {self.threshold_s:.0f} 秒），请校准摄像机时间",
                detail=f"camera={read.camera} event_time={read.event_time}",
            )
        elif abs(skew) <= max(0.0, self.threshold_s - self.latency_s) or self.health.current.code != "clock_skew":
            self.health.ok("摄像机时钟正常")
        return skew


def to_lane_read(read: CameraRead, *, moment: datetime | None = None) -> LaneRead:
    """The lane read of a camera push: its plate, colour, confidence and both pictures."""
    from agent.runtime.pipeline import LaneRead  # noqa: PLC0415 - the runtime imports the sources

    photos: list[PhotoData] = []
    if read.scene_picture:
        photos.append(PhotoData(role=SnapshotRole.SCENE, data=read.scene_picture))
    if read.plate_picture:
        photos.append(PhotoData(role=SnapshotRole.PLATE, data=read.plate_picture))
    return LaneRead(
        read_id=f"push-{new_event_id()}",
        plate=read.plate or None,
        colour=PlateColour(read.colour) if read.plate else None,
        confidence=read.confidence,
        moment=moment or datetime.now(UTC),
        photos=tuple(photos),
    )
