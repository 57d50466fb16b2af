"""An unregistered vehicle's refusal lists only the reasons of its category (issue 19 item 2).

Before: a blue-plate car in no ledger, at a red alert, was refused with the heavy-truck *and* the
non-road-machinery reasons (every rule matched an unknown category). A plate makes it a road vehicle; a
blue or green plate a small one; a yellow plate stays possibly heavy (cautious reading).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.decision import DecisionEngine, DecisionRequest, DecisionSettings, LocalRegistry
from agent_protocol.events import Direction
from hj1321.grading import PerformanceGrade, WarningLevel
from hj1321.plates import PlateColour

NOON = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
NRMM_REASONS = {"emergency_nrmm_stage"}
HEAVY_REASONS = {"emergency_heavy_stage", "emergency_gas_stage", "stage_below_level_minimum", "emergency_stop_road"}


def _refusal(plate: str | None, colour: PlateColour | None, code: str | None = None) -> set[str]:
    engine = DecisionEngine(
        registry=LocalRegistry(), settings=DecisionSettings(grade=PerformanceGrade.B, emergency_level=WarningLevel.RED)
    )
    out = engine.decide_local(
        DecisionRequest(
            lane_id="in-1",
            direction=Direction.IN,
            moment=NOON,
            plate=plate,
            plate_colour=colour,
            internal_code=code,
            confidence=0.95,
        )
    )
    return set(out.reasons)


@pytest.mark.parametrize("colour", [PlateColour.BLUE, PlateColour.GREEN])
def test_small_plate_car_is_refused_as_unregistered_only(colour: PlateColour) -> None:
    reasons = _refusal("鄂B12345", colour)
    assert "unknown_vehicle" in reasons
    assert not reasons & NRMM_REASONS
    assert not reasons & HEAVY_REASONS


def test_yellow_plate_keeps_heavy_truck_reasons_but_not_machinery() -> None:
    reasons = _refusal("鄂B12345", PlateColour.YELLOW)
    assert "unknown_vehicle" in reasons
    assert not reasons & NRMM_REASONS
