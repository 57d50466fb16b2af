"""Dahua ITC/ITSE-style traffic-event push (family ``dahua-itc``).

Source: Dahua's HTTP API for ANPR/ITC cameras, "Subscribe to snapshot information"
(``/cgi-bin/snapManager.cgi?action=attachFileProc&Flags[0]=Event&Events=[TrafficJunction]``): each
event is a multipart message whose first part is ``text/plain`` event information as ``key=value``
lines (``Events[0].Code=TrafficJunction``, ``Events[0].TrafficCar.PlateNumber=…``,
``Events[0].TrafficCar.PlateColor=Yellow``, ``Events[0].Lane=1``, ``Events[0].UTC=…``) followed by
the JPEG pictures. ITC cameras can POST the same message to a platform URL ("HTTP upload");
the agent takes it at ``POST /camera-push/{camera}``.

ASSUMPTIONS (not in the excerpt we had; confirm on a real camera, see docs/devices.md):

* the POSTed body is the same multipart message as the ``attachFileProc`` stream (one event);
* ``Events[0].UTC`` is seconds since the epoch (firmware that sends local time as "UTC" shows up as a
  constant ±8 h clock skew, which the clock check reports);
* ``Events[0].TrafficCar.PlateColor`` is one of the colour words in :data:`DAHUA_COLOURS`;
  ``Events[0].TrafficCar.Confidence`` (else ``Events[0].Object.Confidence``) is 0–100;
* a picture part whose name contains ``plate``/``cutout`` is the plate crop, the first other one the scene;
* the text part's charset is as declared (GBK common), UTF-8 when undeclared.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from typing import Final

from agent.sources.camera_push import _NO_PLATE, CameraRead, PushFormatError, _multipart
from agent.sources.push_formats.common import decode_text, iso_from_epoch
from hj1321.plates import PlateColour, canonical_plate

#: ``TrafficCar.PlateColor`` words (lower case, spaces/dashes removed) → canonical colour.
DAHUA_COLOURS: Final[dict[str, PlateColour]] = {
    "blue": PlateColour.BLUE,
    "yellow": PlateColour.YELLOW,
    "white": PlateColour.WHITE,
    "black": PlateColour.BLACK,
    "green": PlateColour.GREEN,  # small NEV (white-to-green gradient)
    "gradientgreen": PlateColour.GREEN,
    "newenergygreen": PlateColour.GREEN,
    "yellowgreen": PlateColour.YELLOW_GREEN,  # large NEV
    "unknown": PlateColour.OTHER,
    "other": PlateColour.OTHER,
}
_MAX_LINES: Final = 2000


def map_dahua_colour(raw: str | None) -> PlateColour:
    """Canonical colour of a Dahua ``PlateColor`` word; an unknown word is an error."""
    key = (raw or "unknown").strip().lower().replace(" ", "").replace("-", "").replace("_", "")
    try:
        return DAHUA_COLOURS[key or "unknown"]
    except KeyError:
        raise PushFormatError(f"未知的大华车牌颜色“{raw}”") from None


def parse_fields(text: str) -> dict[str, str]:
    """``key=value`` lines (``//`` comments and blank lines ignored)."""
    fields: dict[str, str] = {}
    for i, line in enumerate(text.splitlines()):
        if i >= _MAX_LINES:
            raise PushFormatError(f"事件信息超过 {_MAX_LINES} 行")
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.split("//", 1)[0].strip()
    return fields


def _split(msg: EmailMessage) -> tuple[dict[str, str] | None, bytes | None, bytes | None]:
    """Event fields, plate crop and scene picture of a multipart push."""
    info: dict[str, str] | None = None
    plate_pic: bytes | None = None
    scene_pic: bytes | None = None
    for part in msg.iter_parts():
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        ctype = part.get_content_type()
        param = part.get_param("name", header="content-disposition")
        name = (param if isinstance(param, str) else part.get_filename() or "").lower()
        if ctype.startswith("text/") and info is None:
            info = parse_fields(decode_text(data, str(part.get("Content-Type", ""))))
        elif ctype.startswith("image/") or name.endswith((".jpg", ".jpeg")):
            if not data.startswith(b"\xff\xd8"):
                raise PushFormatError("推送中的图片不是 JPEG")
            if ("plate" in name or "cutout" in name) and plate_pic is None:
                plate_pic = data
            elif scene_pic is None:
                scene_pic = data
    return info, plate_pic, scene_pic


class DahuaItcFormat:
    """Dahua ITC traffic-event push (see the module docstring)."""

    name = "dahua-itc"

    def matches(self, content_type: str, body: bytes) -> bool:
        """Multipart with ``Events[0].`` event information."""
        return content_type.lower().startswith("multipart/") and b"Events[0]." in body

    def parse(self, content_type: str, body: bytes, camera: str) -> CameraRead:
        """Parse the request body."""
        info, plate_pic, scene_pic = _split(_multipart(content_type, body))
        if info is None:
            raise PushFormatError("推送中缺少事件信息（text/plain）")
        code = info.get("Events[0].Code", "")
        if code not in {"TrafficJunction", "TrafficManualSnap", "TrafficParking", "TrafficGate"}:
            raise PushFormatError(f"不是车辆抓拍事件: {code or '（无 Code）'}")
        if "Events[0].TrafficCar.PlateNumber" not in info:
            raise PushFormatError("事件信息缺少车牌号码（TrafficCar.PlateNumber）")
        plate = canonical_plate(info["Events[0].TrafficCar.PlateNumber"])
        if plate in _NO_PLATE:
            plate = ""
        raw_colour = info.get("Events[0].TrafficCar.PlateColor")
        colour = map_dahua_colour(raw_colour)
        try:
            confidence = float(
                info.get("Events[0].TrafficCar.Confidence") or info.get("Events[0].Object.Confidence") or 0
            )
        except ValueError:
            confidence = 0.0
        event_time: str | None = None
        if info.get("Events[0].UTC"):
            try:
                event_time = iso_from_epoch(float(info["Events[0].UTC"]))
            except (ValueError, OverflowError, OSError) as exc:
                raise PushFormatError(f"事件时间无效: {info['Events[0].UTC']}") from exc
        return CameraRead(
            camera=camera or info.get("Events[0].TrafficCar.DeviceAddress") or "camera",
            plate=plate,
            colour=str(colour),
            confidence=min(1.0, max(0.0, confidence / 100.0)),
            received_ts=time.monotonic(),
            event_time=event_time,
            channel=info.get("Events[0].Lane"),
            raw_colour=raw_colour,
            plate_picture=plate_pic,
            scene_picture=scene_pic,
            format=self.name,
        )
