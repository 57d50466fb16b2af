"""LED families and voice (issue 23): BX-style and 灵信-style frames on real ptys / TCP, the screen behind
a 臻识 camera's RS-485 port, the HJ 1321 templates and the offline eSpeak NG prompt."""

from __future__ import annotations

import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agent.devices import led_protocols as lp
from agent.devices.led import SerialLedDisplay
from agent.devices.led_families import FamilyLedDisplay, VzRs485Transport
from agent.devices.notice import LANE_ALLOWED, LANE_REFUSED, GateNotice, NoticeTemplates
from agent.devices.registry import LED_DISPLAYS, DeviceConfigError
from agent.devices.sim.camera_relay import VzenithCameraSimulator
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.led_families import FamilyScreenSimulator
from agent.devices.types import HealthLevel, LedColour, LedLine, LedScreen
from agent.devices.voice import EspeakVoice

EndpointFactory = Callable[[str], SimEndpoint]
Eventually = Callable[..., Awaitable[None]]


def _texts(sim: FamilyScreenSimulator) -> tuple[str, ...]:
    return sim.current.texts


def _lane_screen(plate: str, stage: str, allowed: bool) -> LedScreen:
    """The screen agent.runtime.pipeline builds for a pass."""
    colour = LedColour.GREEN if allowed else LedColour.RED
    return LedScreen(
        (
            LedLine(plate, LedColour.YELLOW),
            LedLine(stage, colour),
            LedLine(LANE_ALLOWED if allowed else LANE_REFUSED, colour),
            LedLine("国五车辆橙色预警期间禁行", colour),
        )
    )


@pytest.mark.parametrize("protocol", ["bx", "lingxin"])
@pytest.mark.anyio
async def test_family_screen_shows_the_hj1321_lines_and_speaks(
    protocol: str, endpoint_factory: EndpointFactory
) -> None:
    sim = FamilyScreenSimulator("bx" if protocol == "bx" else "lingxin", endpoint_factory("led"), address=3)
    await sim.start()
    led = LED_DISPLAYS.create(
        {
            "type": f"{protocol}_led",
            "name": "lane1-led",
            "port": sim.url,
            "address": 3,
            "templates": {"no_control": "橙色预警 管控中"},
            "screen_voice": True,
            "timeout_s": 3.0,  # a loaded machine; an answer ends the wait at once
        }
    )
    try:
        assert isinstance(led, FamilyLedDisplay)
        assert await led.show(_lane_screen("鄂A12345", "国六", allowed=True))
        assert _texts(sim) == ("鄂A12345", "国六", "橙色预警 管控中", "请通行")
        assert sim.current.lines[0].colour is LedColour.YELLOW
        assert sim.current.lines[3].colour is LedColour.GREEN
        assert sim.spoken == ["鄂 A 幺 二 三 四 五，国六，请通行"]
        assert await led.show(_lane_screen("鄂A54321", "国五", allowed=False))
        assert _texts(sim)[-1] == "禁止通行"
        assert sim.current.lines[-1].colour is LedColour.RED
        assert await led.show([LedLine("系统维护中", LedColour.WHITE)])  # any other screen: as given
        assert _texts(sim) == ("系统维护中",)
        assert await led.clear()
        assert _texts(sim) == ()
        assert await led.ping()
        assert led.health.level is HealthLevel.OK
        assert sim.frames_bad == 0
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_rejections_and_silence_are_health_faults(pty_factory: EndpointFactory) -> None:
    sim = FamilyScreenSimulator("lingxin", pty_factory("led"))
    await sim.start()
    led = LED_DISPLAYS.create({"type": "lingxin_led", "name": "led", "port": sim.url, "timeout_s": 1.0})
    try:
        sim.reject = 5
        assert not await led.show([LedLine("测试")])
        assert led.health.code == "rejected"
        sim.reject = 0
        sim.respond = False
        assert not await led.show([LedLine("测试")])
        assert led.health.code == "no_response"
        sim.respond = True
        assert await led.show([LedLine("测试")])
        assert led.health.level is HealthLevel.OK
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_screen_behind_the_camera_gets_the_frames_the_camera_forwards() -> None:
    screen = FamilyScreenSimulator("lingxin", address=1)
    camera = VzenithCameraSimulator(on_rs485=screen.feed)
    await camera.start()
    led = LED_DISPLAYS.create(
        {
            "type": "camera_rs485_led",
            "name": "cam-led",
            "host": "127.0.0.1",
            "camera_port": camera.port,
            "templates": {},
            "screen_voice": True,
            "timeout_s": 3.0,
        }
    )
    try:
        assert isinstance(led, FamilyLedDisplay)
        assert isinstance(led.transport, VzRs485Transport)
        assert await led.show(_lane_screen("苏E9A8B7", "国六", allowed=True))
        assert _texts(screen) == ("苏E9A8B7", "国六", "无管控", "请通行")
        assert screen.spoken == ["苏 E 九 A 八 B 七，国六，请通行"]
        assert all(c["cmd"] == "ttransmission" for c in camera.commands)
        assert await led.ping()
        await camera.stop()
        assert not await led.show([LedLine("测试")])
        assert led.health.level is HealthLevel.FAULT
    finally:
        await led.stop()
        await camera.stop()


