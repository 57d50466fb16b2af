"""Camera push families (issue 23): Dahua ITC, 臻识 VZ and generic JSON pushes sent by the simulators
over real TCP to the agent's receiver become camera reads and passes with pictures through the lane;
malformed pushes (bad XML, bad JSON, a 10 MB body, GBK, missing plate, unknown colour) get a clear
HTTP 4xx with a Chinese reason and the receiver keeps serving; each family's colour table; clock skew."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from aiohttp import web

from agent.devices.sim.camera_push import (
    PushSender,
    build_dahua_push,
    build_generic_push,
    build_isapi_push,
    build_push,
    build_vzenith_push,
)
from agent.devices.types import HealthLevel
from agent.outbox import Outbox
from agent.runtime.config import CameraConfig
from agent.runtime.virtual import VirtualBarrier
from agent.sources.camera_push import CameraPushReceiver, CameraRead, PushFormatError
from agent.sources.push_formats import FAMILIES, ClockCheck, camera_receiver, formats_for, to_lane_read
from agent.sources.push_formats.common import MAX_JSON_DEPTH, load_json
from agent.sources.push_formats.dahua import DAHUA_COLOURS, DahuaItcFormat, map_dahua_colour
from agent.sources.push_formats.generic import GenericJsonFormat
from agent.sources.push_formats.vzenith import VZENITH_COLOUR_CODES, VzenithFormat, map_vzenith_colour
from agent_protocol.events import Decision, SnapshotRole
from hj1321.plates import PlateColour
from tests.agent.lane_kit import KNOWN, make_lane

pytestmark = pytest.mark.anyio

SCENE = b"\xff\xd8\xff\xe0scene" + bytes(range(256)) * 4 + b"\xff\xd9"
CROP = b"\xff\xd8\xff\xe0plate" + bytes(range(64)) + b"\xff\xd9"
NEW_FAMILIES = ("dahua-itc", "vzenith-vz", "generic-json")


class Harness:
    """A receiver on a loopback TCP port; reads collected in ``reads``."""

    def __init__(self, push_format: str | None = None, *, clock_skew_s: float = 120.0) -> None:
        self.reads: list[CameraRead] = []
        self.receiver, self.clock = camera_receiver(
            "cam-1", self._on_read, push_format=push_format, clock_skew_s=clock_skew_s
        )
        self.runner = web.AppRunner(self.receiver.app())
        self.url = ""

    async def _on_read(self, read: CameraRead) -> None:
        self.reads.append(read)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/camera-push/cam-1"

    async def send(self, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return await PushSender(self.url).send(content_type, body)


@pytest.fixture(name="harness")
async def fx_harness() -> AsyncIterator[Harness]:
    h = Harness()
    await h.start()
    yield h
    await h.runner.cleanup()


@pytest.mark.parametrize("family", NEW_FAMILIES)
async def test_push_becomes_a_pass_with_pictures(family: str, outbox: Outbox) -> None:
    barrier = VirtualBarrier("b")
    lane = make_lane(outbox, barrier)
    h = Harness(family)
    passes = []

    async def on_read(read: CameraRead) -> None:
        h.reads.append(read)
        passes.append(await lane.handle_read(to_lane_read(read)))

    h.receiver.on_read = on_read
    await h.start()
    try:
        status, answer = await h.send(*build_push(family, KNOWN, colour="yellow", scene_jpeg=SCENE, plate_jpeg=CROP))
    finally:
        await h.runner.cleanup()
    assert (status, answer) == (200, {"ok": True})
    (read,) = h.reads
    assert (read.camera, read.plate, read.colour, read.format) == ("cam-1", KNOWN, "yellow", family)
    assert (read.scene_picture, read.plate_picture) == (SCENE, CROP)
    (event,) = passes
    assert event is not None
    assert event.plate == KNOWN
    assert event.decision is Decision.ALLOW
    snaps = {s.role: s for s in event.evidence.snapshots}
    assert snaps[SnapshotRole.SCENE].sha256 == hashlib.sha256(SCENE).hexdigest()
    assert snaps[SnapshotRole.PLATE].sha256 == hashlib.sha256(CROP).hexdigest()
    assert [e.event_id for e in outbox.events()] == [event.event_id]


async def test_configured_family_refuses_the_others() -> None:
    h = Harness("vzenith-vz")
    await h.start()
    try:
        status, answer = await h.send(*build_push("dahua-itc", KNOWN))
        assert status == 415
        assert answer["detail"] == "不支持的摄像机推送格式"
        assert (await h.send(*build_push("vzenith-vz", KNOWN)))[0] == 200
    finally:
        await h.runner.cleanup()


def _bad_pushes() -> list[tuple[str, str, bytes, int, str]]:
    isapi_ct, isapi = build_isapi_push(KNOWN)
    dahua_ct, dahua = build_dahua_push(KNOWN)
    gbk_vz = build_vzenith_push(KNOWN, charset="gbk", declare_charset=False)
    gbk_generic = build_generic_push(KNOWN, charset="gbk", declare_charset=False)
    deep = b'{"schema": "ecogate.plate-read/1", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    return [
        ("bad XML", isapi_ct, isapi.replace(b"<ANPR>", b"<ANPR"), 400, "XML"),
        (
            "XML entity",
            isapi_ct,
            isapi.replace(b"<EventNotificationAlert", b"<!DOCTYPE x><EventNotificationAlert"),
            400,
            "DOCTYPE",
        ),
        ("bad JSON", "application/json", b'{"AlarmInfoPlate": {"result": ', 400, "JSON"),
        ("deep JSON", "application/json", deep, 400, "嵌套"),
        ("GBK undeclared (VZ)", *gbk_vz, 400, "charset=GBK"),
        ("GBK undeclared (generic)", *gbk_generic, 400, "charset=GBK"),
        ("unknown charset", "application/json; charset=big5", build_generic_push(KNOWN)[1], 400, "big5"),
        ("missing plate (VZ)", *build_vzenith_push(KNOWN, omit_plate=True), 400, "车牌号码"),
        ("missing plate (Dahua)", *build_dahua_push(KNOWN, omit_plate=True), 400, "车牌号码"),
        ("missing plate (generic)", *build_generic_push(KNOWN, extra={"plate": None}), 400, "plate"),
        ("unknown colour (VZ)", *build_vzenith_push(KNOWN, colour_type=42), 400, "colorType=42"),
        ("unknown colour (Dahua)", *build_dahua_push(KNOWN, colour="Purple"), 400, "Purple"),
        ("unknown colour (generic)", *build_generic_push(KNOWN, colour="purple"), 400, "colour"),
        ("unknown field (generic)", *build_generic_push(KNOWN, extra={"speed": 30}), 400, "speed"),
        ("picture not base64", *build_generic_push(KNOWN, extra={"scene_jpeg": "**"}), 400, "base64"),
        ("picture not JPEG", *build_vzenith_push(KNOWN, scene_jpeg=b"GIF89a"), 400, "JPEG"),
        ("not a vehicle event", *build_dahua_push(KNOWN, code="VideoMotion"), 400, "VideoMotion"),
        ("no text part", dahua_ct, dahua.replace(b"text/plain", b"application/octet-stream"), 400, "事件信息"),
        ("unknown format", "application/json", b'{"hello": 1}', 415, "不支持"),
    ]


async def test_malformed_pushes_get_clear_errors(harness: Harness) -> None:
    for what, ctype, body, status, needle in _bad_pushes():
        got, answer = await harness.send(ctype, body)
        assert (got, answer.get("ok")) == (status, False), what
        assert needle in answer["detail"], (what, answer)
    # still serving after all that
    assert (await harness.send(*build_push("generic-json", KNOWN)))[0] == 200
    assert harness.receiver.rejected == len(_bad_pushes())
    assert len(harness.reads) == 1


async def test_ten_megabyte_body_refused(harness: Harness) -> None:
    ctype, body = build_generic_push(KNOWN)
    huge = body[:-1] + b', "pad": "' + b"x" * (10 * 2**20) + b'"}'
    status, answer = await harness.send(ctype, huge)
    assert status == 413
    assert "MB 上限" in answer["detail"]
    assert (await harness.send(ctype, body))[0] == 200


async def test_gbk_declared_is_decoded(harness: Harness) -> None:
    for ctype, body in (
        build_vzenith_push("苏E12345", charset="gbk"),
        build_dahua_push("苏E12345", charset="gbk"),
        build_generic_push("苏E12345", charset="gb2312"),
    ):
        assert "苏".encode("gbk") in body
        assert (await harness.send(ctype, body))[0] == 200
    assert [r.plate for r in harness.reads] == ["苏E12345"] * 3


def test_colour_tables_per_family() -> None:
    # 臻识: 1 blue, 2 yellow …  (Hikvision's 1 is yellow, its 0 blue: schemes differ)
    assert {code: str(c) for code, c in VZENITH_COLOUR_CODES.items()} == {
        0: "other",
        1: "blue",
        2: "yellow",
        3: "white",
        4: "black",
        5: "green",
        6: "yellow_green",
    }
    assert map_vzenith_colour(None) is PlateColour.OTHER
    with pytest.raises(PushFormatError, match="colorType=9"):
        map_vzenith_colour(9)
    assert map_dahua_colour("Yellow") is PlateColour.YELLOW
    assert map_dahua_colour("yellow-green") is PlateColour.YELLOW_GREEN
    assert map_dahua_colour("NewEnergyGreen") is PlateColour.GREEN
    assert map_dahua_colour("") is PlateColour.OTHER
    assert set(DAHUA_COLOURS.values()) == set(PlateColour)
    with pytest.raises(PushFormatError, match="Red"):
        map_dahua_colour("Red")
    # every family round-trips every canonical colour through its own codes
    receiver = CameraPushReceiver(lambda r: None, formats_for())  # type: ignore[arg-type,return-value]
    for family in FAMILIES:
        for colour in PlateColour:
            read = receiver.parse(*build_push(family, KNOWN, colour=str(colour)), "c")
            assert (read.format, read.colour) == (family, str(colour))
    assert receiver.parse(*build_vzenith_push(KNOWN, colour_type=1), "c").raw_colour == "1"
    assert receiver.parse(*build_isapi_push(KNOWN, colour_code=1), "c").colour == "yellow"


def test_no_plate_and_defaults() -> None:
    assert VzenithFormat().parse(*build_vzenith_push("_无_", colour_type=0), "").plate == ""
    assert DahuaItcFormat().parse(*build_dahua_push("无车牌", colour="Unknown"), "").plate == ""
    read = GenericJsonFormat().parse(*build_generic_push("", colour="other", channel=None), "")
    assert (read.plate, read.camera, read.channel) == ("", "camera", None)
    assert to_lane_read(read).plate is None
    with pytest.raises(PushFormatError, match="嵌套"):
        load_json(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "application/json")
    assert load_json(b'["' + b"[" * 30 + b'"]', "application/json") == ["[" * 30]


async def test_clock_skew_is_a_device_alarm() -> None:
    h = Harness(clock_skew_s=60.0)
    await h.start()
    try:
        assert (await h.send(*build_vzenith_push(KNOWN)))[0] == 200
        assert h.clock.health.current.level is HealthLevel.OK
        assert h.clock.last_skew_s is not None
        assert abs(h.clock.last_skew_s) < 5
        # a Dahua camera 8 h ahead (local time sent as UTC) and a VZ camera 10 minutes behind
        late = (datetime.now(UTC) + timedelta(hours=8)).timestamp()
        assert (await h.send(*build_dahua_push(KNOWN, utc=late)))[0] == 200  # the read is still used
        health = h.clock.health.current
        assert (health.level, health.code, health.kind) == (HealthLevel.DEGRADED, "clock_skew", "camera")
        assert health.message.startswith("摄像机时钟偏差 +28")
        assert h.clock.last_skew_s is not None
        assert abs(h.clock.last_skew_s - 8 * 3600) < 5
        behind = (datetime.now(UTC) - timedelta(minutes=10)).timestamp()
        assert (await h.send(*build_vzenith_push(KNOWN, sec=behind)))[0] == 200
        assert h.clock.health.current.message.startswith("摄像机时钟偏差 -")
        assert h.clock.last_skew_s is not None
        assert abs(h.clock.last_skew_s + 600) < 5
        assert (await h.send(*build_generic_push(KNOWN)))[0] == 200
        assert h.clock.health.current.code == "ok"
    finally:
        await h.runner.cleanup()
    assert len(h.reads) == 4


def test_naive_camera_time_is_china_time() -> None:
    clock = ClockCheck("c", threshold_s=30)
    now = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    read = CameraRead(
        camera="c",
        plate="",
        colour="other",
        confidence=0,
        received_ts=time.monotonic(),
        event_time="2026-12-07 08:00:10",
    )
    skew = clock.check(read, now=now)
    assert skew is not None
    assert 9 < skew < 11


def test_config_push_format_key() -> None:
    cam = msgspec.convert({"id": "c1", "url": "rtsp://x", "push_format": "dahua-itc"}, CameraConfig)
    assert cam.push_format == "dahua-itc"
    assert set(CameraConfig.__annotations__) >= {"push_format", "clock_skew_s"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"id": "c1", "url": "rtsp://x", "push_format": "uniview"}, CameraConfig)
    # the config's choices are exactly the registered families
    for family in FAMILIES:
        msgspec.convert({"id": "c1", "url": "x", "push_format": family}, CameraConfig)
    with pytest.raises(ValueError, match="未知的摄像机推送格式"):
        formats_for("uniview")
