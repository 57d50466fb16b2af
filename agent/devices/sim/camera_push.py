"""Camera push simulators (issue 23): request builders for each push family and a sender that POSTs
them over real TCP to the agent's :class:`agent.sources.camera_push.CameraPushReceiver`.

Builders return ``(content_type, body)``; ``charset="gbk"`` encodes the text as GBK and declares it
(as many Chinese cameras do), ``declare_charset=False`` leaves the declaration out (a wrong-charset push).
:func:`build_isapi_push` (Hikvision) lives beside its parser in :mod:`agent.sources.camera_push`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiohttp
import msgspec

from agent.sources.camera_push import build_isapi_push
from agent.sources.push_formats.common import CHINA_TZ
from agent.sources.push_formats.generic import SCHEMA

__all__ = [
    "PushSender",
    "build_dahua_push",
    "build_generic_push",
    "build_isapi_push",
    "build_push",
    "build_vzenith_push",
]


def _now_epoch() -> float:
    return datetime.now(CHINA_TZ).timestamp()


def _multipart(parts: Sequence[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    boundary = f"----ecogate{uuid.uuid4().hex}"
    body = bytearray()
    for name, ctype, data in parts:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(body)


def build_dahua_push(
    plate: str,
    *,
    colour: str = "Yellow",
    confidence: int = 95,
    scene_jpeg: bytes | None = None,
    plate_jpeg: bytes | None = None,
    utc: float | None = None,
    lane: int = 1,
    code: str = "TrafficJunction",
    charset: str = "utf-8",
    declare_charset: bool = True,
    omit_plate: bool = False,
) -> tuple[str, bytes]:
    """A Dahua ITC traffic-event push (``key=value`` event text + JPEG parts)."""
    lines = [
        "Events[0].Action=Pulse",
        f"Events[0].Code={code}",
        f"Events[0].Lane={lane}",
        f"Events[0].UTC={int(_now_epoch() if utc is None else utc)}",
        "Events[0].TrafficCar.DeviceAddress=东门",
        f"Events[0].TrafficCar.PlateColor={colour}",
        f"Events[0].TrafficCar.Confidence={confidence}",
        "Events[0].TrafficCar.VehicleColor=White",
    ]
    if not omit_plate:
        lines.append(f"Events[0].TrafficCar.PlateNumber={plate}")
    text = ("\r\n".join(lines) + "\r\n").encode(charset)
    ctype = f"text/plain; charset={charset}" if declare_charset else "text/plain"
    parts: list[tuple[str, str, bytes]] = [("event.txt", ctype, text)]
    if scene_jpeg is not None:
        parts.append(("scene.jpg", "image/jpeg", scene_jpeg))
    if plate_jpeg is not None:
        parts.append(("plate_cutout.jpg", "image/jpeg", plate_jpeg))
    return _multipart(parts)


def _b64(data: bytes | None) -> str:
    return base64.b64encode(data).decode() if data else ""


def _json_body(doc: dict[str, Any], charset: str, declare_charset: bool) -> tuple[str, bytes]:
    text = msgspec.json.encode(doc).decode()
    ctype = f"application/json; charset={charset}" if declare_charset else "application/json"
    return ctype, text.encode(charset)


def build_vzenith_push(
    plate: str,
    *,
    colour_type: int | None = 2,
    confidence: int = 95,
    scene_jpeg: bytes | None = None,
    plate_jpeg: bytes | None = None,
    sec: float | None = None,
    serialno: str = "e2f3a4b5-7c8d9e0f",
    charset: str = "utf-8",
    declare_charset: bool = True,
    omit_plate: bool = False,
) -> tuple[str, bytes]:
    """A 臻识 VZ ``AlarmInfoPlate`` push (base64 pictures)."""
    epoch = _now_epoch() if sec is None else sec
    result: dict[str, Any] = {
        "colorType": colour_type,
        "confidence": confidence,
        "plateid": 17,
        "triggerType": 8,
        "timeStamp": {"Timeval": {"sec": int(epoch), "usec": int((epoch % 1) * 1e6)}},
        "imageFile": _b64(scene_jpeg),
        "imageFileLen": len(scene_jpeg or b""),
        "imageFragmentFile": _b64(plate_jpeg),
        "imageFragmentFileLen": len(plate_jpeg or b""),
        "isoffline": 0,
    }
    if colour_type is None:
        del result["colorType"]
    if not omit_plate:
        result["license"] = plate
    doc = {
        "AlarmInfoPlate": {
            "channel": 0,
            "deviceName": "IVS",
            "ipaddr": "192.168.1.100",
            "serialno": serialno,
            "result": {"PlateResult": result},
        }
    }
    return _json_body(doc, charset, declare_charset)


def build_generic_push(
    plate: str,
    *,
    colour: str = "yellow",
    confidence: float = 0.95,
    scene_jpeg: bytes | None = None,
    plate_jpeg: bytes | None = None,
    at: datetime | None = None,
    channel: str | None = "1",
    charset: str = "utf-8",
    declare_charset: bool = True,
    extra: dict[str, Any] | None = None,
) -> tuple[str, bytes]:
    """A generic ``ecogate.plate-read/1`` JSON push."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "plate": plate,
        "colour": colour,
        "confidence": confidence,
        "time": (at or datetime.now(CHINA_TZ)).isoformat(),
    }
    if channel is not None:
        doc["channel"] = channel
    if scene_jpeg:
        doc["scene_jpeg"] = _b64(scene_jpeg)
    if plate_jpeg:
        doc["plate_jpeg"] = _b64(plate_jpeg)
    doc.update(extra or {})
    return _json_body(doc, charset, declare_charset)


