"""EG-LED/1 protocol and the serial LED driver against the simulator on a real pty / serial server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from agent.devices.led import (
    LedFrame,
    LedFrameDecoder,
    SerialLedDisplay,
    decode_screen,
    encode_led_frame,
    encode_screen,
    gate_screen,
)
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.led import LedDisplaySimulator
from agent.devices.types import HealthLevel, LedColour, LedLine, LedScreen

EndpointFactory = Callable[[str], SimEndpoint]
Eventually = Callable[..., Awaitable[None]]


def test_frame_layout() -> None:
    frame = encode_led_frame(LedFrame(1, "P"))
    assert frame == b"\x0201P0000" + f"{sum(b'01P0000') & 0xFF:02X}".encode() + b"\x03"


def test_gate_screen_round_trip_in_gbk() -> None:
    screen = gate_screen("鄂A12345", "国六", allowed=True)
    payload = encode_screen(screen)
    assert "鄂A12345".encode("gbk") in payload
    assert decode_screen(payload) == screen
    refused = gate_screen("粤ZP560港", "国四", allowed=False, text="国四柴油车禁止入场")
    assert refused.lines[2] == LedLine("国四柴油车禁止入场", LedColour.RED)
    assert decode_screen(encode_screen(refused)) == refused


def test_encode_screen_cuts_on_character_boundary_and_replaces_unknown() -> None:
    screen = LedScreen((LedLine("欢迎光临请通行"),))
    payload = encode_screen(screen, max_line_bytes=5)
    assert decode_screen(payload).texts == ("欢迎",)
    assert decode_screen(encode_screen(LedScreen((LedLine("OK 😀\x07"),)))).texts == ("OK ?",)


def test_decoder_resyncs_after_garbage_and_bad_checksum() -> None:
    good = encode_led_frame(LedFrame(1, "S", encode_screen(gate_screen("鄂A12345", "国五", allowed=True))))
    bad = bytearray(good)
    bad[-2] = ord("0") if bad[-2] != ord("0") else ord("1")
    decoder = LedFrameDecoder()
    frames = [f for chunk in (b"\x02zz\x00", bytes(bad), b"\x03\x02", good[:7], good[7:]) for f in decoder.feed(chunk)]
    assert [f.command for f in frames] == ["S"]
    assert decoder.frames_bad == 1
    assert decoder.bad_addresses == [1]


@pytest.mark.anyio
async def test_show_and_clear_reach_the_screen(endpoint_factory: EndpointFactory) -> None:
    sim = LedDisplaySimulator(endpoint_factory("led"))
    await sim.start()
    led = SerialLedDisplay(sim.url, timeout_s=0.5)
    try:
        screen = gate_screen("鄂A12345", "国六", allowed=True)
        assert await led.show(screen) is True
        assert sim.current == screen
        assert led.health.level is HealthLevel.OK
        assert await led.show([LedLine("禁止通行", LedColour.RED)] * 6) is True
        assert len(sim.current.lines) == 4  # cut to the screen's line count
        assert await led.clear() is True
        assert not sim.current.lines
        assert len(sim.history) == 3
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_mute_screen_is_a_fault_then_recovers(pty_factory: EndpointFactory, eventually: Eventually) -> None:
    sim = LedDisplaySimulator(pty_factory("led"))
    await sim.start()
    led = SerialLedDisplay(sim.url, timeout_s=0.2, keepalive_s=0.1)
    await led.start()
    try:
        await eventually(lambda: led.health.level is HealthLevel.OK)
        sim.respond = False
        assert await led.show(gate_screen("鄂A12345", "国六", allowed=True)) is False
        assert led.health.code == "no_response"
        assert led.health.message == "LED显示屏无响应"
        sim.respond = True
        await eventually(lambda: led.health.level is HealthLevel.OK)
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_vanished_screen_port_is_a_fault_then_recovers(
    endpoint_factory: EndpointFactory, eventually: Eventually
) -> None:
    sim = LedDisplaySimulator(endpoint_factory("led"))
    await sim.start()
    led = SerialLedDisplay(sim.url, timeout_s=0.2, keepalive_s=0.1)
    await led.start()
    try:
        await eventually(lambda: led.health.level is HealthLevel.OK)
        await sim.vanish()
        await eventually(lambda: led.health.level is HealthLevel.FAULT)
        assert await led.show(gate_screen("鄂A12345", "国六", allowed=True)) is False
        await sim.restore()
        await eventually(lambda: led.health.level is HealthLevel.OK)
        assert await led.show(gate_screen("鄂A12345", "国六", allowed=True)) is True
        assert sim.current.texts[0] == "鄂A12345"
    finally:
        await led.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_wrong_address_is_no_response(pty_factory: EndpointFactory) -> None:
    sim = LedDisplaySimulator(pty_factory("led"), address=2)
    await sim.start()
    led = SerialLedDisplay(sim.url, address=1, timeout_s=0.2)
    try:
        assert await led.ping() is False
        assert led.health.code == "no_response"
    finally:
        await led.stop()
        await sim.stop()
