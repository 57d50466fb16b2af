"""The gate decision: allow or refuse, with reason codes and a Chinese message, offline.

Order of the checks (each adds reason codes; any refusing reason refuses):

1. Identity: no plate and no internal code, or a read below the confidence floor → refuse and
   prompt the guard (``plate_unreadable`` / ``low_confidence``).
2. Blacklist → refuse (``blacklisted``).
3. Registry: unknown vehicle → per policy refuse and prompt (``unknown_vehicle``) or allow and
   flag; an inactive or expired record refuses (``registry_inactive``).
4. Control rules (:func:`hj1321.rules.evaluate`) for the warning level in force, the plant's
   grade and the local time; an exemption list turns a refusal into a flag (``exempted``).
5. Daily heavy-truck cap for the level, when the policy sets one (``daily_cap_reached``).
6. Optional regulator pre-pass check (a callable from the sync layer), waited for at most
   ``precheck_timeout_s`` (default 1 s): a platform refusal refuses (``regulator_refused``); a
   timeout or error is flagged and the local decision stands.

Exit lanes only flag what would refuse an entry (a truck is never trapped inside the plant),
unless ``enforce_on_exit`` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Final

import msgspec
import structlog

from agent.decision.registry import LocalRegistry, RegistryVehicle
from agent_protocol.events import Decision, Direction, VehicleSnapshot
from hj1321.grading import PerformanceGrade, WarningLevel
from hj1321.plates import PlateColour
from hj1321.rules import (
    ControlPolicy,
    RuleAction,
    RuleContext,
    UnknownVehicleAction,
    VehicleFacts,
    default_policy,
    evaluate,
)
from hj1321.vehicles import UseNature, VehicleCategory, is_heavy_truck

__all__ = [
    "REASON_TEXT",
    "DecisionEngine",
    "DecisionOutcome",
    "DecisionRequest",
    "DecisionSettings",
    "PrecheckVerdict",
    "RegulatorCheck",
]

log = structlog.get_logger(__name__)

#: Chinese text of every reason and flag code the engine emits (rule codes carry their own message).
REASON_TEXT: Final = {
    "plate_unreadable": "未识别到车牌，请门岗人工核实",
    "low_confidence": "车牌识别置信度过低，请门岗人工核实",
    "blacklisted": "车辆在黑名单中，禁止通行",
    "unknown_vehicle": "车辆未在台账中登记，请门岗核实登记",
    "unknown_vehicle_allowed": "未登记车辆已放行，待补录台账",
    "unknown_internal": "未登记的厂内车辆或非道路移动机械",
    "registry_inactive": "车辆台账已停用或过期",
    "stage_unknown": "车辆排放阶段未知",
    "exempted": "豁免名单车辆，按规定放行",
    "daily_cap_reached": "今日重型货车进厂车次已达应急限额",
    "regulator_refused": "监管平台不允许该车辆通行",
    "regulator_timeout": "监管平台核验超时，按本地规则判定",
    "regulator_error": "监管平台核验失败，按本地规则判定",
    "regulator_allowed": "监管平台核验通过",
    "regulator_unavailable": "监管平台核验不可用，按本地规则判定",
    "exit_not_enforced": "出场车辆仅记录，不拦截",
    "manual_release": "门岗人工放行",
    "manual_entry": "门岗人工录入车牌",
    "allowed": "准予通行",
}


class DecisionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Local decision settings (site configuration; the policy itself comes from the cloud)."""

    grade: Annotated[PerformanceGrade | None, msgspec.Meta(description="企业绩效分级；未评级留空")] = None
    emergency_level: Annotated[WarningLevel, msgspec.Meta(description="当前预警级别（云端下发后覆盖）")] = (
        WarningLevel.NONE
    )
    unknown_vehicle: Annotated[
        UnknownVehicleAction | None,
        msgspec.Meta(description="未登记车辆：refuse_prompt 拦截并提示；allow_flag 放行并标记；留空按策略"),
    ] = None
    min_confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="识别置信度下限，低于则提示门岗")] = 0.6
    enforce_on_exit: Annotated[bool, msgspec.Meta(description="出场车道也执行拦截（默认只记录）")] = False
    precheck_timeout_s: Annotated[
        float, msgspec.Meta(ge=0.05, le=10.0, description="等待监管平台预检结果的最长时间（秒）")
    ] = 1.0


class DecisionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A vehicle at a barrier."""

    lane_id: str
    direction: Direction
    moment: datetime
    plate: str | None = None
    plate_colour: PlateColour | None = None
    internal_code: str | None = None
    confidence: float = 1.0
    manual: bool = False  # typed by a guard: confidence is not checked


class PrecheckVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """A regulator platform's answer to a pre-pass check."""

    allow: bool
    code: str | None = None
    message: str | None = None


