"""The weighbridge reader against the indicator simulator over real ptys and a loopback serial server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from agent.devices.scale_protocols import ScaleProtocol
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.profiles import Hold, Ramp, ScaleProfile
from agent.devices.sim.weighbridge import WeighbridgeSimulator
from agent.devices.stability import StabilitySettings
from agent.devices.types import HealthLevel
from agent.devices.weighbridge import SerialWeighbridge

FAST = StabilitySettings(window_s=0.5, tolerance_kg=20, min_readings=5, max_gap_s=0.5)

EndpointFactory = Callable[[str], SimEndpoint]
Eventually = Callable[..., Awaitable[None]]


def _truck(kg: float) -> ScaleProfile:
    return ScaleProfile([Ramp(kg, 0.3), Hold(0.2, noise_kg=300), Ramp(kg, 0.05), Hold(1.5, noise_kg=10)], seed=3)


@dataclass
class Rig:
    sim: WeighbridgeSimulator
    wb: SerialWeighbridge


async def _rig(endpoint: SimEndpoint, protocol: ScaleProtocol = "xk3190_a9", **sim_kwargs: object) -> Rig:
    sim = WeighbridgeSimulator(endpoint, protocol, interval_s=0.02, **sim_kwargs)  # type: ignore[arg-type]
    await sim.start()
    wb = SerialWeighbridge(sim.url, protocol, stability=FAST, stale_after_s=0.6, reconnect_s=0.1)
    await wb.start()
    return Rig(sim, wb)


@pytest.fixture(name="rig")
async def fx_rig(endpoint_factory: EndpointFactory) -> AsyncIterator[Rig]:
    rig = await _rig(endpoint_factory("weighbridge"))
    yield rig
    await rig.wb.stop()
    await rig.sim.stop()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("protocol", "decimals", "unit"), [("xk3190_a9", 0, "kg"), ("xk3190_a12", 3, "t"), ("toledo", 0, "kg")]
)
async def test_truck_profile_gives_one_stable_weight(
    pty_factory: EndpointFactory, protocol: ScaleProtocol, decimals: int, unit: str
) -> None:
    rig = await _rig(pty_factory("weighbridge"), protocol, decimals=decimals, unit=unit, chunk_size=5)
    stable_sub = rig.wb.subscribe_stable()
    try:
        rig.sim.play(_truck(32_140))
        stable = await stable_sub.get(timeout_s=4)
        assert stable is not None
        assert abs(stable.kg - 32_140) <= 10
        assert rig.wb.health.level is HealthLevel.OK
        assert await stable_sub.get(timeout_s=0.5) is None  # one report per plateau
        assert rig.wb.latest is not None
    finally:
        await rig.wb.stop()
        await rig.sim.stop()


@pytest.mark.anyio
async def test_stable_weight_over_serial_server(rig: Rig) -> None:
    rig.sim.play(_truck(18_000))
    stable = await rig.wb.wait_stable(timeout_s=4)
    assert stable is not None
    assert abs(stable.kg - 18_000) <= 10


@pytest.mark.anyio
async def test_garbage_and_corrupt_frames_degrade_then_recover(rig: Rig, eventually: Eventually) -> None:
    rig.sim.set_weight(10_000)
    await eventually(lambda: rig.wb.health.level is HealthLevel.OK)
    readings = rig.wb.subscribe_readings()
    rig.sim.inject_garbage(b"\x02\x02\xff+99\x03 garbage \r\n")
    rig.sim.corrupt_next(5)
    await eventually(lambda: rig.wb.health.code == "corrupt_frames")
    assert rig.wb.health.level is HealthLevel.DEGRADED
    assert rig.wb.parser.frames_bad >= 3
    await eventually(lambda: rig.wb.health.level is HealthLevel.OK, timeout_s=3)
    reading = await readings.get(timeout_s=1)
    assert reading is not None
    assert reading.kg == 10_000  # no corrupted value ever got through


@pytest.mark.anyio
async def test_only_garbage_is_a_fault(pty_factory: EndpointFactory, eventually: Eventually) -> None:
    rig = await _rig(pty_factory("weighbridge"))
    try:
        await eventually(lambda: rig.wb.health.level is HealthLevel.OK)
        rig.sim.silence()
        for _ in range(40):
            rig.sim.inject_garbage(b"\x13\x37 not a frame ")
            await eventually(lambda: not rig.sim._garbage, timeout_s=1)
        await eventually(lambda: rig.wb.health.code == "garbage")
        assert "无法解析" in rig.wb.health.message
        rig.sim.silence(silent=False)
        await eventually(lambda: rig.wb.health.level is HealthLevel.OK)
    finally:
        await rig.wb.stop()
        await rig.sim.stop()


@pytest.mark.anyio
async def test_silent_indicator_is_no_data(rig: Rig, eventually: Eventually) -> None:
    await eventually(lambda: rig.wb.health.level is HealthLevel.OK)
    rig.sim.silence()
    await eventually(lambda: rig.wb.health.code == "no_data")
    assert rig.wb.health.level is HealthLevel.FAULT
    rig.sim.silence(silent=False)
    await eventually(lambda: rig.wb.health.level is HealthLevel.OK)


@pytest.mark.anyio
async def test_vanished_port_is_a_fault_and_recovers(rig: Rig, eventually: Eventually) -> None:
    await eventually(lambda: rig.wb.health.level is HealthLevel.OK)
    await rig.sim.vanish()
    await eventually(lambda: rig.wb.health.code in {"port_lost", "port_unavailable"})
    assert rig.wb.health.level is HealthLevel.FAULT
    assert "地磅串口" in rig.wb.health.message
    await eventually(lambda: rig.wb.health.code == "port_unavailable")  # keeps retrying, never crashes
    await rig.sim.restore()
    await eventually(lambda: rig.wb.health.level is HealthLevel.OK)
    rig.sim.play(_truck(25_000))
    stable = await rig.wb.wait_stable(timeout_s=4)
    assert stable is not None
    assert abs(stable.kg - 25_000) <= 10


@pytest.mark.anyio
async def test_port_missing_at_start_then_appears(pty_factory: EndpointFactory, eventually: Eventually) -> None:
    endpoint = pty_factory("late")
    sim = WeighbridgeSimulator(endpoint, interval_s=0.02)
    wb = SerialWeighbridge(endpoint.url, stale_after_s=0.6, reconnect_s=0.1)
    await wb.start()
    try:
        await eventually(lambda: wb.health.code == "port_unavailable")
        await sim.start()
        sim.set_weight(700)
        await eventually(lambda: wb.latest is not None and wb.latest.kg == 700)
        assert wb.health.level is HealthLevel.OK
    finally:
        await wb.stop()
        await sim.stop()
    assert wb.health.level is HealthLevel.STOPPED


@pytest.mark.anyio
async def test_restart_after_stop(rig: Rig, eventually: Eventually) -> None:
    rig.sim.set_weight(1_230)
    await eventually(lambda: rig.wb.latest is not None and rig.wb.latest.kg == 1_230)
    await rig.wb.stop()
    assert rig.wb.health.level is HealthLevel.STOPPED
    rig.sim.set_weight(4_560)
    await rig.wb.start()  # what a supervisor's watchdog does
    await eventually(lambda: rig.wb.latest is not None and rig.wb.latest.kg == 4_560)
    assert rig.wb.health.level is HealthLevel.OK
