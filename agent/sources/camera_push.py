"""Camera-reported plate reads: ANPR cameras push an event with pictures over HTTP.

The Hikvision format is implemented here; the other families (Dahua ITC, 臻识 VZ, generic JSON) are in
:mod:`agent.sources.push_formats`, behind the same :class:`PushFormat` interface:

**Hikvision ISAPI-style ANPR push** (:class:`HikvisionIsapiFormat`). The camera POSTs
``multipart/form-data`` to the agent with

* a part named ``anpr.xml`` (``Content-Type: text/xml`` or ``application/xml``) holding an
  ``EventNotificationAlert`` document (namespace ``http://www.hikvision.com/ver20/XMLSchema``,
  optional) with ``ipAddress``, ``channelID``, ``dateTime``, ``eventType`` = ``ANPR`` and an ``ANPR``
  element carrying ``licensePlate``, ``plateColor`` and ``confidenceLevel`` (0–100);
* a part ``licensePlatePicture.jpg`` (the plate crop) and a part ``detectionPicture.jpg`` (the scene),
  both ``image/jpeg``, each optional.

``plateColor`` is either a ``VCA_PLATE_COLOR`` code (REGULATION.md §3.1 scheme A: 0 blue, 1 yellow,
2 white, 3 black, 4 green, 5 civil-aviation black, 0xFF unknown; 6 yellow-green as later firmware
sends) or a colour word (``blue``, ``yellow``, ``white``, ``black``, ``green``, ``yellowGreen``).
Scheme A's white (2) and black (3) are the reverse of the toll scheme C, which is why codes are
mapped here, by the camera's scheme, and never stored. A plate text of ``无车牌`` / ``unknown``
means the camera saw a vehicle but read no plate.

:func:`build_isapi_push` writes such a request body (fixtures for tests and the demo), and
:class:`CameraPushReceiver` is the aiohttp endpoint that turns pushes into :class:`CameraRead`.
"""

from __future__ import annotations

import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Final, Protocol

import msgspec
from aiohttp import web

from hj1321.plates import PlateColour, canonical_plate

#: VCA_PLATE_COLOR (REGULATION.md §3.1 scheme A) → canonical colour.
HIKVISION_COLOUR_CODES: Final[dict[int, PlateColour]] = {
    0: PlateColour.BLUE,
    1: PlateColour.YELLOW,
    2: PlateColour.WHITE,
    3: PlateColour.BLACK,
    4: PlateColour.GREEN,
    5: PlateColour.BLACK,  # 民航黑: a black plate
    6: PlateColour.YELLOW_GREEN,  # large NEV, sent by newer firmware
    0xFF: PlateColour.OTHER,
}
HIKVISION_COLOUR_WORDS: Final[dict[str, PlateColour]] = {
    "blue": PlateColour.BLUE,
    "yellow": PlateColour.YELLOW,
    "white": PlateColour.WHITE,
    "black": PlateColour.BLACK,
    "green": PlateColour.GREEN,
    "yellowgreen": PlateColour.YELLOW_GREEN,
    "yellow_green": PlateColour.YELLOW_GREEN,
    "civilaviationblack": PlateColour.BLACK,
    "unknown": PlateColour.OTHER,
    "other": PlateColour.OTHER,
}
_NO_PLATE: Final = frozenset({"", "无车牌", "无牌", "车牌", "UNKNOWN", "NOPLATE", "NONE"})
#: Largest push accepted (a scene JPEG is < 1 MB; 8 MiB leaves room for two pictures in base64).
MAX_BODY: Final = 8 * 2**20
_MAX_BODY: Final = MAX_BODY


class PushFormatError(ValueError):
    """A push that is not of the expected format (Chinese message, answered with HTTP 400)."""


class CameraRead(msgspec.Struct, frozen=True):
    """A plate read reported by a camera, with its pictures."""

    camera: str
    plate: str  # canonical, "" when the camera read no plate
    colour: str  # canonical colour name
    confidence: float  # 0–1
    received_ts: float  # time.monotonic() at receipt
    event_time: str | None = None  # the camera's own timestamp, as sent
    channel: str | None = None
    raw_colour: str | None = None  # the camera's code, for diagnostics only
    plate_picture: bytes | None = None
    scene_picture: bytes | None = None
    format: str = ""


