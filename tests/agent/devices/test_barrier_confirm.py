"""Barrier commands with confirmation (issue 16): answer + read-back, position input, bounded retries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.devices.barrier import ModbusRelayBarrier
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.modbus import RelayBarrierSimulator
from agent.devices.types import BarrierState, HealthLevel

EndpointFactory = Callable[[str], SimEndpoint]
Eventually = Callable[..., Awaitable[None]]


async def _pair(
    endpoint_factory: EndpointFactory, tmp_path: Path, **kwargs: Any
) -> tuple[RelayBarrierSimulator, ModbusRelayBarrier]:
    sim = RelayBarrierSimulator(endpoint_factory("barrier"), travel_s=0.1, relay_log=tmp_path / "relay.jsonl")
    await sim.start()
    barrier = ModbusRelayBarrier(
        sim.url, pulse_s=0.02, timeout_s=0.15, poll_s=0.05, travel_timeout_s=0.6, reconnect_s=0.05, **kwargs
    )
    await barrier.start()
    return sim, barrier


@pytest.mark.anyio
async def test_open_is_confirmed_by_answer_and_read_back(endpoint_factory: EndpointFactory, tmp_path: Path) -> None:
    sim, barrier = await _pair(endpoint_factory, tmp_path)
    try:
        status = await barrier.open()
        assert status.confirmed
        assert not status.fault
        lines = [json.loads(x) for x in (tmp_path / "relay.jsonl").read_text().splitlines()]
        assert [x["command"] for x in lines] == ["open"]
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_lost_answers_are_retried_then_confirmed(endpoint_factory: EndpointFactory, tmp_path: Path) -> None:
    sim, barrier = await _pair(endpoint_factory, tmp_path, retry_pause_s=0.05)
    try:
        await barrier.status()
        sim.slave.drop_replies = 1  # the answer to the first coil write is lost on the line
        status = await barrier.open()
        assert status.confirmed
        assert sim.opens >= 1
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_a_relay_that_does_not_switch_is_not_confirmed(endpoint_factory: EndpointFactory, tmp_path: Path) -> None:
    sim, barrier = await _pair(endpoint_factory, tmp_path, retries=2)
    try:
        sim.slave.stuck_coils = True  # the board answers but the relay never closes
        status = await barrier.open()
        assert not status.confirmed
        assert status.fault
        assert "抬杆指令未送达（已尝试 3 次）" in status.message
        assert barrier.health.level is HealthLevel.FAULT
        assert sim.opens == 0
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_position_input_confirms_or_refuses(endpoint_factory: EndpointFactory, tmp_path: Path) -> None:
    sim, barrier = await _pair(endpoint_factory, tmp_path, confirm_position_s=0.5, retries=1)
    try:
        status = await barrier.open()
        assert status.confirmed
        assert status.state is BarrierState.OPEN
        await barrier.close()
        assert (await barrier.wait_for(BarrierState.CLOSED, 2)).state is BarrierState.CLOSED
        sim.jam()  # the relay pulses but the arm never reaches the open switch
        status = await barrier.open()
        assert not status.confirmed
        assert status.fault
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_a_coil_left_on_by_a_kill_still_gets_a_fresh_pulse(
    endpoint_factory: EndpointFactory, tmp_path: Path
) -> None:
    sim = RelayBarrierSimulator(endpoint_factory("barrier"), travel_s=0.05)
    await sim.start()
    sim.set_responding(respond=False)  # the driver's start-up release of the coils goes unanswered
    barrier = ModbusRelayBarrier(sim.url, pulse_s=0.02, timeout_s=0.15, poll_s=0.05, reconnect_s=0.05)
    await barrier.start()
    try:
        sim.set_responding(respond=True)
        sim.slave.coils[RelayBarrierSimulator.OPEN_COIL] = True  # a killed agent's pulse never ended
        status = await barrier.open()
        assert status.confirmed
        assert sim.opens == 1  # an edge reached the controller: off first, then on
    finally:
        await barrier.stop()
        await sim.stop()