def test_templates_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(DeviceConfigError, match="plate_number"):
        LED_DISPLAYS.parse(
            {"type": "bx_led", "name": "x", "port": "/dev/null", "templates": {"lines": ["{plate_number}"]}}
        )
    custom = NoticeTemplates(lines=("车牌 {plate}", "{verdict}"), allowed="欢迎光临", voice="{plate}{verdict}")
    notice = GateNotice(plate="鄂A12345", emission_stage="国六", allowed=True)
    assert custom.screen(notice).texts == ("车牌 鄂A12345", "欢迎光临")
    assert custom.speech(notice) == "鄂A12345欢迎光临"


def test_frames_survive_escaping_and_reject_corruption() -> None:
    screen = LedScreen((LedLine("\u5a5a\u5b5b A5", LedColour.RED),))  # bytes that need BX escaping in GBK
    frame = lp.bx_show(0x5A, screen)
    decoder = lp.BxDecoder()
    [(dst, _src, data)] = decoder.feed(b"\x00garbage" + frame)
    assert dst == 0x5A
    assert lp.bx_command(dst, data).screen == screen
    broken = bytearray(lp.lx_show_line(1, 0, LedLine("鄂A12345")))
    broken[10] ^= 0xFF
    lx = lp.LxDecoder()
    assert lx.feed(bytes(broken)) == []
    assert lx.frames_bad == 1


@pytest.mark.anyio
async def test_espeak_voice_synthesises_a_chinese_prompt_offline(tmp_path: Path) -> None:
    voice = EspeakVoice(player=None, directory=tmp_path)
    assert EspeakVoice.available(), "espeak-ng missing: infra/sysdeps.sh installs it"
    assert await voice.say("鄂 A 幺 二 三 四 五，国六，请通行")
    assert voice.last_wav is not None
    with wave.open(str(voice.last_wav)) as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0  # seconds of speech
    no_player = EspeakVoice(player=("ecogate-no-such-player",), directory=tmp_path)
    assert not await no_player.say("请通行")
    assert no_player.health.code == "no_audio"
    assert no_player.last_wav is not None  # synthesised anyway


@pytest.mark.anyio
async def test_lane_screen_is_also_spoken_on_the_agent_speaker(pty_factory: EndpointFactory) -> None:
    sim = FamilyScreenSimulator("lingxin", pty_factory("led"))
    await sim.start()
    led = LED_DISPLAYS.create(
        {
            "type": "lingxin_led",
            "name": "led",
            "port": sim.url,
            "templates": {},
            "voice": {"player": []},
            "timeout_s": 3.0,
        }
    )
    try:
        assert isinstance(led, FamilyLedDisplay)
        assert led.voice is not None
        assert await led.show(_lane_screen("鄂A12345", "国六", allowed=False))
        assert sim.spoken == []  # no screen voice configured
        await led.stop()  # waits for the prompt in flight
        assert led.voice.last_text == "鄂 A 幺 二 三 四 五，国六，禁止通行"
        assert led.voice.last_wav is not None
        assert led.voice.last_wav.stat().st_size > 10_000
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_eg_led_screen_takes_the_templates_too(pty_factory: EndpointFactory) -> None:
    from agent.devices.sim.led import LedDisplaySimulator  # noqa: PLC0415

    sim = LedDisplaySimulator(pty_factory("led"))
    await sim.start()
    led = LED_DISPLAYS.create(
        {
            "type": "serial_led",
            "name": "led",
            "port": sim.url,
            "templates": {"lines": ["{plate} {verdict}", "{control}"], "refused": "请勿通行"},
            "voice": {"player": []},
            "timeout_s": 3.0,
        }
    )
    try:
        assert await led.show(_lane_screen("鄂A54321", "国四", allowed=False))
        assert sim.current.texts == ("鄂A54321 请勿通行", "无管控")
        assert await led.show([LedLine("系统维护中")])
        assert sim.history[-1].texts == ("系统维护中",)
        await led.stop()
        assert isinstance(led, SerialLedDisplay)
        assert led.voice is not None
        assert led.voice.last_text == "鄂 A 五 四 三 二 幺，国四，请勿通行"
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_eg_led_without_templates_keeps_the_lane_lines(pty_factory: EndpointFactory) -> None:
    """The lane hands every screen with ``announce`` a GateNotice; the EG-LED/1 screen without templates
    still shows the classic four lines (plate / stage / 欢迎光临 请通行 / reason)."""
    from agent.devices.sim.led import LedDisplaySimulator  # noqa: PLC0415

    sim = LedDisplaySimulator(pty_factory("led"))
    await sim.start()
    led = LED_DISPLAYS.create({"type": "serial_led", "name": "led", "port": sim.url, "timeout_s": 3.0})
    try:
        assert isinstance(led, SerialLedDisplay)
        notice = GateNotice("鄂A12345", "国六", "橙色预警 管控中", allowed=True, reason="国六车辆")
        assert await led.announce(notice)
        assert sim.current.texts == ("鄂A12345", "国六", LANE_ALLOWED, "国六车辆")
    finally:
        await led.stop()
        await sim.stop()