class PushFormat(Protocol):
    """One camera vendor's push format."""

    name: str

    def matches(self, content_type: str, body: bytes) -> bool:
        """Whether this format can parse the request."""
        ...

    def parse(self, content_type: str, body: bytes, camera: str) -> CameraRead:
        """Parse the request into a read; raise :class:`PushFormatError` when malformed."""
        ...


def map_hikvision_colour(raw: str | None) -> PlateColour:
    """Canonical colour of a Hikvision ``plateColor`` value (scheme A code or colour word)."""
    if raw is None:
        return PlateColour.OTHER
    text = raw.strip()
    if not text:
        return PlateColour.OTHER
    try:
        code = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return HIKVISION_COLOUR_WORDS.get(text.replace(" ", "").lower(), PlateColour.OTHER)
    return HIKVISION_COLOUR_CODES.get(code, PlateColour.OTHER)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return (el.text or "").strip()
    return None


def _split_parts(msg: EmailMessage) -> tuple[bytes | None, bytes | None, bytes | None]:
    """The XML document, plate picture and scene picture of a multipart push."""
    xml: bytes | None = None
    plate_pic: bytes | None = None
    scene_pic: bytes | None = None
    for part in msg.iter_parts():
        param = part.get_param("name", header="content-disposition")
        name = (param if isinstance(param, str) else part.get_filename() or "").lower()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        ctype = part.get_content_type()
        if "xml" in ctype or name.endswith(".xml"):
            xml = data
        elif ctype.startswith("image/") or name.endswith((".jpg", ".jpeg")):
            if "plate" in name and plate_pic is None:
                plate_pic = data or None
            elif scene_pic is None:
                scene_pic = data or None
    return xml, plate_pic, scene_pic


def _multipart(content_type: str, body: bytes) -> EmailMessage:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(_class=EmailMessage, policy=HTTP).parsebytes(head + body)
    if not isinstance(msg, EmailMessage) or not msg.is_multipart():
        raise PushFormatError("推送内容不是 multipart/form-data")
    return msg


class HikvisionIsapiFormat:
    """Hikvision ISAPI-style ANPR push (see the module docstring)."""

    name = "hikvision-isapi"

    def matches(self, content_type: str, body: bytes) -> bool:
        """Multipart with an EventNotificationAlert document."""
        return content_type.lower().startswith("multipart/") and b"EventNotificationAlert" in body

    def parse(self, content_type: str, body: bytes, camera: str) -> CameraRead:
        """Parse the request body."""
        xml, plate_pic, scene_pic = _split_parts(_multipart(content_type, body))
        if not xml:
            raise PushFormatError("推送中缺少 anpr.xml 事件文档")
        if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
            raise PushFormatError("事件文档不允许包含 DOCTYPE/ENTITY 声明")
        try:
            root = ET.fromstring(xml)  # noqa: S314  (no DTDs, see above; expat ≥ 2.4 limits amplification)
        except ET.ParseError as exc:
            raise PushFormatError(f"事件文档不是有效的 XML: {exc}") from exc
        if _local(root.tag) != "EventNotificationAlert":
            raise PushFormatError("事件文档不是 EventNotificationAlert")
        event = (_find(root, "eventType") or "").upper()
        if event and event != "ANPR":
            raise PushFormatError(f"不是车牌识别事件: {event}")
        raw_plate = _find(root, "licensePlate") or ""
        plate = canonical_plate(raw_plate)
        if plate in _NO_PLATE:
            plate = ""
        raw_colour = _find(root, "plateColor")
        try:
            confidence = float(_find(root, "confidenceLevel") or 0.0) / 100.0
        except ValueError:
            confidence = 0.0
        return CameraRead(
            camera=camera or _find(root, "ipAddress") or "camera",
            plate=plate,
            colour=str(map_hikvision_colour(raw_colour)),
            confidence=min(1.0, max(0.0, confidence)),
            received_ts=time.monotonic(),
            event_time=_find(root, "dateTime"),
            channel=_find(root, "channelID"),
            raw_colour=raw_colour,
            plate_picture=plate_pic,
            scene_picture=scene_pic,
            format=self.name,
        )