#: Supplied by the sync layer: asks the regulator platform about a vehicle before it passes.
RegulatorCheck = Callable[[DecisionRequest], Awaitable[PrecheckVerdict]]


class DecisionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The decision with everything the pass event records about it."""

    decision: Decision
    reasons: tuple[str, ...]
    message: str
    anomalies: tuple[str, ...] = ()
    vehicle: VehicleSnapshot | None = None
    emergency_level: str = "none"
    policy_version: str | None = None
    prompt_guard: bool = False  # the booth should ask the guard to act

    @property
    def allowed(self) -> bool:
        """Tell whether the barrier may open."""
        return self.decision is Decision.ALLOW


def _special_lists(vehicle: RegistryVehicle) -> frozenset[str]:
    lists = set(vehicle.lists)
    if vehicle.use_nature is not None and vehicle.use_nature.is_exempt_service:
        lists.add("special")
    if vehicle.use_nature is UseNature.DANGEROUS_GOODS:
        lists.add("hazmat")
    return frozenset(lists)


#: Plate colours of small vehicles (小型汽车 blue, 小型新能源 green; GA 36): never a heavy truck.
_SMALL_PLATE_COLOURS: Final = frozenset({PlateColour.BLUE, PlateColour.GREEN})


def _unregistered_facts(plate: str | None, colour: PlateColour | None, blacklisted: bool) -> VehicleFacts:
    """What the gate knows of a vehicle in no ledger (issue 19: reasons limited to its category).

    A vehicle read by its number plate is a road vehicle, never a 非道路移动机械 (those are known by their
    environmental code), so the NRMM rules do not apply to it; a blue or green plate is a small vehicle, so
    the heavy-truck rules do not either. What stays unknown (a yellow plate's mass, the stage) is read
    cautiously as before (hj1321.rules.VehicleMatch).
    """
    if not plate:
        return VehicleFacts(plate_colour=colour, blacklisted=blacklisted, registered=False)
    return VehicleFacts(
        category=VehicleCategory.TRANSPORT,
        heavy=False if colour in _SMALL_PLATE_COLOURS else None,
        plate_colour=colour,
        blacklisted=blacklisted,
        registered=False,
    )


def _snapshot(vehicle: RegistryVehicle, heavy: bool | None) -> VehicleSnapshot:
    return VehicleSnapshot(
        category=vehicle.category.value,
        registry_id=vehicle.registry_id,
        vehicle_type=None if vehicle.vehicle_type is None else vehicle.vehicle_type.value,
        fuel=None if vehicle.fuel is None else vehicle.fuel.value,
        emission_stage=None if vehicle.emission_stage is None else vehicle.emission_stage.value,
        heavy=heavy,
    )


class DecisionEngine:
    """Decides at the barrier from the local registry, blacklist and policy.

    The sync layer swaps the registry, policy and level with :meth:`update`; each decision reads
    one consistent set.
    """

    def __init__(
        self,
        *,
        registry: LocalRegistry | None = None,
        policy: ControlPolicy | None = None,
        settings: DecisionSettings | None = None,
        regulator_check: RegulatorCheck | None = None,
        heavy_inbound_today: Callable[[datetime], int] | None = None,
    ) -> None:
        """Create an engine.

        Args:
            registry: local vehicle registry and blacklist (empty when None).
            policy: control policy (REGULATION.md §4.4 defaults when None).
            settings: site decision settings.
            regulator_check: optional pre-pass check against a regulator platform.
            heavy_inbound_today: how many heavy trucks were let in today (for daily caps).
        """
        self.settings = settings or DecisionSettings()
        self.registry = registry or LocalRegistry()
        self.policy = policy or default_policy()
        self.level = self.settings.emergency_level
        self.regulator_check = regulator_check
        self._heavy_inbound_today = heavy_inbound_today

    def update(
        self,
        *,
        registry: LocalRegistry | None = None,
        policy: ControlPolicy | None = None,
        level: WarningLevel | None = None,
    ) -> None:
        """Swap in a newer registry, policy or warning level (from the cloud or the booth)."""
        if registry is not None:
            self.registry = registry
        if policy is not None:
            self.policy = policy
        if level is not None:
            self.level = level
            log.info("decision.level", level=level.value)

    # ------------------------------------------------------------------ local decision

    def decide_local(self, req: DecisionRequest) -> DecisionOutcome:  # noqa: C901, PLR0912, PLR0915 - one checklist
        """Decide from local data only (pure, fast; no I/O)."""
        registry, policy, level = self.registry, self.policy, self.level
        refuse: dict[str, str] = {}  # reason code -> Chinese message, in order
        flags: list[str] = []
        prompt = False

        if not req.plate and not req.internal_code:
            refuse["plate_unreadable"] = REASON_TEXT["plate_unreadable"]
            prompt = True
        elif not req.manual and req.confidence < self.settings.min_confidence:
            refuse["low_confidence"] = REASON_TEXT["low_confidence"]
            prompt = True

        black = registry.blacklisted(req.plate, req.moment)
        vehicle = registry.find(plate=req.plate, colour=req.plate_colour, internal_code=req.internal_code)
        vehicle_snapshot: VehicleSnapshot | None = None
        if vehicle is not None:
            heavy = (
                False
                if vehicle.category is VehicleCategory.NRMM
                else is_heavy_truck(vehicle.vehicle_type, vehicle.total_mass_kg)
            )
            vehicle_snapshot = _snapshot(vehicle, heavy)
            if not vehicle.active or (vehicle.valid_until is not None and vehicle.valid_until < req.moment.date()):
                refuse["registry_inactive"] = REASON_TEXT["registry_inactive"]
            if vehicle.emission_stage is None and vehicle.fuel is None:
                flags.append("stage_unknown")
            facts = VehicleFacts(
                category=vehicle.category,
                heavy=heavy,
                fuel=vehicle.fuel,
                stage=vehicle.emission_stage,
                plate_colour=vehicle.plate_colour or req.plate_colour,
                blacklisted=black is not None,
                registered=True,
                lists=_special_lists(vehicle),
            )
        else:
            if req.plate or req.internal_code:
                if req.internal_code and not req.plate:
                    flags.append("unknown_internal")
                if (self.settings.unknown_vehicle or policy.unknown_vehicle) is UnknownVehicleAction.REFUSE_PROMPT:
                    refuse["unknown_vehicle"] = REASON_TEXT["unknown_vehicle"]
                    prompt = True
                else:
                    flags.append("unknown_vehicle_allowed")
            facts = _unregistered_facts(req.plate, req.plate_colour, black is not None)

        ctx = RuleContext(
            level=level, grade=self.settings.grade, moment=req.moment, small_unit_exempt=policy.small_unit_exempt
        )
        for hit in evaluate(policy, facts, ctx):
            if hit.exempted_by is not None:
                if "exempted" not in flags:
                    flags.append("exempted")
            elif hit.action is RuleAction.REFUSE:
                refuse.setdefault(hit.reason, hit.message)
            elif hit.reason not in flags:
                flags.append(hit.reason)
        cap = policy.daily_heavy_cap_by_level.get(level)
        if (
            cap is not None
            and facts.heavy
            and req.direction is Direction.IN
            and self._heavy_inbound_today is not None
            and self._heavy_inbound_today(req.moment) >= cap
        ):
            refuse["daily_cap_reached"] = REASON_TEXT["daily_cap_reached"]

        if refuse and req.direction is Direction.OUT and not self.settings.enforce_on_exit:
            flags.extend(r for r in refuse if r not in flags)
            flags.append("exit_not_enforced")
            refuse = {}
            prompt = False

        if refuse:
            decision = Decision.REFUSE
            reasons = tuple(refuse)
            text = "；".join(dict.fromkeys(refuse.values()))
        else:
            decision = Decision.ALLOW
            reasons = ("allowed",)
            text = REASON_TEXT["allowed"]
        return DecisionOutcome(
            decision=decision,
            reasons=reasons,
            message=f"{decision.label}：{text}",
            anomalies=tuple(flags),
            vehicle=vehicle_snapshot,
            emergency_level=level.value,
            policy_version=policy.version,
            prompt_guard=prompt,
        )

    # ------------------------------------------------------------------ with the platform

    async def decide(self, req: DecisionRequest) -> DecisionOutcome:
        """Decide locally, then consult the regulator platform for at most the configured time."""
        local = self.decide_local(req)
        if self.regulator_check is None or not (req.plate or req.internal_code):
            return local
        try:
            verdict = await asyncio.wait_for(self.regulator_check(req), timeout=self.settings.precheck_timeout_s)
        except TimeoutError:
            log.warning("decision.precheck_timeout", lane=req.lane_id)
            return msgspec.structs.replace(local, anomalies=(*local.anomalies, "regulator_timeout"))
        except Exception as exc:  # noqa: BLE001 - any failure of the platform falls back to the local decision
            log.warning("decision.precheck_error", lane=req.lane_id, error=str(exc))
            return msgspec.structs.replace(local, anomalies=(*local.anomalies, "regulator_error"))
        if verdict.allow:
            # A flag code on an allowing verdict (regulator_allowed / regulator_unavailable) goes to the
            # ledger, so it shows whether a platform answer was used.
            if verdict.code and verdict.code not in local.anomalies:
                return msgspec.structs.replace(local, anomalies=(*local.anomalies, verdict.code))
            return local
        text = verdict.message or REASON_TEXT["regulator_refused"]
        reasons = (*(r for r in local.reasons if r != "allowed"), "regulator_refused")
        return msgspec.structs.replace(
            local,
            decision=Decision.REFUSE,
            reasons=reasons,
            message=f"{Decision.REFUSE.label}：{text}",
            anomalies=local.anomalies,
        )
