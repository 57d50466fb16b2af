"""Barrier through the camera (issue 23): Dahua ITC CGI and 臻识 VZ TCP, confirmed over real TCP."""

from __future__ import annotations

import pytest

from agent.devices.camera_barrier import DahuaItcBarrier, HikvisionIsapiBarrier, VzenithBarrier
from agent.devices.registry import BARRIERS
from agent.devices.sim.camera_relay import DahuaCameraSimulator, HikvisionCameraSimulator, VzenithCameraSimulator
from agent.devices.types import BarrierState, HealthLevel


@pytest.mark.anyio
async def test_dahua_open_is_confirmed_by_answer_and_relay_read_back() -> None:
    sim = DahuaCameraSimulator(password="s3cret", travel_s=0.1, hold_s=3.0)
    await sim.start()
    barrier = BARRIERS.create(
        {
            "type": "dahua_itc",
            "name": "lane1-barrier",
            "base_url": sim.base_url,
            "username": "admin",
            "password": "s3cret",
            "open_input": 0,
            "closed_input": 1,
            "poll_s": 0.05,
            "confirm_position_s": 2.0,
        }
    )
    try:
        assert isinstance(barrier, DahuaItcBarrier)
        status = await barrier.open()
        assert status.confirmed, status.message
        assert status.state is BarrierState.OPEN  # the open limit switch, via getInState
        assert sim.commands == ["openStrobe"]
        assert sim.auth_failures >= 1  # the digest challenge really happened
        closed = await barrier.close()
        assert closed.confirmed
        assert (await barrier.wait_for(BarrierState.CLOSED, 3.0)).state is BarrierState.CLOSED
        assert barrier.health.level is HealthLevel.OK
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_dahua_relay_that_does_not_switch_is_not_confirmed() -> None:
    sim = DahuaCameraSimulator(travel_s=0.1)
    await sim.start()
    barrier = DahuaItcBarrier(sim.base_url, retries=1, poll_s=0.05)
    try:
        sim.stuck_relay = True  # the camera answers OK but the output never closes
        status = await barrier.open()
        assert not status.confirmed
        assert status.fault
        assert "抬杆指令未送达（已尝试 2 次）" in status.message
        assert sim.commands == ["openStrobe", "openStrobe"]
        assert barrier.health.level is HealthLevel.FAULT
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_dahua_wrong_password_and_dead_camera_are_faults() -> None:
    sim = DahuaCameraSimulator(password="right")
    await sim.start()
    barrier = DahuaItcBarrier(sim.base_url, username="admin", password="wrong", retries=0)
    try:
        status = await barrier.open()
        assert not status.confirmed
        assert status.fault
        assert sim.commands == []
    finally:
        await barrier.stop()
        await sim.stop()
    dead = DahuaItcBarrier(sim.base_url, retries=0, timeout_s=0.5)
    try:
        assert (await dead.status()).state is BarrierState.FAULT
        assert dead.health.code == "no_response"
    finally:
        await dead.stop()


@pytest.mark.anyio
async def test_vzenith_open_confirmed_and_position_read_from_gpio() -> None:
    sim = VzenithCameraSimulator(travel_s=0.1)
    await sim.start()
    barrier = BARRIERS.create(
        {
            "type": "vzenith_vz",
            "name": "lane1-barrier",
            "host": "127.0.0.1",
            "port": sim.port,
            "close_io": 1,
            "open_input": 0,
            "closed_input": 1,
            "poll_s": 0.05,
            "confirm_position_s": 2.0,
        }
    )
    try:
        assert isinstance(barrier, VzenithBarrier)
        status = await barrier.open()
        assert status.confirmed, status.message
        assert status.state is BarrierState.OPEN
        assert [c["cmd"] for c in sim.commands if c["cmd"] == "ioctl"] == ["ioctl"]
        assert sim.arm.opens == 1
        assert (await barrier.close()).confirmed
        assert (await barrier.wait_for(BarrierState.CLOSED, 3.0)).state is BarrierState.CLOSED
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_vzenith_refusal_is_retried_then_a_fault_and_state_without_switches() -> None:
    sim = VzenithCameraSimulator(travel_s=0.05)
    await sim.start()
    barrier = VzenithBarrier("127.0.0.1", port=sim.port, retries=2, poll_s=0.05)
    try:
        assert (await barrier.status()).state is BarrierState.UNKNOWN  # no switch, nothing commanded yet
        sim.fail = True
        status = await barrier.open()
        assert not status.confirmed
        assert "抬杆指令未送达（已尝试 3 次）" in status.message
        sim.fail = False
        status = await barrier.open()
        assert status.confirmed
        assert status.state is BarrierState.OPEN  # the last confirmed command
        assert not (await barrier.close()).confirmed  # no close output wired: the barrier closes itself
    finally:
        await barrier.stop()
        await sim.stop()


@pytest.mark.anyio
async def test_hikvision_isapi_barrier_gate_confirmed_by_relay_and_switch() -> None:
    sim = HikvisionCameraSimulator(password="pw", travel_s=0.1, hold_s=3.0)
    await sim.start()
    barrier = BARRIERS.create(
        {
            "type": "hikvision_isapi",
            "name": "lane1-barrier",
            "base_url": sim.base_url,
            "username": "admin",
            "password": "pw",
            "open_input": 1,
            "closed_input": 2,
            "poll_s": 0.05,
            "confirm_position_s": 2.0,
        }
    )
    try:
        assert isinstance(barrier, HikvisionIsapiBarrier)
        status = await barrier.open()
        assert status.confirmed, status.message
        assert status.state is BarrierState.OPEN
        assert sim.commands == ["open"]
        assert (await barrier.close()).confirmed
        assert (await barrier.wait_for(BarrierState.CLOSED, 3.0)).state is BarrierState.CLOSED
        sim.stuck_relay = True
        refused = await barrier.open()
        assert not refused.confirmed
        assert "回读未吸合" in barrier.health.detail
    finally:
        await barrier.stop()
        await sim.stop()
