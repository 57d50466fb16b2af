"""臻识 (Vzenith) VZ-series HTTP JSON push (family ``vzenith-vz``).

Source: the VZ-series "HTTP 推送" result format (as used by integrators, e.g. the public
``AlarmInfoPlate``/``PlateResult`` classes of github.com/ayayacc/parkLine, package ``boyue``, which
mirror the camera's JSON): the camera POSTs ``application/json``::

    {"AlarmInfoPlate": {"channel": 0, "deviceName": "IVS", "ipaddr": "192.168.1.100", "serialno": "…",
      "result": {"PlateResult": {"license": "京A12345", "colorType": 2, "confidence": 96,
        "plateid": 17, "triggerType": 8, "timeStamp": {"Timeval": {"sec": 1764288000, "usec": 0}},
        "imageFile": "<base64 JPEG>", "imageFileLen": 123456,
        "imageFragmentFile": "<base64 JPEG>", "imageFragmentFileLen": 4567}}}}

ASSUMPTIONS (confirm on a real camera, see docs/devices.md):

* ``colorType`` follows the VZ SDK's plate colour codes in :data:`VZENITH_COLOUR_CODES`
  (0 unknown, 1 blue, 2 yellow, 3 white, 4 black, 5 green; 6 yellow-green on newer firmware) — a
  different scheme from Hikvision's (0 = blue there);
* ``confidence`` is 1–100; ``timeStamp.Timeval.sec`` is seconds since the epoch;
* ``imageFile`` is the scene, ``imageFragmentFile`` the plate crop (both optional);
* the body is UTF-8 unless the request declares GBK (older firmware sends GBK plates).
"""

from __future__ import annotations

import time
from typing import Final

import msgspec

from agent.sources.camera_push import _NO_PLATE, CameraRead, PushFormatError
from agent.sources.push_formats.common import decode_picture, iso_from_epoch, load_json
from hj1321.plates import PlateColour, canonical_plate

#: VZ ``colorType`` → canonical colour.
VZENITH_COLOUR_CODES: Final[dict[int, PlateColour]] = {
    0: PlateColour.OTHER,
    1: PlateColour.BLUE,
    2: PlateColour.YELLOW,
    3: PlateColour.WHITE,
    4: PlateColour.BLACK,
    5: PlateColour.GREEN,
    6: PlateColour.YELLOW_GREEN,
}


class _Timeval(msgspec.Struct):
    sec: float = 0
    usec: float = 0


class _TimeStamp(msgspec.Struct):
    Timeval: _Timeval | None = None


class _PlateResult(msgspec.Struct, rename="camel"):
    license: str | None = None
    color_type: int | None = None
    confidence: float = 0
    time_stamp: _TimeStamp | None = None
    image_file: str | None = None
    image_fragment_file: str | None = None


class _Result(msgspec.Struct):
    PlateResult: _PlateResult | None = None


class _AlarmInfoPlate(msgspec.Struct, rename="camel"):
    channel: int | str | None = None
    device_name: str | None = None
    ipaddr: str | None = None
    serialno: str | None = None
    result: _Result | None = None


class _Push(msgspec.Struct):
    AlarmInfoPlate: _AlarmInfoPlate


def map_vzenith_colour(code: int | None) -> PlateColour:
    """Canonical colour of a VZ ``colorType``; an unknown code is an error."""
    if code is None:
        return PlateColour.OTHER
    try:
        return VZENITH_COLOUR_CODES[code]
    except KeyError:
        raise PushFormatError(f"未知的臻识车牌颜色代码 colorType={code}") from None


class VzenithFormat:
    """臻识 VZ ``AlarmInfoPlate`` push (see the module docstring)."""

    name = "vzenith-vz"

    def matches(self, content_type: str, body: bytes) -> bool:  # noqa: ARG002 - the body decides
        """JSON with an ``AlarmInfoPlate`` object."""
        return b'"AlarmInfoPlate"' in body[:4096]

    def parse(self, content_type: str, body: bytes, camera: str) -> CameraRead:
        """Parse the request body."""
        push: _Push = load_json(body, content_type, _Push)
        alarm = push.AlarmInfoPlate
        result = alarm.result.PlateResult if alarm.result is not None else None
        if result is None or result.license is None:
            raise PushFormatError("推送缺少车牌号码（AlarmInfoPlate.result.PlateResult.license）")
        # ASSUMPTION: VZ cameras report "no plate" as "_无_"
        raw = result.license.strip()
        plate = "" if raw in {"_无_", "无"} else canonical_plate(raw)
        if plate in _NO_PLATE:
            plate = ""
        colour = map_vzenith_colour(result.color_type)
        event_time = None
        tv = result.time_stamp.Timeval if result.time_stamp is not None else None
        if tv is not None and tv.sec > 0:
            try:
                event_time = iso_from_epoch(tv.sec + tv.usec / 1e6)
            except (ValueError, OverflowError, OSError) as exc:
                raise PushFormatError(f"识别时间无效: {tv.sec}") from exc
        return CameraRead(
            camera=camera or alarm.serialno or alarm.ipaddr or "camera",
            plate=plate,
            colour=str(colour),
            confidence=min(1.0, max(0.0, result.confidence / 100.0)),
            received_ts=time.monotonic(),
            event_time=event_time,
            channel=None if alarm.channel is None else str(alarm.channel),
            raw_colour=None if result.color_type is None else str(result.color_type),
            plate_picture=decode_picture(result.image_fragment_file, "车牌小图"),
            scene_picture=decode_picture(result.image_file, "场景大图"),
            format=self.name,
        )
