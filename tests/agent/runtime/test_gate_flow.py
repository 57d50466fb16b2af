"""The running agent end to end with simulated devices on real ptys: weighing per pass and per trip,
and bad input on the lines (garbage frames, a silent scale, a vanished barrier port, malformed reads)
never loses a pass.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator, WeighbridgeSimulator
from agent.outbox import StoredWeighing
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent_protocol.events import Decision, ManualReason, PassEvent
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

pytestmark = pytest.mark.anyio

TRUCK = "鄂A12345"
OTHER = "鄂A67890"
STRANGER = "鄂A99999"  # not registered: refused


async def until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Wait for ``predicate`` or fail."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


class Site:
    """Simulators on ptys that outlive agent restarts, plus the agent's config and spools."""

    def __init__(self, tmp: Path, *, weigh_wait_s: float = 8.0) -> None:
        self.tmp = tmp
        self.relay = RelayBarrierSimulator(PtyEndpoint(tmp / "relay"), travel_s=0.02)
        self.scale = WeighbridgeSimulator(PtyEndpoint(tmp / "scale"), "xk3190_a9", interval_s=0.05)
        seed = tmp / "seed.json"
        vehicles = tuple(
            RegistryVehicle(
                registry_id=f"v{i}",
                category=VehicleCategory.TRANSPORT,
                plate=plate,
                plate_colour=PlateColour.YELLOW,
                fuel=FuelType.DIESEL,
                emission_stage=EmissionStage("6"),
            )
            for i, plate in enumerate((TRUCK, OTHER))
        )
        save_snapshot(seed, RegistrySnapshot(vehicles=vehicles))
        scale_cfg = {"type": "xk3190_a9", "name": "scale", "port": str(tmp / "scale")}
        relay_cfg = {"type": "modbus_relay", "name": "in-barrier", "port": str(tmp / "relay"), "pulse_s": 0.01}
        self.raw: dict[str, Any] = {
            "registry_seed": str(seed),
            "agent": {"id": "agent-flow", "data_dir": str(tmp / "data")},
            "site": {"id": "site-1", "name": "青山厂区"},
            "booth": {"enabled": False},
            "devices": {
                "barriers": [relay_cfg, {"type": "virtual", "name": "out-barrier"}],
                "weighbridges": [scale_cfg],
            },
            "lanes": [
                self._lane("gate-in", "in", "in-barrier", weigh_wait_s),
                self._lane("gate-out", "out", "out-barrier", weigh_wait_s),
            ],
            "evidence": {"clip": False},
        }

    def _lane(self, lane_id: str, direction: str, barrier: str, wait: float) -> dict[str, Any]:
        return {
            "id": lane_id,
            "name": "地磅入口" if direction == "in" else "地磅出口",
            "direction": direction,
            "barrier": barrier,
            "weighbridge": "scale",
            "weigh_wait_s": wait,
            "source": {"type": "spool", "path": str(self.tmp / f"{lane_id}.jsonl"), "poll_s": 0.02},
        }

    def feed(self, lane_id: str, read_id: str, plate: str, **extra: Any) -> None:
        """A read on a lane."""
        line = {"read_id": read_id, "plate": plate, "colour": "yellow", "confidence": 0.97, **extra}
        with (self.tmp / f"{lane_id}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    @asynccontextmanager
    async def agent(self) -> AsyncIterator[Agent]:
        """Run the agent for the block; it must stop cleanly."""
        agent = Agent(parse_config(self.raw))
        task = asyncio.create_task(agent.run(install_signals=False))
        await until(lambda: len(agent.lanes) == 2 or task.done())
        try:
            yield agent
        finally:
            agent.supervisor.request_stop()
            assert await asyncio.wait_for(task, 10) == 0


@pytest.fixture(name="site")
async def fx_site(tmp_path: Path) -> AsyncIterator[Site]:
    site = Site(tmp_path)
    await site.relay.start()
    await site.scale.start()
    yield site
    await site.scale.stop()
    await site.relay.stop()


def _event(agent: Agent, read_id: str) -> PassEvent | None:
    assert agent.outbox is not None
    return next((e for e in agent.outbox.events(limit=10_000) if e.read_id == read_id), None)


def _weighed(agent: Agent, read_id: str) -> StoredWeighing | None:
    """The late weighing of the pass of ``read_id`` once it is resolved (weighed or missing)."""
    event = _event(agent, read_id)
    assert agent.outbox is not None
    rows = [] if event is None else agent.outbox.weighings(event.event_id)
    assert len(rows) <= 1, rows
    return rows[0] if rows and rows[0].outcome != "waiting" else None


async def _weigh_truck(site: Site, kg: float, *, hold_s: float = 2.8) -> None:
    """A truck drives onto the deck, stands until its plateau settles, and leaves."""
    site.scale.set_weight(kg)
    await asyncio.sleep(hold_s)
    site.scale.set_weight(0)
    await asyncio.sleep(0.5)


def _kg(stored: StoredWeighing | None) -> float | None:
    assert stored is not None
    return None if stored.record is None else stored.record.weight_kg


async def test_entry_and_exit_weighings_pair_into_a_trip_across_a_restart(site: Site) -> None:
    """The deck behind the barrier: each weight comes after its pass is sealed and is attached later."""
    async with site.agent() as agent:
        site.scale.inject_garbage(b"\x02\xff\x00noise\r\n")  # garbage and corrupt frames on the line
        site.scale.corrupt_next(3)
        site.feed("gate-in", "in-1", TRUCK, cargo="煤炭")
        await until(lambda: site.relay.opens == 1)  # the barrier does not wait for the weight
        entry = _event(agent, "in-1")
        assert entry is not None
        assert entry.decision is Decision.ALLOW
        assert entry.weighing is None  # the sealed event never carries a weight that came later
        assert "weighing_missing" not in entry.anomalies
        assert entry.cargo == "煤炭"
        await _weigh_truck(site, 32_000)
        await until(lambda: _weighed(agent, "in-1") is not None)
        stored = _weighed(agent, "in-1")
        assert stored is not None
        assert stored.record is not None
        assert (stored.record.weight_kg, stored.record.indicator, stored.record.direction) == (32_000, "scale", "in")
        assert stored.record.plate == TRUCK
        assert stored.record.net_kg is None  # an entry opens the trip
    async with site.agent() as agent:  # a restart between entry and exit: the open trip is rebuilt
        site.feed("gate-out", "out-1", TRUCK)
        await until(lambda: _event(agent, "out-1") is not None)
        await _weigh_truck(site, 12_000)  # the empty truck on the scale on its way out
        await until(lambda: _weighed(agent, "out-1") is not None)
        record = _weighed(agent, "out-1")
        assert record is not None
        assert record.record is not None
        assert (record.record.gross_kg, record.record.tare_kg, record.record.net_kg) == (32_000, 12_000, 20_000)
        assert record.record.cargo == "煤炭"
        assert agent.pairer.open_entries == ()


async def test_two_trucks_within_seconds_each_get_their_own_weight(site: Site) -> None:
    """Two reads 0.1 s apart, then the trucks cross the deck one after the other (claims in pass order)."""
    async with site.agent() as agent:
        site.feed("gate-in", "a", TRUCK)
        await asyncio.sleep(0.1)
        site.feed("gate-in", "b", OTHER)
        await until(lambda: _event(agent, "b") is not None)
        await _weigh_truck(site, 25_000)
        await _weigh_truck(site, 18_400)
        await until(lambda: _weighed(agent, "b") is not None)
        assert (_kg(_weighed(agent, "a")), _kg(_weighed(agent, "b"))) == (25_000, 18_400)


async def test_first_pass_of_the_day_gets_its_weight_seconds_after_the_barrier(site: Site) -> None:
    """The old 3 s wait sealed the first pass without its weight; now the window is the lane's (60 s)."""
    async with site.agent() as agent:
        site.feed("gate-in", "first", TRUCK)
        await until(lambda: site.relay.opens == 1)
        await asyncio.sleep(4.0)  # the truck reaches the deck behind the barrier later than 3 s
        await _weigh_truck(site, 31_600)
        await until(lambda: _weighed(agent, "first") is not None)
        assert _kg(_weighed(agent, "first")) == 31_600


async def test_refused_truck_on_the_deck_keeps_its_weight_to_itself(site: Site) -> None:
    """A stranger on the deck in front of the barrier is refused and reverses: its plateau expires."""
    async with site.agent() as agent:
        site.scale.set_weight(41_000)
        await asyncio.sleep(0.3)
        site.feed("gate-in", "stranger", STRANGER)
        await until(lambda: _event(agent, "stranger") is not None)
        refused = _event(agent, "stranger")
        assert refused is not None
        assert refused.decision is Decision.REFUSE
        await asyncio.sleep(2.6)  # its plateau settles while it waits at the barrier
        site.scale.set_weight(0)  # it reverses off the deck
        await asyncio.sleep(0.6)
        site.feed("gate-in", "next", TRUCK)  # the next truck is read with the deck empty
        await until(lambda: _event(agent, "next") is not None)
        await _weigh_truck(site, 15_200)
        await until(lambda: _weighed(agent, "next") is not None)
        assert _kg(_weighed(agent, "next")) == 15_200
        assert agent.outbox is not None
        assert agent.outbox.weighings(refused.event_id) == []
        assert [w for w in agent.outbox.weighings() if w.event_id is None] == []  # expired, not "unattributed"


async def test_release_after_refusal_gets_the_released_trucks_weight(site: Site) -> None:
    """The refused truck stands on the deck; the guard releases it: its plateau goes to the release."""
    async with site.agent() as agent:
        site.scale.set_weight(41_000)
        await asyncio.sleep(0.3)
        site.feed("gate-in", "stranger", STRANGER)
        await until(lambda: _event(agent, "stranger") is not None)
        await asyncio.sleep(2.6)  # its plateau settles while it is held at the barrier
        released = await agent.lanes["gate-in"].manual_release(
            operator="ww01",
            operator_name="王五",
            reason=ManualReason.REGISTRY_OUTDATED,
            text="新车辆，已电话确认",
            confirm_plate=True,
        )
        assert released is not None
        assert (released.plate, released.trigger.operator_name) == (STRANGER, "王五")
        await until(lambda: site.relay.opens == 1)
        site.scale.set_weight(0)  # it drives off the deck
        await until(lambda: bool(agent.outbox and agent.outbox.weighings(released.event_id)))
        await until(
            lambda: agent.outbox is not None and agent.outbox.weighings(released.event_id)[0].outcome != "waiting"
        )
        assert agent.outbox is not None
        stored = agent.outbox.weighings(released.event_id)[0]
        assert stored.record is not None
        assert (stored.record.weight_kg, stored.record.plate) == (41_000, STRANGER)
        refused = _event(agent, "stranger")
        assert refused is not None
        assert agent.outbox.weighings(refused.event_id) == []


async def test_silent_scale_still_records_and_opens(site: Site) -> None:
    site.raw["lanes"][0]["weigh_wait_s"] = 0.5
    site.scale.silence()
    async with site.agent() as agent:
        site.feed("gate-in", "quiet", TRUCK)
        await until(lambda: _event(agent, "quiet") is not None)
        event = _event(agent, "quiet")
        assert event is not None
        assert event.weighing is None
        await until(lambda: site.relay.opens == 1)
        await until(lambda: _weighed(agent, "quiet") is not None)
        stored = _weighed(agent, "quiet")
        assert stored is not None
        assert (stored.outcome, stored.record) == ("missing", None)


async def test_scale_restart_mid_weighing_still_weighs_the_right_truck(site: Site) -> None:
    """The indicator goes away before the plateau settles and comes back with the truck still on."""
    async with site.agent() as agent:
        site.feed("gate-in", "a", TRUCK)
        await until(lambda: _event(agent, "a") is not None)
        site.scale.set_weight(30_000)
        await asyncio.sleep(0.8)
        await site.scale.vanish()  # the scale restarts mid-weighing
        await asyncio.sleep(4.0)
        await site.scale.restore()
        site.feed("gate-in", "b", OTHER)  # the next truck is read meanwhile
        await asyncio.sleep(3.0)  # the driver reopens the port, the plateau settles
        site.scale.set_weight(0)
        await asyncio.sleep(0.6)
        await _weigh_truck(site, 17_000)
        await until(lambda: _weighed(agent, "b") is not None)
        assert (_kg(_weighed(agent, "a")), _kg(_weighed(agent, "b"))) == (30_000, 17_000)


async def test_vanished_barrier_port_keeps_the_pass_and_alarms(site: Site) -> None:
    site.raw["lanes"][0]["weigh_wait_s"] = 0.0
    async with site.agent() as agent:
        await site.relay.vanish()
        site.feed("gate-in", "lost-port", TRUCK)
        await until(lambda: _event(agent, "lost-port") is not None)
        await until(lambda: any(a.code == "barrier_fault" for a in agent.alarms))
        assert "请人工抬杆" in next(a.message for a in agent.alarms if a.code == "barrier_fault")
        assert site.relay.opens == 0
        await site.relay.restore()
        await asyncio.sleep(1.5)  # the driver reopens the port
        site.feed("gate-in", "back", OTHER)
        await until(lambda: site.relay.opens == 1)
        assert agent.outbox is not None
        assert [e.read_id for e in agent.outbox.events()] == ["lost-port", "back"]


async def test_malformed_reads_are_skipped_and_later_reads_still_pass(site: Site) -> None:
    site.raw["lanes"][0]["weigh_wait_s"] = 0.0
    async with site.agent() as agent:
        with (site.tmp / "gate-in.jsonl").open("a", encoding="utf-8") as fh:
            fh.write('{"read_id": "x", "plate": 12}\n{broken json\n{"read_id": "y", "speed": 3}\n')
        site.feed("gate-in", "good", TRUCK)
        await until(lambda: _event(agent, "good") is not None)
        assert agent.outbox is not None
        assert [e.read_id for e in agent.outbox.events()] == ["good"]
