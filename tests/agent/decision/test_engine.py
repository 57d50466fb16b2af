"""Decision engine: table-driven cases over registry, blacklist, policy, level, grade and the pre-check."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest

from agent.decision import (
    BlacklistEntry,
    DecisionEngine,
    DecisionRequest,
    DecisionSettings,
    LocalRegistry,
    PrecheckVerdict,
    RegistrySnapshot,
    RegistryVehicle,
    load_snapshot,
    save_snapshot,
)
from agent_protocol.events import Decision, Direction
from hj1321.emission import EmissionStage
from hj1321.grading import PerformanceGrade, WarningLevel
from hj1321.plates import PlateColour
from hj1321.rules import UnknownVehicleAction, default_policy
from hj1321.vehicles import FuelType, UseNature, VehicleCategory, VehicleType

NOON = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
T, IP, NR = VehicleCategory.TRANSPORT, VehicleCategory.IN_PLANT, VehicleCategory.NRMM
D, E, C = FuelType.DIESEL, FuelType.NATURAL_GAS, FuelType.ELECTRIC


def v(
    rid: str,
    category: VehicleCategory,
    plate: str | None,
    vtype: str | None,
    fuel: FuelType | None,
    stage: str | None,
    **kw: object,
) -> RegistryVehicle:
    return RegistryVehicle(
        registry_id=rid,
        category=category,
        plate=plate,
        plate_colour=PlateColour.YELLOW if plate else None,
        vehicle_type=None if vtype is None else VehicleType(vtype),
        fuel=fuel,
        emission_stage=None if stage is None else EmissionStage(stage),
        **kw,  # type: ignore[arg-type]
    )


VEHICLES = [
    v("t-d4", T, "鄂A10001", "H11", D, "4"),
    v("t-d5", T, "鄂A10002", "H11", D, "5"),
    v("t-d3", T, "鄂A10003", "H11", D, "3"),
    v("t-g4", T, "鄂A10004", "Q11", E, "4"),
    v("t-ev", T, "鄂A10005", "H11", C, "D"),
    v("t-light4", T, "鄂A10006", "H31", D, "4"),
    v("t-liv4", T, "鄂A10007", "H11", D, "4", lists=("livelihood",)),
    v("t-haz4", T, "鄂A10008", "H14", D, "4", use_nature=UseNature.DANGEROUS_GOODS),
    v("ip-d4", IP, "鄂A10009", "H11", D, "4"),
    v("t-off", T, "鄂A10010", "H11", D, "6", active=False),
    v("t-exp", T, "鄂A10011", "H11", D, "6", valid_until=date(2026, 1, 1)),
    v("t-mass4", T, "鄂A10012", "X99", D, "4", total_mass_kg=18_000),
    v("t-nostage", T, "鄂A10013", "H11", None, None),
    v("t-d5b", T, "鄂A10014", "H11", D, "5"),
    v("nr-2", NR, None, None, D, "2", internal_code="NRMM-0002"),
    v("nr-3", NR, None, None, D, "3", internal_code="NRMM-0003"),
    v("ip-ev", IP, None, None, C, "D", internal_code="厂内-07"),
]
BLACK = [
    BlacklistEntry(plate="鄂A66666", source="regulator"),
    BlacklistEntry(plate="鄂A10002", reason="本厂黑名单"),
    BlacklistEntry(plate="鄂A77777", until=datetime(2026, 1, 1, tzinfo=UTC)),
]
REG = LocalRegistry.of(VEHICLES, BLACK)

A, B, CC = PerformanceGrade.A, PerformanceGrade.B, PerformanceGrade.C
N, Y, OR, R = WarningLevel.NONE, WarningLevel.YELLOW, WarningLevel.ORANGE, WarningLevel.RED
IN, OUT = Direction.IN, Direction.OUT
OK, NO = Decision.ALLOW, Decision.REFUSE

# (id, level, grade, plate, internal code, direction, decision, reasons, anomalies ⊇)
CASES: list[
    tuple[
        str,
        WarningLevel,
        PerformanceGrade | None,
        str | None,
        str | None,
        Direction,
        Decision,
        tuple[str, ...],
        tuple[str, ...],
    ]
] = [
    ("registered-ok", N, B, "鄂A10001", None, IN, OK, ("allowed",), ()),
    ("a-grade-cn4-refused", N, A, "鄂A10001", None, IN, NO, ("a_grade_stage",), ()),
    ("a-grade-cn5-ok", N, A, "鄂A10014", None, IN, OK, ("allowed",), ()),
    ("blacklist-enterprise", N, B, "鄂A10002", None, IN, NO, ("blacklisted",), ()),
    ("a-grade-ev-ok", N, A, "鄂A10005", None, IN, OK, ("allowed",), ()),
    ("a-grade-light-ok", N, A, "鄂A10006", None, IN, OK, ("allowed",), ()),
    ("blacklist-regulator", N, B, "鄂A66666", None, IN, NO, ("unknown_vehicle", "blacklisted"), ()),
    ("blacklist-expired", N, B, "鄂A77777", None, IN, NO, ("unknown_vehicle",), ()),
    ("unknown-refused-prompt", N, B, "鄂B12345", None, IN, NO, ("unknown_vehicle",), ()),
    ("unreadable", N, B, None, None, IN, NO, ("plate_unreadable",), ()),
    ("inactive", N, B, "鄂A10010", None, IN, NO, ("registry_inactive",), ()),
    ("expired", N, B, "鄂A10011", None, IN, NO, ("registry_inactive",), ()),
    ("yellow-c-cn3", Y, CC, "鄂A10003", None, IN, NO, ("emergency_heavy_stage",), ()),
    ("yellow-c-cn4-ok", Y, CC, "鄂A10001", None, IN, OK, ("allowed",), ()),
    ("yellow-b-cn3-ok", Y, B, "鄂A10003", None, IN, OK, ("allowed",), ()),
    ("orange-b-diesel4", OR, B, "鄂A10001", None, IN, NO, ("emergency_heavy_stage",), ()),
    ("orange-b-gas4", OR, B, "鄂A10004", None, IN, NO, ("emergency_heavy_stage",), ()),
    ("orange-b-light4-ok", OR, B, "鄂A10006", None, IN, OK, ("allowed",), ()),
    ("orange-b-mass-heavy", OR, B, "鄂A10012", None, IN, NO, ("emergency_heavy_stage",), ()),
    ("orange-b-inplant4", OR, B, "鄂A10009", None, IN, NO, ("emergency_heavy_stage",), ()),
    ("orange-b-livelihood", OR, B, "鄂A10007", None, IN, OK, ("allowed",), ("exempted",)),
    ("orange-b-hazmat", OR, B, "鄂A10008", None, IN, OK, ("allowed",), ("exempted",)),
    ("orange-b-nostage", OR, B, "鄂A10013", None, IN, NO, ("emergency_heavy_stage",), ("stage_unknown",)),
    ("orange-b-nrmm2", OR, B, None, "NRMM-0002", IN, NO, ("emergency_nrmm_stage",), ()),
    ("orange-b-nrmm3-ok", OR, B, None, "nrmm-0003", IN, OK, ("allowed",), ()),
    ("orange-a-nrmm2-ok", OR, A, None, "NRMM-0002", IN, OK, ("allowed",), ()),
    ("orange-inplant-ev", OR, B, None, "厂内-07", IN, OK, ("allowed",), ()),
    ("unknown-internal", N, B, None, "NRMM-9999", IN, NO, ("unknown_vehicle",), ("unknown_internal",)),
    ("red-b-cn5-ok", R, B, "鄂A10014", None, IN, OK, ("allowed",), ()),
    ("red-b-cn4", R, B, "鄂A10001", None, IN, NO, ("emergency_heavy_stage",), ()),
    ("red-c-stop-road", R, CC, "鄂A10005", None, IN, NO, ("emergency_stop_road",), ()),
    ("red-c-livelihood", R, CC, "鄂A10007", None, IN, OK, ("allowed",), ("exempted",)),
    ("red-ungraded-stop", R, None, "鄂A10005", None, IN, NO, ("emergency_stop_road",), ()),
    (
        "exit-not-enforced",
        OR,
        B,
        "鄂A10001",
        None,
        OUT,
        OK,
        ("allowed",),
        ("emergency_heavy_stage", "exit_not_enforced"),
    ),
    ("exit-unknown", N, B, "鄂B12345", None, OUT, OK, ("allowed",), ("unknown_vehicle", "exit_not_enforced")),
]


@pytest.mark.parametrize(
    ("level", "grade", "plate", "code", "direction", "decision", "reasons", "anomalies"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decision_table(
    level: WarningLevel,
    grade: PerformanceGrade | None,
    plate: str | None,
    code: str | None,
    direction: Direction,
    decision: Decision,
    reasons: tuple[str, ...],
    anomalies: tuple[str, ...],
) -> None:
    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=grade, emergency_level=level))
    out = engine.decide_local(
        DecisionRequest(
            lane_id="in-1", direction=direction, moment=NOON, plate=plate, internal_code=code, confidence=0.95
        )
    )
    assert out.decision is decision
    assert out.reasons == reasons
    assert set(anomalies) <= set(out.anomalies)
    assert out.message.startswith(decision.label)
    assert out.emergency_level == level.value
    assert out.policy_version == "default-1"
    if decision is NO:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in out.message.split("：", 1)[1])


def test_orange_grade_b_message_names_the_rule() -> None:
    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B, emergency_level=OR))
    out = engine.decide_local(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10004"))
    assert out.message == "拦截：橙色预警期间，国四及以下重型柴油/燃气货车禁止通行"
    assert out.vehicle is not None
    assert (out.vehicle.category, out.vehicle.fuel, out.vehicle.emission_stage, out.vehicle.heavy) == (
        "transport",
        "E",
        "4",
        True,
    )


def test_unknown_vehicle_allow_and_flag_setting() -> None:
    engine = DecisionEngine(
        registry=REG, settings=DecisionSettings(grade=B, unknown_vehicle=UnknownVehicleAction.ALLOW_FLAG)
    )
    out = engine.decide_local(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂B12345"))
    assert out.decision is OK
    assert "unknown_vehicle_allowed" in out.anomalies
    assert not out.prompt_guard


def test_unknown_vehicle_refusal_prompts_guard() -> None:
    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B))
    out = engine.decide_local(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂B12345"))
    assert out.prompt_guard


def test_low_confidence_prompts_but_manual_entry_does_not() -> None:
    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B, min_confidence=0.8))
    low = DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10001", confidence=0.5)
    assert engine.decide_local(low).reasons == ("low_confidence",)
    manual = msgspec.structs.replace(low, manual=True)
    assert engine.decide_local(manual).decision is OK


def test_level_update_from_cloud_takes_effect() -> None:
    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B))
    req = DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10001")
    assert engine.decide_local(req).decision is OK
    engine.update(level=OR)
    assert engine.decide_local(req).decision is NO


def test_daily_heavy_cap() -> None:
    policy = msgspec.structs.replace(default_policy(), daily_heavy_cap_by_level={Y: 2})
    count = [0]
    engine = DecisionEngine(
        registry=REG,
        policy=policy,
        settings=DecisionSettings(grade=B, emergency_level=Y),
        heavy_inbound_today=lambda _m: count[0],
    )
    req = DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10001")
    assert engine.decide_local(req).decision is OK
    count[0] = 2
    assert engine.decide_local(req).reasons == ("daily_cap_reached",)
    light = msgspec.structs.replace(req, plate="鄂A10006")
    assert engine.decide_local(light).decision is OK


@pytest.mark.anyio
async def test_precheck_refusal_overrides_local_allow() -> None:
    async def platform(req: DecisionRequest) -> PrecheckVerdict:
        return PrecheckVerdict(allow=False, code="E12", message="该车辆为超标排放车辆")

    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B), regulator_check=platform)
    out = await engine.decide(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10001"))
    assert out.decision is NO
    assert out.reasons == ("regulator_refused",)
    assert out.message == "拦截：该车辆为超标排放车辆"


@pytest.mark.anyio
async def test_precheck_allow_keeps_local_refusal() -> None:
    async def platform(req: DecisionRequest) -> PrecheckVerdict:
        return PrecheckVerdict(allow=True)

    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B), regulator_check=platform)
    out = await engine.decide(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A66666"))
    assert out.decision is NO


@pytest.mark.anyio
async def test_precheck_timeout_decides_locally_within_budget() -> None:
    async def slow(req: DecisionRequest) -> PrecheckVerdict:
        await asyncio.sleep(5)
        return PrecheckVerdict(allow=False)

    engine = DecisionEngine(
        registry=REG, settings=DecisionSettings(grade=B, precheck_timeout_s=0.1), regulator_check=slow
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    out = await engine.decide(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10001"))
    assert loop.time() - started < 0.5
    assert out.decision is OK
    assert "regulator_timeout" in out.anomalies


@pytest.mark.anyio
async def test_precheck_error_decides_locally() -> None:
    async def broken(req: DecisionRequest) -> PrecheckVerdict:
        raise ConnectionError("down")

    engine = DecisionEngine(registry=REG, settings=DecisionSettings(grade=B), regulator_check=broken)
    out = await engine.decide(DecisionRequest(lane_id="in-1", direction=IN, moment=NOON, plate="鄂A10001"))
    assert out.decision is OK
    assert "regulator_error" in out.anomalies


def test_default_precheck_timeout_is_one_second() -> None:
    assert DecisionSettings().precheck_timeout_s == 1.0


def test_snapshot_save_load_round_trip(tmp_path: Path) -> None:
    snap = RegistrySnapshot(version="v7", vehicles=tuple(VEHICLES), blacklist=tuple(BLACK))
    path = tmp_path / "registry.json"
    save_snapshot(path, snap)
    assert load_snapshot(path) == snap
    assert load_snapshot(tmp_path / "absent.json") == RegistrySnapshot()
    reg = LocalRegistry(load_snapshot(path))
    assert reg.version == "v7"
    found = reg.find(plate="鄂A·10001")
    assert found is not None
    assert found.registry_id == "t-d4"


def test_plate_colour_breaks_ties() -> None:
    blue = RegistryVehicle(registry_id="blue", category=T, plate="鄂A20000", plate_colour=PlateColour.BLUE)
    yellow = RegistryVehicle(registry_id="yellow", category=T, plate="鄂A20000", plate_colour=PlateColour.YELLOW)
    reg = LocalRegistry.of([blue, yellow])
    found = reg.find(plate="鄂A20000", colour=PlateColour.YELLOW)
    assert found is not None
    assert found.registry_id == "yellow"
