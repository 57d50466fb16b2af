"""Control-rule model: defaults of REGULATION.md §4.4, matching, time windows, JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from hj1321.emission import EmissionStage
from hj1321.grading import PerformanceGrade, WarningLevel
from hj1321.plates import PlateColour
from hj1321.rules import (
    SHANGHAI,
    ControlPolicy,
    ControlRule,
    RuleContext,
    TimeWindow,
    VehicleFacts,
    VehicleMatch,
    decode_policy,
    default_policy,
    encode_policy,
    evaluate,
)
from hj1321.vehicles import FuelType, VehicleCategory

NOON = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai

G, L = PerformanceGrade, WarningLevel


def heavy(stage: str | None, fuel: FuelType = FuelType.DIESEL, **kw: object) -> VehicleFacts:
    return VehicleFacts(
        category=VehicleCategory.TRANSPORT,
        heavy=True,
        fuel=fuel,
        stage=None if stage is None else EmissionStage(stage),
        **kw,  # type: ignore[arg-type]
    )


def nrmm(stage: str) -> VehicleFacts:
    return VehicleFacts(category=VehicleCategory.NRMM, heavy=False, fuel=FuelType.DIESEL, stage=EmissionStage(stage))


def refusing(
    policy: ControlPolicy, facts: VehicleFacts, level: WarningLevel, grade: PerformanceGrade | None
) -> set[str]:
    ctx = RuleContext(level=level, grade=grade, moment=NOON, small_unit_exempt=policy.small_unit_exempt)
    return {h.rule_id for h in evaluate(policy, facts, ctx) if h.exempted_by is None and h.action == "refuse"}


# (level, grade, facts, refusing rule ids) — one row per cell of REGULATION.md §4.4.
CASES = [
    # none
    (L.NONE, G.A, heavy("4"), {"a_grade_heavy_stage"}),
    (L.NONE, G.LEADING, heavy("4"), {"a_grade_heavy_stage"}),
    (L.NONE, G.A, heavy("5"), set()),
    (L.NONE, G.A, heavy("D", FuelType.ELECTRIC), set()),
    (L.NONE, G.B, heavy("3"), set()),  # record only
    (L.NONE, G.C, heavy("2"), set()),
    (L.NONE, None, heavy("2"), set()),
    (L.NONE, G.B, heavy("5", blacklisted=True), {"blacklist"}),
    # yellow
    (L.YELLOW, G.A, heavy("4"), {"a_grade_heavy_stage"}),
    (L.YELLOW, G.B, heavy("3"), set()),
    (L.YELLOW, G.C, heavy("3"), {"yellow_cd_heavy_cn3"}),
    (L.YELLOW, G.D, heavy("4"), set()),
    (L.YELLOW, None, heavy("3"), {"yellow_cd_heavy_cn3"}),
    # orange
    (L.ORANGE, G.A, heavy("4"), {"a_grade_heavy_stage", "orange_heavy_cn4"}),
    (L.ORANGE, G.B, heavy("4"), {"orange_heavy_cn4"}),
    (L.ORANGE, G.B, heavy("4", FuelType.NATURAL_GAS), {"orange_heavy_cn4"}),
    (L.ORANGE, G.B, heavy("5"), set()),
    (L.ORANGE, G.B_MINUS, nrmm("2"), {"orange_nrmm_cn2"}),
    (L.ORANGE, G.B, nrmm("3"), set()),
    (L.ORANGE, G.A, nrmm("2"), set()),
    (L.ORANGE, G.C, heavy("4"), {"orange_heavy_cn4"}),
    (L.ORANGE, G.D, nrmm("1"), {"orange_nrmm_cn2"}),
    (L.ORANGE, G.B, heavy(None), {"orange_heavy_cn4"}),  # unknown stage: treated as old
    # red
    (L.RED, G.A, heavy("4"), {"a_grade_heavy_stage", "red_heavy_cn4"}),
    (L.RED, G.B, heavy("4"), {"red_heavy_cn4"}),
    (L.RED, G.B, heavy("6"), set()),
    (L.RED, G.C, heavy("6"), {"red_cd_stop_road"}),
    (L.RED, None, heavy("D", FuelType.ELECTRIC), {"red_cd_stop_road"}),
    (L.RED, G.C, nrmm("2"), {"orange_nrmm_cn2"}),
]


@pytest.mark.parametrize(("level", "grade", "facts", "expected"), CASES)
def test_default_rules_table(
    level: WarningLevel, grade: PerformanceGrade | None, facts: VehicleFacts, expected: set[str]
) -> None:
    assert refusing(default_policy(), facts, level, grade) == expected


@pytest.mark.parametrize("lst", ["special", "hazmat", "livelihood"])
def test_exemption_lists_escape_emergency_rules_but_not_blacklist(lst: str) -> None:
    policy = default_policy()
    facts = heavy("4", lists=frozenset({lst}))
    assert refusing(policy, facts, L.RED, G.C) == set()
    ctx = RuleContext(level=L.RED, grade=G.C, moment=NOON)
    assert {h.exempted_by for h in evaluate(policy, facts, ctx)} == {lst}
    assert refusing(policy, heavy("4", lists=frozenset({lst}), blacklisted=True), L.RED, G.C) == {"blacklist"}


def test_small_unit_exemption_lifts_orange_heavy_rule_only() -> None:
    policy = msgspec.structs.replace(default_policy(), small_unit_exempt=True)
    assert refusing(policy, heavy("4"), L.ORANGE, G.B) == set()
    assert refusing(policy, heavy("4"), L.RED, G.B) == {"red_heavy_cn4"}


def test_strategy3_gas_rule_disabled_by_default_and_enabled_by_edit() -> None:
    policy = default_policy()
    gas5 = heavy("5", FuelType.NATURAL_GAS)
    assert refusing(policy, gas5, L.ORANGE, G.B) == set()
    rules = tuple(msgspec.structs.replace(r, enabled=True) if r.id == "strategy3_gas_cn5" else r for r in policy.rules)
    edited = msgspec.structs.replace(policy, rules=rules)
    assert refusing(edited, gas5, L.ORANGE, G.B) == {"strategy3_gas_cn5"}
    assert refusing(edited, heavy("5"), L.ORANGE, G.B) == set()  # diesel 国五 still fine


def test_min_heavy_stage_by_level_setting() -> None:
    policy = msgspec.structs.replace(default_policy(), min_heavy_stage_by_level={L.RED: EmissionStage.CN6})
    ctx = RuleContext(level=L.RED, grade=G.A, moment=NOON)
    reasons = {h.reason for h in evaluate(policy, heavy("5"), ctx)}
    assert "stage_below_level_minimum" in reasons
    assert not {h.reason for h in evaluate(policy, heavy("6"), ctx)}
    assert not {h.reason for h in evaluate(policy, heavy("D", FuelType.ELECTRIC), ctx)}


def test_every_default_rule_has_source_and_chinese_message() -> None:
    for rule in default_policy().rules:
        assert rule.source
        assert rule.message
        assert any("\u4e00" <= c <= "\u9fff" for c in rule.title)


def test_policy_json_round_trip_and_strictness() -> None:
    policy = default_policy()
    data = encode_policy(policy)
    assert decode_policy(data) == policy
    raw = msgspec.json.decode(data)
    raw["rules"][0]["surprise"] = 1
    with pytest.raises(msgspec.ValidationError, match="surprise"):
        decode_policy(msgspec.json.encode(raw))
    raw = msgspec.json.decode(data)
    raw["rules"][1]["match"]["stage_at_most"] = "9"
    with pytest.raises(msgspec.ValidationError):
        decode_policy(msgspec.json.encode(raw))


@pytest.mark.parametrize(
    ("start", "end", "local_hhmm", "weekdays", "inside"),
    [
        ("08:00", "18:00", (12, 0), (), True),
        ("08:00", "18:00", (18, 0), (), False),
        ("22:00", "08:00", (23, 30), (), True),
        ("22:00", "08:00", (7, 59), (), True),
        ("22:00", "08:00", (8, 0), (), False),
        ("22:00", "08:00", (2, 0), (5,), True),  # Saturday 02:00 belongs to Friday's night window
        ("22:00", "08:00", (2, 0), (6,), False),
    ],
)
def test_time_window(
    start: str, end: str, local_hhmm: tuple[int, int], weekdays: tuple[int, ...], inside: bool
) -> None:
    moment = datetime(2026, 11, 28, *local_hhmm, tzinfo=SHANGHAI)  # a Saturday
    assert TimeWindow(start=start, end=end, weekdays=weekdays).contains(moment) is inside


def test_rule_with_time_window_and_plate_colour() -> None:
    rule = ControlRule(
        id="night_yellow",
        title="夜间黄牌限行",
        match=VehicleMatch(plate_colours=(PlateColour.YELLOW,)),
        reason="night_limit",
        message="夜间黄牌车辆限行",
        time_window=TimeWindow(start="22:00", end="08:00"),
    )
    policy = ControlPolicy(rules=(rule,))
    night = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
    yellow = VehicleFacts(plate_colour=PlateColour.YELLOW)
    assert evaluate(policy, yellow, RuleContext(moment=night))
    assert not evaluate(policy, yellow, RuleContext(moment=NOON))
    assert not evaluate(policy, VehicleFacts(plate_colour=PlateColour.BLUE), RuleContext(moment=night))
