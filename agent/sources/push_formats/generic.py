"""EcoGate generic JSON push (family ``generic-json``): a documented schema any camera or gate software
can be configured to send (docs/devices.md "Generic JSON push").

``POST /camera-push/{camera}`` with ``Content-Type: application/json`` (UTF-8, or ``charset=GBK``)::

    {"schema": "ecogate.plate-read/1", "plate": "鄂A12345", "colour": "yellow", "confidence": 0.97,
     "time": "2026-11-28T08:00:00+08:00", "channel": "1", "camera": "gate-1",
     "scene_jpeg": "<base64 JPEG>", "plate_jpeg": "<base64 JPEG>"}

* ``schema`` (required) exactly ``ecogate.plate-read/1``;
* ``plate`` (required): the plate text, ``""`` when the camera saw a vehicle but read no plate;
* ``colour`` (required): a canonical colour name — ``blue``, ``yellow``, ``green`` (small new-energy),
  ``yellow_green`` (large new-energy), ``white``, ``black``, ``other``; the sender maps its own codes;
* ``confidence`` 0–1 (default 0); ``time`` ISO 8601 (no offset = China Standard Time), optional;
* ``channel``, ``camera`` optional strings; ``scene_jpeg``/``plate_jpeg`` optional base64 JPEGs.

Decoding is strict: unknown fields, wrong types and out-of-range values are refused (HTTP 400).
"""

from __future__ import annotations

import time
from typing import Annotated, Final, Literal

import msgspec

from agent.sources.camera_push import _NO_PLATE, CameraRead
from agent.sources.push_formats.common import decode_picture, load_json
from hj1321.plates import PlateColour, canonical_plate

SCHEMA: Final = "ecogate.plate-read/1"


class GenericPush(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One plate read in the generic schema."""

    schema: Literal["ecogate.plate-read/1"]
    plate: Annotated[str, msgspec.Meta(max_length=32)]
    colour: PlateColour
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    time: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    channel: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    camera: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    scene_jpeg: str | None = None
    plate_jpeg: str | None = None


class GenericJsonFormat:
    """The generic JSON push (see the module docstring)."""

    name = "generic-json"

    def matches(self, content_type: str, body: bytes) -> bool:  # noqa: ARG002 - the body decides
        """JSON naming the ``ecogate.plate-read/1`` schema."""
        return SCHEMA.encode() in body[:4096]

    def parse(self, content_type: str, body: bytes, camera: str) -> CameraRead:
        """Parse the request body."""
        push: GenericPush = load_json(body, content_type, GenericPush)
        plate = canonical_plate(push.plate) if push.plate.strip() else ""
        if plate in _NO_PLATE:
            plate = ""
        return CameraRead(
            camera=camera or push.camera or "camera",
            plate=plate,
            colour=str(push.colour),
            confidence=push.confidence,
            received_ts=time.monotonic(),
            event_time=push.time,
            channel=push.channel,
            raw_colour=str(push.colour),
            plate_picture=decode_picture(push.plate_jpeg, "车牌小图"),
            scene_picture=decode_picture(push.scene_jpeg, "场景大图"),
            format=self.name,
        )
