"""The gate control-rule model shared by the agent's decision engine and the cloud's policy editor.

A :class:`ControlPolicy` is plain data (msgspec Structs, JSON on the wire): the cloud edits it per
tenant and pushes it to the agents, which decide offline. A rule says *when* it applies (warning
levels, performance grades, an optional local time window), *which vehicles* it matches
(ledger category, heavy truck, fuel, emission stage at most, plate colour, blacklisted,
registered) and *what happens* (refuse, or allow and flag), with a reason code, a Chinese
message, the names of exemption lists that escape it, and the source note the tenant is shown.

:func:`default_policy` ships REGULATION.md §4.4 as editable defaults; every row there is [I]
(assembled from §3.10, §4.2, §4.3) and each rule's ``source`` says so. :func:`evaluate` is the
pure matching step; the agent adds registry, blacklist, unknown-vehicle and platform checks.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Final
from zoneinfo import ZoneInfo

import msgspec

from hj1321.emission import EmissionStage
from hj1321.grading import PerformanceGrade, WarningLevel
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

__all__ = [
    "DEFAULT_EXEMPTION_LISTS",
    "SHANGHAI",
    "ControlPolicy",
    "ControlRule",
    "RuleAction",
    "RuleContext",
    "RuleHit",
    "TimeWindow",
    "UnknownVehicleAction",
    "VehicleFacts",
    "VehicleMatch",
    "decode_policy",
    "default_policy",
    "encode_policy",
    "evaluate",
]

#: Business time zone: rule time windows are local plant time (ARCHITECTURE.md "Time").
SHANGHAI: Final = ZoneInfo("Asia/Shanghai")

RuleId = Annotated[str, msgspec.Meta(pattern="^[a-z0-9_.-]{1,64}$", description="稳定的规则标识")]
ReasonCode = Annotated[str, msgspec.Meta(pattern="^[a-z0-9_.]{1,64}$", description="拦截/标记原因代码")]
ListName = Annotated[str, msgspec.Meta(pattern="^[a-z0-9_]{1,32}$", description="豁免名单名称")]
HHMM = Annotated[str, msgspec.Meta(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$", description="本地时间 HH:MM")]

#: Exemption lists every policy knows (§4.4: special, hazmat and livelihood vehicles exempt by list).
DEFAULT_EXEMPTION_LISTS: Final = {
    "special": "特种车辆（消防、救护、抢险等）",
    "hazmat": "危险品运输车辆",
    "livelihood": "民生保障车辆",
}
_EXEMPT: Final = ("special", "hazmat", "livelihood")


class RuleAction(StrEnum):
    """What a matching rule does."""

    REFUSE = "refuse"  # 拦截
    FLAG = "flag"  # 放行并标记

    @property
    def label(self) -> str:
        """The Chinese name."""
        return "拦截" if self is RuleAction.REFUSE else "放行并标记"


class UnknownVehicleAction(StrEnum):
    """What to do with a vehicle the local registry does not know."""

    REFUSE_PROMPT = "refuse_prompt"  # 拦截并提示门岗人工处理
    ALLOW_FLAG = "allow_flag"  # 放行并标记待补录

    @property
    def label(self) -> str:
        """The Chinese name."""
        return "拦截并提示门岗" if self is UnknownVehicleAction.REFUSE_PROMPT else "放行并标记待补录"


class TimeWindow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A daily local-time window (may cross midnight, e.g. 22:00–08:00), optionally on some weekdays."""

    start: HHMM
    end: HHMM
    weekdays: tuple[Annotated[int, msgspec.Meta(ge=1, le=7)], ...] = ()  # ISO weekdays; empty = every day

    def contains(self, moment: datetime) -> bool:
        """Tell whether ``moment`` (any zone; judged in Asia/Shanghai) falls in the window."""
        local = moment.astimezone(SHANGHAI)
        start = time.fromisoformat(self.start)
        end = time.fromisoformat(self.end)
        now = local.time().replace(tzinfo=None)
        if start <= end:
            inside = start <= now < end
            day = local.isoweekday()
        else:  # crosses midnight: the part after midnight belongs to the previous day's window
            inside = now >= start or now < end
            day = local.isoweekday() if now >= start else (local.isoweekday() - 2) % 7 + 1
        return inside and (not self.weekdays or day in self.weekdays)


class VehicleMatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which vehicles a rule matches; every given condition must hold, empty/None means "any"."""

    categories: tuple[VehicleCategory, ...] = ()
    heavy_truck: bool | None = None
    fuels: tuple[FuelType, ...] = ()
    stage_at_most: EmissionStage | None = None
    plate_colours: tuple[PlateColour, ...] = ()
    blacklisted: bool | None = None
    registered: bool | None = None

    def matches(self, facts: VehicleFacts) -> bool:
        """Tell whether the vehicle described by ``facts`` meets every condition.

        An unknown fact matches (the cautious reading): a vehicle whose stage is unknown is
        treated as old, one whose heaviness is unknown as heavy. New-energy fuel never matches a
        stage condition.
        """
        checks = (
            not self.categories or facts.category is None or facts.category in self.categories,
            self.heavy_truck is None or facts.heavy is None or facts.heavy == self.heavy_truck,
            not self.fuels or facts.fuel is None or facts.fuel in self.fuels,
            self.stage_at_most is None or _stage_matches(facts, self.stage_at_most),
            not self.plate_colours or facts.plate_colour is None or facts.plate_colour in self.plate_colours,
            self.blacklisted is None or facts.blacklisted == self.blacklisted,
            self.registered is None or facts.registered == self.registered,
        )
        return all(checks)


def _stage_matches(facts: VehicleFacts, at_most: EmissionStage) -> bool:
    if facts.fuel is not None and facts.fuel.is_new_energy:
        return False
    if facts.stage is None:
        return True
    return facts.stage.at_most(at_most)


class ControlRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One editable control rule."""

    id: RuleId
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="规则名称")]
    levels: tuple[WarningLevel, ...] = ()  # empty = every level
    grades: tuple[PerformanceGrade, ...] = ()  # empty = every grade, ungraded included
    ungraded: bool = False  # with non-empty grades: also plants that have no grade
    match: VehicleMatch = VehicleMatch()
    action: RuleAction = RuleAction.REFUSE
    reason: ReasonCode
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="显示给司机/门岗的中文提示")]
    exempt_lists: tuple[ListName, ...] = ()
    time_window: TimeWindow | None = None
    small_unit_exemptible: bool = False  # lifted when the plant has the "< 10 vehicles/day" exemption
    source: Annotated[str, msgspec.Meta(max_length=500, description="依据与出处")] = ""
    enabled: bool = True

    def applies(self, ctx: RuleContext) -> bool:
        """Tell whether the rule is in force for this plant, level and moment."""
        if not self.enabled:
            return False
        if self.levels and ctx.level not in self.levels:
            return False
        if self.grades and not (ctx.grade in self.grades or (ctx.grade is None and self.ungraded)):
            return False
        if self.small_unit_exemptible and ctx.small_unit_exempt:
            return False
        return self.time_window is None or self.time_window.contains(ctx.moment)


class ControlPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tenant's (or site's) whole gate policy; the cloud edits it and pushes it to agents."""

    version: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="策略版本")] = "default-1"
    rules: tuple[ControlRule, ...] = ()
    unknown_vehicle: UnknownVehicleAction = UnknownVehicleAction.REFUSE_PROMPT
    small_unit_exempt: bool = False  # the plant is a unit with < 10 vehicles/day and claims the exemption
    min_heavy_stage_by_level: dict[WarningLevel, EmissionStage] = {}  # e.g. red: 国六 ("some cities")
    daily_heavy_cap_by_level: dict[WarningLevel, Annotated[int, msgspec.Meta(ge=0)]] = {}  # inbound cap
    exemption_lists: dict[ListName, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_EXEMPTION_LISTS))


class VehicleFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What is known about the vehicle at the gate (None = unknown)."""

    category: VehicleCategory | None = None
    heavy: bool | None = None
    fuel: FuelType | None = None
    stage: EmissionStage | None = None
    plate_colour: PlateColour | None = None
    blacklisted: bool = False
    registered: bool = True
    lists: frozenset[str] = frozenset()


