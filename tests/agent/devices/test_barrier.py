"""Barrier drivers: Modbus RTU relay board (pty and serial server) and the ANPR camera HTTP profile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from agent.devices.barrier import HttpAnprBarrier, ModbusRelayBarrier
from agent.devices.sim.anpr_http import AnprHttpBarrierSimulator
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.modbus import RelayBarrierSimulator
from agent.devices.types import BarrierState, HealthLevel

EndpointFactory = Callable[[str], SimEndpoint]
Eventually = Callable[..., Awaitable[None]]


@dataclass
class Relay:
    sim: RelayBarrierSimulator
    barrier: ModbusRelayBarrier


@pytest.fixture(name="relay")
async def fx_relay(endpoint_factory: EndpointFactory) -> AsyncIterator[Relay]:
    sim = RelayBarrierSimulator(endpoint_factory("barrier"), travel_s=0.2)
    await sim.start()
    barrier = ModbusRelayBarrier(
        sim.url, pulse_s=0.05, timeout_s=0.2, poll_s=0.05, travel_timeout_s=0.6, reconnect_s=0.1
    )
    await barrier.start()
    yield Relay(sim, barrier)
    await barrier.stop()
    await sim.stop()


@pytest.mark.anyio
async def test_relay_open_and_close(relay: Relay, eventually: Eventually) -> None:
    changes = relay.barrier.subscribe()
    await eventually(lambda: relay.barrier.last_status.state is BarrierState.CLOSED)
    status = await relay.barrier.open()
    assert not status.fault
    assert relay.sim.opens == 1
    assert relay.sim.slave.coils[0] is False  # the pulse ended
    assert (await relay.barrier.wait_for(BarrierState.OPEN, timeout_s=2)).state is BarrierState.OPEN
    await relay.barrier.close()
    assert (await relay.barrier.wait_for(BarrierState.CLOSED, timeout_s=2)).state is BarrierState.CLOSED
    assert relay.barrier.health.level is HealthLevel.OK
    seen = []
    while (item := changes.get_nowait()) is not None:
        seen.append(item.state)
    assert BarrierState.MOVING in seen
    assert BarrierState.OPEN in seen


@pytest.mark.anyio
async def test_relay_silent_controller_is_fault_not_exception(relay: Relay, eventually: Eventually) -> None:
    await eventually(lambda: relay.barrier.health.level is HealthLevel.OK)
    relay.sim.set_responding(respond=False)
    status = await relay.barrier.open()
    assert status.fault
    assert status.state is BarrierState.FAULT
    assert "无响应" in status.message
    assert relay.barrier.health.code == "no_response"
    relay.sim.set_responding(respond=True)
    await eventually(lambda: relay.barrier.health.level is HealthLevel.OK)
    assert not (await relay.barrier.open()).fault


@pytest.mark.anyio
async def test_relay_fault_input_and_stuck_arm(relay: Relay, eventually: Eventually) -> None:
    relay.sim.set_fault(fault=True)
    await eventually(lambda: relay.barrier.health.code == "barrier_fault")
    relay.sim.set_fault(fault=False)
    await eventually(lambda: relay.barrier.health.level is HealthLevel.OK)
    relay.sim.jam()
    await relay.barrier.open()
    await eventually(lambda: relay.barrier.health.code == "barrier_stuck")
    assert relay.barrier.health.message == "道闸未在 0.6 秒内抬起"
    relay.sim.jam(jammed=False)
    await relay.barrier.open()
    await eventually(lambda: relay.barrier.health.level is HealthLevel.OK)


@pytest.mark.anyio
async def test_relay_vanished_port_then_recovers(relay: Relay, eventually: Eventually) -> None:
    await eventually(lambda: relay.barrier.health.level is HealthLevel.OK)
    await relay.sim.vanish()
    await eventually(lambda: relay.barrier.health.level is HealthLevel.FAULT)
    assert (await relay.barrier.open()).fault
    await relay.sim.restore()
    await eventually(lambda: relay.barrier.health.level is HealthLevel.OK)
    await relay.barrier.open()
    assert (await relay.barrier.wait_for(BarrierState.OPEN, timeout_s=2)).state is BarrierState.OPEN


@pytest.fixture(name="camera")
async def fx_camera() -> AsyncIterator[AnprHttpBarrierSimulator]:
    sim = AnprHttpBarrierSimulator(travel_s=0.1, token="s3cret")
    await sim.start()
    yield sim
    await sim.stop()


@pytest.mark.anyio
async def test_http_camera_barrier(camera: AnprHttpBarrierSimulator) -> None:
    barrier = HttpAnprBarrier(camera.base_url, token="s3cret", timeout_s=0.5, poll_s=0.05)
    try:
        assert (await barrier.status()).state is BarrierState.CLOSED
        assert not (await barrier.open()).fault
        assert (await barrier.wait_for(BarrierState.OPEN, timeout_s=2)).state is BarrierState.OPEN
        assert not (await barrier.close()).fault
        assert (await barrier.wait_for(BarrierState.CLOSED, timeout_s=2)).state is BarrierState.CLOSED
        assert camera.commands == ["open", "close"]
        assert barrier.health.level is HealthLevel.OK
    finally:
        await barrier.stop()


@pytest.mark.anyio
async def test_http_camera_errors_are_faults(camera: AnprHttpBarrierSimulator, eventually: Eventually) -> None:
    barrier = HttpAnprBarrier(camera.base_url, token="wrong", timeout_s=0.3, poll_s=0.05)
    try:
        assert (await barrier.open()).fault  # 401
        assert barrier.health.code == "no_response"
        barrier = HttpAnprBarrier(camera.base_url, token="s3cret", timeout_s=0.3, poll_s=0.05)
        await barrier.start()
        await eventually(lambda: barrier.health.level is HealthLevel.OK)
        camera.fail = True
        await eventually(lambda: barrier.health.level is HealthLevel.FAULT)
        camera.fail = False
        camera.hang = True
        status = await barrier.open()
        assert status.fault  # timed out, no exception
        camera.hang = False
        await eventually(lambda: barrier.health.level is HealthLevel.OK)
        camera.fault = True
        await eventually(lambda: barrier.health.code == "barrier_fault")
    finally:
        await barrier.stop()


@pytest.mark.anyio
async def test_http_camera_unreachable() -> None:
    barrier = HttpAnprBarrier("http://127.0.0.1:9", timeout_s=0.3)
    try:
        status = await barrier.open()
        assert status.fault
        assert barrier.health.level is HealthLevel.FAULT
    finally:
        await barrier.stop()