def build_push(
    family: str,
    plate: str,
    *,
    colour: str = "yellow",
    scene_jpeg: bytes | None = None,
    plate_jpeg: bytes | None = None,
    minutes_off: float = 0.0,
) -> tuple[str, bytes]:
    """A push of ``family`` for a canonical ``colour`` (each family's own code for it), from a camera
    whose clock is ``minutes_off`` ahead (negative: behind; the Hikvision fixture has a fixed time)."""
    epoch = _now_epoch() + minutes_off * 60
    if family == "hikvision-isapi":
        codes = {"blue": 0, "yellow": 1, "white": 2, "black": 3, "green": 4, "yellow_green": 6, "other": 255}
        return build_isapi_push(plate, colour_code=codes[colour], scene_jpeg=scene_jpeg, plate_jpeg=plate_jpeg)
    if family == "dahua-itc":
        words = {"blue": "Blue", "yellow": "Yellow", "white": "White", "black": "Black", "green": "Green"}
        words |= {"yellow_green": "YellowGreen", "other": "Unknown"}
        return build_dahua_push(plate, colour=words[colour], scene_jpeg=scene_jpeg, plate_jpeg=plate_jpeg, utc=epoch)
    if family == "vzenith-vz":
        vz = {"other": 0, "blue": 1, "yellow": 2, "white": 3, "black": 4, "green": 5, "yellow_green": 6}
        return build_vzenith_push(
            plate, colour_type=vz[colour], scene_jpeg=scene_jpeg, plate_jpeg=plate_jpeg, sec=epoch
        )
    if family == "generic-json":
        at = datetime.fromtimestamp(epoch, CHINA_TZ)
        return build_generic_push(plate, colour=colour, scene_jpeg=scene_jpeg, plate_jpeg=plate_jpeg, at=at)
    raise ValueError(f"unknown push family {family!r}")


class PushSender:
    """A camera that POSTs pushes over TCP to ``url`` (e.g. ``http://127.0.0.1:PORT/camera-push/cam-1``)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """POST one push; ``(HTTP status, JSON answer)`` (``{}`` when the answer is not JSON)."""
        async with (
            aiohttp.ClientSession(timeout=self.timeout) as session,
            session.post(self.url, data=body, headers={"Content-Type": content_type}) as resp,
        ):
            try:
                answer = await resp.json(content_type=None)
            except (aiohttp.ContentTypeError, ValueError):
                answer = {}
            return resp.status, answer if isinstance(answer, dict) else {}