class RuleContext(msgspec.Struct, frozen=True, kw_only=True):
    """Plant and moment a decision is made for."""

    level: WarningLevel = WarningLevel.NONE
    grade: PerformanceGrade | None = None
    moment: datetime
    small_unit_exempt: bool = False


class RuleHit(msgspec.Struct, frozen=True, kw_only=True):
    """A rule that matched (or was escaped through an exemption list)."""

    rule_id: str
    action: RuleAction
    reason: str
    message: str
    exempted_by: str | None = None


def evaluate(policy: ControlPolicy, facts: VehicleFacts, ctx: RuleContext) -> list[RuleHit]:
    """Every rule in force that matches ``facts``, in policy order, plus the policy-wide settings.

    A hit with ``exempted_by`` set was escaped through that exemption list (kept for the record).
    """
    hits: list[RuleHit] = []
    for rule in policy.rules:
        if not rule.applies(ctx) or not rule.match.matches(facts):
            continue
        exempt = next((name for name in rule.exempt_lists if name in facts.lists), None)
        hits.append(
            RuleHit(rule_id=rule.id, action=rule.action, reason=rule.reason, message=rule.message, exempted_by=exempt)
        )
    minimum = policy.min_heavy_stage_by_level.get(ctx.level)
    if minimum is not None and facts.heavy is not False and facts.category is not VehicleCategory.NRMM:
        below = _stage_matches(facts, minimum) and (facts.stage is None or facts.stage != minimum)
        if below:
            exempt = next((name for name in _EXEMPT if name in facts.lists), None)
            hits.append(
                RuleHit(
                    rule_id="min_heavy_stage",
                    action=RuleAction.REFUSE,
                    reason="stage_below_level_minimum",
                    message=f"{ctx.level.label}期间仅允许{minimum.label}及以上或新能源重型货车",
                    exempted_by=exempt,
                )
            )
    return hits


def _rule(**kwargs: object) -> ControlRule:
    return msgspec.convert(kwargs, ControlRule)


_HEAVY_ROAD: Final = {"categories": ["transport", "in_plant"], "heavy_truck": True}
#: The ``source`` people read on the policy page (issue 19: no file names, section marks or tags on a page).
#: Provenance for developers: REGULATION.md §4.4 [I], assembled from §3.10, §4.2 and §4.3.
_SRC_44: Final = "出厂默认规则（依据绩效分级与重污染天气应急减排要求、监管平台管控策略整理，请按属地要求核实）"


