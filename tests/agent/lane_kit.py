"""A lane pipeline for tests: one registered diesel 国六 truck (``KNOWN``), default policy, virtual devices."""

from __future__ import annotations

from typing import Any

from agent.decision.engine import DecisionEngine
from agent.decision.registry import LocalRegistry, RegistrySnapshot, RegistryVehicle
from agent.outbox import Outbox
from agent.runtime.pipeline import LanePipeline
from agent.runtime.virtual import VirtualBarrier
from agent_protocol.events import Direction
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.rules import default_policy
from hj1321.vehicles import FuelType, VehicleCategory

KNOWN = "鄂A12345"


def known_truck_engine() -> DecisionEngine:
    """A decision engine whose registry holds only ``KNOWN`` (yellow plate, diesel, 国六)."""
    vehicle = RegistryVehicle(
        registry_id="v1",
        category=VehicleCategory.TRANSPORT,
        plate=KNOWN,
        plate_colour=PlateColour.YELLOW,
        fuel=FuelType.DIESEL,
        emission_stage=EmissionStage("6"),
    )
    return DecisionEngine(registry=LocalRegistry(RegistrySnapshot(vehicles=(vehicle,))), policy=default_policy())


def make_lane(outbox: Outbox, barrier: VirtualBarrier, **kw: Any) -> LanePipeline:
    """Lane ``east-in`` (东门入口) of ``agent-1`` with the known-truck engine; ``kw`` go to :class:`LanePipeline`."""
    return LanePipeline(
        lane_id="east-in",
        lane_name="东门入口",
        direction=Direction.IN,
        agent_id="agent-1",
        site_id="site-1",
        engine=known_truck_engine(),
        outbox=outbox,
        barrier=barrier,
        **kw,
    )
