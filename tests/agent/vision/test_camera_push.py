"""Camera-reported reads: ISAPI-style push parsing, colour mapping, HTTP receiver, second opinion."""

from __future__ import annotations

import cv2
import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.sources.camera_push import (
    CameraPushReceiver,
    CameraRead,
    HikvisionIsapiFormat,
    PushFormatError,
    build_isapi_push,
    map_hikvision_colour,
)
from agent.synth.scene import generate_scene
from agent.vision import PlateRecognizer
from agent.vision.second_opinion import Agreement, second_opinion


def _jpeg(img: object) -> bytes:
    ok, buf = cv2.imencode(".jpg", img)  # type: ignore[call-overload]
    assert ok
    return bytes(buf)


def test_colour_codes_scheme_a() -> None:
    assert map_hikvision_colour("0") == "blue"
    assert map_hikvision_colour("1") == "yellow"
    assert map_hikvision_colour("2") == "white"  # scheme A: 2 white (scheme C: 2 black)
    assert map_hikvision_colour("3") == "black"
    assert map_hikvision_colour("4") == "green"
    assert map_hikvision_colour("6") == "yellow_green"
    assert map_hikvision_colour("0xFF") == "other"
    assert map_hikvision_colour("255") == "other"
    assert map_hikvision_colour("yellowGreen") == "yellow_green"
    assert map_hikvision_colour("purple") == "other"
    assert map_hikvision_colour(None) == "other"


def test_parse_push() -> None:
    ctype, body = build_isapi_push(
        "鄂A·12345", colour_code=3, confidence=87, scene_jpeg=b"\xff\xd8scene", plate_jpeg=b"\xff\xd8plate"
    )
    read = HikvisionIsapiFormat().parse(ctype, body, "lane-1")
    assert read.plate == "鄂A12345"
    assert read.colour == "black"
    assert read.raw_colour == "3"
    assert read.confidence == pytest.approx(0.87)
    assert read.scene_picture == b"\xff\xd8scene"
    assert read.plate_picture == b"\xff\xd8plate"
    assert read.camera == "lane-1"
    assert read.event_time is not None
    ctype, body = build_isapi_push("无车牌", colour_code=255)
    assert HikvisionIsapiFormat().parse(ctype, body, "").plate == ""


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a.jpg"\r\n\r\nEventNotificationAlert\r\n--x--\r\n',
        ),
        ("text/plain", b"EventNotificationAlert"),
    ],
)
def test_malformed_pushes(ctype: str, body: bytes) -> None:
    with pytest.raises(PushFormatError):
        HikvisionIsapiFormat().parse(ctype, body, "")


def test_entities_rejected() -> None:
    ctype, body = build_isapi_push("鄂A12345")
    evil = body.replace(b"<EventNotificationAlert", b'<!DOCTYPE x [<!ENTITY a "b">]><EventNotificationAlert')
    with pytest.raises(PushFormatError, match="DOCTYPE"):
        HikvisionIsapiFormat().parse(ctype, evil, "")


@pytest.mark.anyio
async def test_http_receiver() -> None:
    got: list[CameraRead] = []

    async def on_read(read: CameraRead) -> None:
        got.append(read)

    receiver = CameraPushReceiver(on_read)
    async with TestClient(TestServer(receiver.app())) as client:
        ctype, body = build_isapi_push("粤B12345", colour_code=1)
        resp = await client.post("/camera-push/gate-1-in", data=body, headers={"Content-Type": ctype})
        assert resp.status == 200
        resp = await client.post("/camera-push", data=b"{}", headers={"Content-Type": "application/json"})
        assert resp.status == 415
        bad = body.replace(b"<ANPR>", b"<ANPR")
        resp = await client.post("/camera-push/x", data=bad, headers={"Content-Type": ctype})
        assert resp.status == 400
        assert "XML" in (await resp.json())["detail"]
    assert [(r.camera, r.plate, r.colour) for r in got] == [("gate-1-in", "粤B12345", "yellow")]
    assert receiver.received == 1
    assert receiver.rejected == 2


def test_second_opinion_agree_disagree(recognizer: PlateRecognizer) -> None:
    img, truth = generate_scene(3, condition="normal")
    assert truth.plate is not None
    scene = _jpeg(img)
    fmt = HikvisionIsapiFormat()
    agree = second_opinion(
        recognizer, fmt.parse(*build_isapi_push(truth.plate, colour_code=0, confidence=80, scene_jpeg=scene), "c")
    )
    assert agree.agreement is Agreement.AGREE
    assert agree.confidence > 0.8
    assert agree.plate == truth.plate
    wrong = truth.plate[:-1] + ("1" if truth.plate[-1] != "1" else "2")
    disagree = second_opinion(
        recognizer, fmt.parse(*build_isapi_push(wrong, colour_code=0, confidence=80, scene_jpeg=scene), "c")
    )
    assert disagree.agreement is Agreement.DISAGREE
    assert disagree.needs_review
    assert disagree.camera_plate == wrong
    assert disagree.ours is not None
    assert disagree.ours.plate == truth.plate
    only = second_opinion(recognizer, fmt.parse(*build_isapi_push(truth.plate, colour_code=0, confidence=99), "c"))
    assert only.agreement is Agreement.CAMERA_ONLY
    empty_img, _ = generate_scene(8, condition="empty")
    nothing = second_opinion(recognizer, fmt.parse(*build_isapi_push("无车牌", scene_jpeg=_jpeg(empty_img)), "c"))
    assert nothing.agreement is Agreement.NONE
    assert nothing.plate == ""
