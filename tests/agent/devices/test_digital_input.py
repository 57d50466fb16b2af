"""Ground-loop input: Modbus discrete inputs polled over a pty / serial server, debounced into events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from agent.devices.digital_input import ModbusDigitalInput
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.modbus import LoopDetectorSimulator
from agent.devices.types import HealthLevel

EndpointFactory = Callable[[str], SimEndpoint]
Eventually = Callable[..., Awaitable[None]]


@dataclass
class Loop:
    sim: LoopDetectorSimulator
    di: ModbusDigitalInput


@pytest.fixture(name="loop")
async def fx_loop(endpoint_factory: EndpointFactory) -> AsyncIterator[Loop]:
    sim = LoopDetectorSimulator(endpoint_factory("loop"), channels=2)
    await sim.start()
    di = ModbusDigitalInput(sim.url, channels=(0, 1), poll_s=0.02, debounce_s=0.1, timeout_s=0.2, reconnect_s=0.1)
    await di.start()
    yield Loop(sim, di)
    await di.stop()
    await sim.stop()


@pytest.mark.anyio
async def test_vehicle_present_then_cleared(loop: Loop, eventually: Eventually) -> None:
    events = loop.di.subscribe()
    await eventually(lambda: loop.di.present(0) is False)
    loop.sim.vehicle_passes(1, dwell_s=0.4)
    first = await events.get(timeout_s=2)
    second = await events.get(timeout_s=2)
    assert first is not None
    assert second is not None
    assert (first.channel, first.present, second.channel, second.present) == (1, True, 1, False)
    assert second.monotonic - first.monotonic >= 0.3
    assert loop.di.present(0) is False


@pytest.mark.anyio
async def test_chatter_shorter_than_debounce_is_ignored(loop: Loop, eventually: Eventually) -> None:
    events = loop.di.subscribe()
    await eventually(lambda: loop.di.present(0) is False)
    for _ in range(3):
        loop.sim.set_present(0, present=True)
        await asyncio.sleep(0.03)
        loop.sim.set_present(0, present=False)
        await asyncio.sleep(0.03)
    assert await events.get(timeout_s=0.3) is None


@pytest.mark.anyio
async def test_mute_detector_is_fault_and_state_unknown(loop: Loop, eventually: Eventually) -> None:
    events = loop.di.subscribe()
    await eventually(lambda: loop.di.health.level is HealthLevel.OK)
    loop.sim.set_responding(respond=False)
    await eventually(lambda: loop.di.health.code == "no_response")
    assert loop.di.present(0) is None
    assert loop.di.health.message == "地感检测器无响应"
    loop.sim.set_present(0, present=True)  # a truck arrived while the detector was unreachable
    loop.sim.set_responding(respond=True)
    await eventually(lambda: loop.di.present(0) is True)
    event = await events.get(timeout_s=1)
    assert event is not None
    assert event.present


@pytest.mark.anyio
async def test_vanished_detector_port_recovers(loop: Loop, eventually: Eventually) -> None:
    await eventually(lambda: loop.di.health.level is HealthLevel.OK)
    await loop.sim.vanish()
    await eventually(lambda: loop.di.health.level is HealthLevel.FAULT)
    await loop.sim.restore()
    await eventually(lambda: loop.di.health.level is HealthLevel.OK)