def default_policy() -> ControlPolicy:
    """REGULATION.md §4.4 as the shipped, editable default policy (every row [I], with its source)."""
    ab = ["A", "leading"]
    bb = ["B", "B-"]
    cd = ["C", "D"]
    rules = [
        _rule(
            id="blacklist",
            title="黑名单车辆拦截",
            match={"blacklisted": True},
            reason="blacklisted",
            message="车辆在黑名单中，禁止通行",
            source=f"{_SRC_44}；所有级别、所有绩效等级",
        ),
        _rule(
            id="a_grade_heavy_stage",
            title="A级/引领性企业：重型货车须国五及以上或新能源",
            grades=ab,
            match={"categories": ["transport"], "heavy_truck": True, "stage_at_most": "4"},
            reason="a_grade_stage",
            message="A级企业运输车辆须国五及以上或新能源，国四及以下重型货车禁止进厂",
            source=f"{_SRC_44}；绩效分级技术指南（环办大气函〔2020〕340号）A级条件，以水泥行业为例",
        ),
        _rule(
            id="yellow_cd_heavy_cn3",
            title="黄色预警（C/D级及未评级）：禁行国三及以下重型货车",
            levels=["yellow"],
            grades=cd,
            ungraded=True,
            match={**_HEAVY_ROAD, "stage_at_most": "3"},
            reason="emergency_heavy_stage",
            message="黄色预警期间，国三及以下重型货车禁止通行",
            exempt_lists=list(_EXEMPT),
            source=f"{_SRC_44}；监管平台管控策略 1：禁行国三及以下重型柴油（燃气）车",
        ),
        _rule(
            id="orange_heavy_cn4",
            title="橙色预警：禁行国四及以下重型货车（含燃气）",
            levels=["orange"],
            match={**_HEAVY_ROAD, "stage_at_most": "4"},
            reason="emergency_heavy_stage",
            message="橙色预警期间，国四及以下重型柴油/燃气货车禁止通行",
            exempt_lists=list(_EXEMPT),
            small_unit_exemptible=True,
            source=f"{_SRC_44}；橙色（Ⅱ级）应急措施；监管平台管控策略 2；日用车少于 10 辆次的单位可豁免（设置）",
        ),
        _rule(
            id="red_heavy_cn4",
            title="红色预警：仅允许国五及以上或新能源重型货车",
            levels=["red"],
            match={**_HEAVY_ROAD, "stage_at_most": "4"},
            reason="emergency_heavy_stage",
            message="红色预警期间，仅允许国五及以上或新能源重型货车通行",
            exempt_lists=list(_EXEMPT),
            source=f"{_SRC_44}；红色（Ⅰ级）：A级同橙色，B级仅国五及以上和新能源；特种、危险品、民生车辆按名单豁免",
        ),
        _rule(
            id="orange_nrmm_cn2",
            title="橙色/红色预警（B级及以下）：停用国二及以下非道路移动机械",
            levels=["orange", "red"],
            grades=[*bb, *cd],
            ungraded=True,
            match={"categories": ["nrmm"], "stage_at_most": "2"},
            reason="emergency_nrmm_stage",
            message="重污染天气应急期间，国二及以下非道路移动机械停止使用",
            exempt_lists=list(_EXEMPT),
            source=f"{_SRC_44}；橙色（Ⅱ级）应急措施",
        ),
        _rule(
            id="red_cd_stop_road",
            title="红色预警（C/D级及未评级）：停止大宗物料公路运输",
            levels=["red"],
            grades=cd,
            ungraded=True,
            match={"categories": ["transport"]},
            reason="emergency_stop_road",
            message="红色预警期间停止大宗物料公路运输，仅豁免名单车辆可通行",
            exempt_lists=list(_EXEMPT),
            source=f"{_SRC_44}；监管平台管控策略 4：停止公路运输",
        ),
        _rule(
            id="strategy3_gas_cn5",
            title="管控策略3：禁行国五及以下燃气重型货车（默认停用）",
            levels=["orange", "red"],
            match={**_HEAVY_ROAD, "fuels": ["E", "F"], "stage_at_most": "5"},
            reason="emergency_gas_stage",
            message="应急期间国五及以下燃气重型货车禁止通行",
            exempt_lists=list(_EXEMPT),
            enabled=False,
            source="监管平台管控策略 3：禁行国四及以下重型柴油车与国五及以下燃气车，部分平台下发时启用",
        ),
    ]
    return ControlPolicy(version="default-1", rules=tuple(rules))


_POLICY_DECODER: Final = msgspec.json.Decoder(ControlPolicy)


def encode_policy(policy: ControlPolicy) -> bytes:
    """JSON form of a policy (what the cloud pushes and the agent caches)."""
    return msgspec.json.encode(policy)


def decode_policy(data: bytes | str) -> ControlPolicy:
    """Decode and validate a policy; unknown fields are rejected.

    Raises:
        msgspec.ValidationError / msgspec.DecodeError: for malformed input.
    """
    return _POLICY_DECODER.decode(data)