def build_isapi_push(
    plate: str,
    *,
    colour_code: int | str = 0,
    confidence: int = 95,
    scene_jpeg: bytes | None = None,
    plate_jpeg: bytes | None = None,
    ip: str = "192.168.1.64",
    channel: int = 1,
    date_time: str = "2026-11-28T08:00:00+08:00",
) -> tuple[str, bytes]:
    """A Hikvision ISAPI-style ANPR push: ``(content_type, body)`` (fixture generator)."""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">\n'
        f"<ipAddress>{ip}</ipAddress>\n<portNo>80</portNo>\n<protocol>HTTP</protocol>\n"
        f"<channelID>{channel}</channelID>\n<dateTime>{date_time}</dateTime>\n"
        "<activePostCount>1</activePostCount>\n<eventType>ANPR</eventType>\n"
        "<eventState>active</eventState>\n<eventDescription>ANPR</eventDescription>\n"
        f"<ANPR>\n<country>CHN</country>\n<licensePlate>{plate}</licensePlate>\n"
        f"<line>1</line>\n<direction>forward</direction>\n<confidenceLevel>{confidence}</confidenceLevel>\n"
        f"<plateType>unknown</plateType>\n<plateColor>{colour_code}</plateColor>\n"
        "<vehicleType>truck</vehicleType>\n</ANPR>\n</EventNotificationAlert>\n"
    ).encode()
    boundary = f"----ecogate{uuid.uuid4().hex}"
    parts: list[tuple[str, str, bytes]] = [("anpr.xml", "text/xml", xml)]
    if plate_jpeg is not None:
        parts.append(("licensePlatePicture.jpg", "image/jpeg", plate_jpeg))
    if scene_jpeg is not None:
        parts.append(("detectionPicture.jpg", "image/jpeg", scene_jpeg))
    body = bytearray()
    for name, ctype, data in parts:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(body)


ReadHandler = Callable[[CameraRead], Awaitable[None]]
ReadCheck = Callable[[CameraRead], object]
_SAFE_CAMERA = re.compile(r"[^A-Za-z0-9_.:-]")


class CameraPushReceiver:
    """The aiohttp endpoint cameras push to: ``POST /camera-push/{camera}`` (or ``POST /camera-push``).

    Each parsed push is handed to ``checks`` (e.g. the camera clock check) and ``on_read``; malformed
    pushes get HTTP 400 with a Chinese reason, unknown formats HTTP 415, bodies over :data:`MAX_BODY`
    HTTP 413. The agent binds it to the lane network only.
    """

    def __init__(
        self,
        on_read: ReadHandler,
        formats: Sequence[PushFormat] | None = None,
        *,
        checks: Sequence[ReadCheck] = (),
    ) -> None:
        self.on_read = on_read
        self.formats: list[PushFormat] = list(formats) if formats is not None else [HikvisionIsapiFormat()]
        self.checks = list(checks)
        self.received = 0
        self.rejected = 0

    def app(self) -> web.Application:
        """An application with the push routes."""
        application = web.Application(client_max_size=_MAX_BODY)
        application.router.add_post("/camera-push", self._handle)
        application.router.add_post("/camera-push/{camera}", self._handle)
        return application

    def parse(self, content_type: str, body: bytes, camera: str = "") -> CameraRead:
        """Parse a push with the first format that matches (usable without HTTP)."""
        for fmt in self.formats:
            if fmt.matches(content_type, body):
                return fmt.parse(content_type, body, camera)
        raise LookupError("不支持的摄像机推送格式")

    async def _handle(self, request: web.Request) -> web.Response:
        camera = _SAFE_CAMERA.sub("", request.match_info.get("camera", ""))[:64]
        too_large = f"推送内容超过 {MAX_BODY // 2**20} MB 上限"
        if (request.content_length or 0) > MAX_BODY:
            self.rejected += 1
            return web.json_response({"ok": False, "detail": too_large}, status=413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.rejected += 1
            return web.json_response({"ok": False, "detail": too_large}, status=413)
        try:
            read = self.parse(request.headers.get("Content-Type", ""), body, camera)
        except LookupError as exc:
            self.rejected += 1
            return web.json_response({"ok": False, "detail": str(exc)}, status=415)
        except PushFormatError as exc:
            self.rejected += 1
            return web.json_response({"ok": False, "detail": str(exc)}, status=400)
        self.received += 1
        for check in self.checks:
            check(read)
        await self.on_read(read)
        return web.json_response({"ok": True})
