"""Compliance API (issue 6): review queue and logic checks, maker-checker reviews, control policy,
region alerts and emergency responses, tamper-evidence verification and anchors."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import chain, checks, emergency, flags, policy, push, reviews, service
from cloud.domain import audit
from cloud.domain.common import require_tenant
from cloud.lib.problems import not_found
from frontend_api.api.schemas import From, Limit, Offset, Page, PlateQuery, Reason, To
from hj1321.rules import default_policy
from tenants.context import Principal, Role

if TYPE_CHECKING:
    from cloud.db import models as m

#: Who may resolve flags and approve vehicles (the environmental managers).
REVIEWERS: Final = {"roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER})}
#: Tenant-scoped reads that need an enterprise (regulators read these through the enterprise paths).
TENANT_READERS: Final = {
    "roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER, Role.GUARD, Role.VIEWER, Role.PLATFORM_ADMIN})
}
PLATFORM_ADMIN: Final = {"roles": frozenset({Role.PLATFORM_ADMIN})}
ALERT_READERS: Final = {"roles": frozenset({Role.PLATFORM_ADMIN, Role.REGULATOR})}
LedgerReason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="原因")]


# Review queue ------------------------------------------------------------------------------------


class ResolutionOut(msgspec.Struct):
    """One entry of a flag's resolution history."""

    id: uuid.UUID
    outcome: str
    outcome_label: str
    reason: str
    resolved_by: uuid.UUID
    created_at: dt.datetime


class FlagOut(msgspec.Struct, kw_only=True):
    """A logic-check finding: red (``open``) until a person resolves it."""

    id: uuid.UUID
    code: str
    title: str
    explanation: str
    message: str
    status: str
    status_label: str
    pass_event_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None
    plate: str | None
    occurred_at: dt.datetime | None
    created_at: dt.datetime
    detail: dict[str, Any]
    history: list[ResolutionOut]


def _flag(view: flags.FlagView) -> FlagOut:
    f = view.flag
    return FlagOut(
        id=f.id,
        code=f.code,
        title=view.title,
        explanation=view.explanation,
        message=f.message,
        status=view.status,
        status_label=flags.STATUS_LABELS[view.status],
        pass_event_id=f.pass_event_id,
        vehicle_id=f.vehicle_id,
        plate=f.plate,
        occurred_at=f.occurred_at,
        created_at=f.created_at,
        detail=dict(f.detail or {}),
        history=[
            ResolutionOut(r.id, r.outcome, flags.OUTCOMES[r.outcome], r.reason, r.resolved_by, r.created_at)
            for r in view.history
        ],
    )


async def _refresh(session: AsyncSession, principal: Principal) -> None:
    """Bring the checks up to date before a read (writers' pool; regulators read what is there)."""
    if principal.tenant_id is not None and not principal.is_regulator:
        await checks.run_checks(session, principal.tenant_id)


@get("/compliance/reasons", operation_id="ListCheckReasons")
async def list_reasons() -> list[dict[str, str]]:
    """Every logic-check reason code with its Chinese title and explanation."""
    return [{"code": c, "title": t, "explanation": e} for c, (t, e) in checks.REASONS.items()]


@get("/compliance/flags", operation_id="ListCheckFlags")
async def list_flags(
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    status: FromQuery[Literal["open", "closed", "all"]] = "open",
    code: Annotated[str | None, QueryParameter(max_length=40, description="原因代码")] = None,
    plate: PlateQuery = None,
    pass_event_id: FromQuery[uuid.UUID | None] = None,
    vehicle_id: FromQuery[uuid.UUID | None] = None,
    start: From = None,
    end: To = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[FlagOut]:
    """The review queue: flags (open by default), newest record first."""
    criteria = flags.FlagFilter(None if status == "all" else status, code, pass_event_id, vehicle_id, plate, start, end)
    async with session.begin():
        await _refresh(session, principal)
        views, total = await flags.list_flags(session, criteria, limit, offset)
    return Page([_flag(v) for v in views], total, limit, offset)


@get("/compliance/flags/summary", operation_id="GetCheckSummary")
async def flag_summary(session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]) -> dict[str, Any]:
    """Open flags per reason code."""
    async with session.begin():
        await _refresh(session, principal)
        counts = await flags.summary(session)
    return {
        "open_total": sum(counts.values()),
        "by_code": [
            {"code": c, "title": checks.REASONS.get(c, (c, ""))[0], "open": n} for c, n in sorted(counts.items())
        ],
    }


@get("/compliance/flags/{flag_id:uuid}", operation_id="GetCheckFlag")
async def get_flag(flag_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> FlagOut:
    """One flag with its resolution history."""
    async with session.begin():
        view = await flags.get_flag(session, flag_id)
    return _flag(view)


class ResolutionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person's resolution: 已处理 (resolved), 误报 (dismissed) or 重新打开 (reopened), with the reason."""

    outcome: Literal["resolved", "dismissed", "reopened"]
    reason: Reason


@post("/compliance/flags/{flag_id:uuid}/resolutions", operation_id="ResolveCheckFlag", opt=REVIEWERS, status_code=200)
async def resolve_flag(
    flag_id: FromPath[uuid.UUID],
    data: JSONBody[ResolutionIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> FlagOut:
    """Resolve (or reopen) a flag; the history keeps every resolution."""
    async with session.begin():
        view = await flags.resolve(session, principal, flag_id, data.outcome, data.reason)
    return _flag(view)


class CheckRunOut(msgspec.Struct):
    """What a check run did."""

    passes_checked: int
    vehicles_checked: int
    flags_added: int
    codes: dict[str, int]


@post("/compliance/checks/run", operation_id="RunChecks", status_code=200)
async def run_checks(session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]) -> CheckRunOut:
    """Run every due logic check of the enterprise now."""
    tenant_id = require_tenant(principal)
    async with session.begin():
        run = await checks.run_checks(session, tenant_id)
    return CheckRunOut(run.passes_checked, run.vehicles_checked, run.flags_added, run.codes)


# Maker-checker -----------------------------------------------------------------------------------


class PendingReviewOut(msgspec.Struct):
    """A vehicle version waiting for a second person's review."""

    vehicle_id: uuid.UUID
    category: str
    version: int
    version_id: uuid.UUID
    plate: str | None
    vin: str | None
    emission_stage: str | None
    fuel_type: str | None
    changed: list[str]
    created_by: uuid.UUID | None
    created_at: dt.datetime


@get("/compliance/vehicle-reviews", operation_id="ListPendingVehicleReviews")
async def list_pending_reviews(
    session: NamedDependency[AsyncSession], limit: FromQuery[Limit] = 50, offset: FromQuery[Offset] = 0
) -> Page[PendingReviewOut]:
    """New vehicles and changed emission stages waiting for the checker, oldest first."""
    async with session.begin():
        rows, total = await reviews.pending(session, limit, offset)
    items = [
        PendingReviewOut(
            p.vehicle.id,
            p.vehicle.category,
            p.version.version,
            p.version.id,
            p.version.plate,
            p.version.vin,
            p.version.emission_stage,
            p.version.fuel_type,
            p.changed,
            p.version.created_by,
            p.version.created_at,
        )
        for p in rows
    ]
    return Page(items, total, limit, offset)


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """The checker's verdict on a version."""

    version: Annotated[int, msgspec.Meta(ge=1)]
    decision: Literal["verified", "rejected"]
    reason: Reason


class ReviewOut(msgspec.Struct):
    """A recorded verdict."""

    id: uuid.UUID
    vehicle_id: uuid.UUID
    version: int
    decision: str
    decision_label: str
    reason: str
    reviewed_by: uuid.UUID
    created_at: dt.datetime


@post("/vehicles/{vehicle_id:uuid}/reviews", operation_id="ReviewVehicle", opt=REVIEWERS)
async def review_vehicle(
    vehicle_id: FromPath[uuid.UUID],
    data: JSONBody[ReviewIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> ReviewOut:
    """Verify or reject a vehicle version (双人复核: not by the person who wrote it)."""
    async with session.begin():
        done = await reviews.review_version(session, principal, vehicle_id, data.version, data.decision, data.reason)
        await push.notify_agents(session, done.review.tenant_id, "registry_updated", {"version": str(done.review.id)})
    r = done.review
    return ReviewOut(
        r.id,
        r.vehicle_id,
        done.version.version,
        r.decision,
        reviews.REVIEW_LABELS[r.decision],
        r.reason,
        r.reviewed_by,
        r.created_at,
    )


# Control policy ----------------------------------------------------------------------------------


class PolicyVersionOut(msgspec.Struct):
    """One saved version of the enterprise's policy."""

    id: uuid.UUID
    version: int
    label: str
    reason: str
    effective_from: dt.datetime | None
    effective_until: dt.datetime | None
    created_by: uuid.UUID | None
    created_at: dt.datetime


class PolicyOut(msgspec.Struct):
    """The policy in force, how it differs from the REGULATION.md §4.4 defaults, and every version."""

    version: str
    is_default: bool
    control: dict[str, Any]
    exemption_members: dict[str, list[str]]
    rules: list[dict[str, str]]
    versions: list[PolicyVersionOut]


def _version_out(v: m.PolicyVersion) -> PolicyVersionOut:
    control = v.policy.get("control")
    label = str(control.get("version", f"t{v.version}")) if isinstance(control, dict) else f"t{v.version}"
    return PolicyVersionOut(
        v.id, v.version, label, v.reason, v.effective_from, v.effective_until, v.created_by, v.created_at
    )


@get("/compliance/policy", operation_id="GetPolicy", opt=TENANT_READERS)
async def get_policy(session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]) -> PolicyOut:
    """The control policy in force now (defaults until the enterprise saves its own)."""
    tenant_id = require_tenant(principal)
    async with session.begin():
        state = await policy.in_force(session, tenant_id)
        versions = await policy.history(session, tenant_id)
    return PolicyOut(
        state.label,
        state.version is None,
        msgspec.to_builtins(state.control),
        state.members,
        policy.compare_with_defaults(state.control),
        [_version_out(v) for v in versions],
    )


@get("/compliance/policy/default", operation_id="GetDefaultPolicy")
async def get_default_policy() -> dict[str, Any]:
    """REGULATION.md §4.4 as shipped: every rule editable, each with its source."""
    result: dict[str, Any] = msgspec.to_builtins(default_policy())
    return result


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new policy version: rules per level and grade, exemption lists and their members, an optional window."""

    control: dict[str, Any]
    exemption_members: dict[
        Annotated[str, msgspec.Meta(max_length=32)], Annotated[list[str], msgspec.Meta(max_length=5000)]
    ] = {}
    reason: Reason
    effective_from: dt.datetime | None = None
    effective_until: dt.datetime | None = None


@post("/compliance/policy", operation_id="SavePolicy", opt=REVIEWERS)
async def save_policy(
    data: JSONBody[PolicyIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> PolicyOut:
    """Save a new version of the policy (a window makes it a scheduled policy); agents are told at once."""
    tenant_id = require_tenant(principal)
    control = policy.parse_control(data.control)
    async with session.begin():
        await policy.save(
            session, principal, control, data.exemption_members, data.reason, data.effective_from, data.effective_until
        )
        state = await policy.in_force(session, tenant_id)
        versions = await policy.history(session, tenant_id)
    return PolicyOut(
        state.label,
        state.version is None,
        msgspec.to_builtins(state.control),
        state.members,
        policy.compare_with_defaults(state.control),
        [_version_out(v) for v in versions],
    )


# Emergency ---------------------------------------------------------------------------------------


class AlertOut(msgspec.Struct, kw_only=True):
    """A region-wide heavy-pollution alert."""

    id: uuid.UUID
    region_code: str
    level: str
    level_label: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    source: str
    declared_at: dt.datetime
    cancelled_at: dt.datetime | None
    cancel_reason: str | None


def _alert(a: m.RegionAlert) -> AlertOut:
    return AlertOut(
        id=a.id,
        region_code=a.region_code,
        level=a.level,
        level_label=emergency.LEVEL_LABELS[a.level],
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        reason=a.reason,
        source=a.source,
        declared_at=a.declared_at,
        cancelled_at=a.cancelled_at,
        cancel_reason=a.cancel_reason,
    )


class ResponseOut(msgspec.Struct):
    """An emergency-response record of the enterprise."""

    id: uuid.UUID
    alert_id: uuid.UUID | None
    event: str
    level: str
    level_label: str
    region_code: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    agents_notified: int
    created_at: dt.datetime


class EmergencyOut(msgspec.Struct):
    """The level the enterprise's gates apply now, the alerts behind it and the response records."""

    level: str
    level_label: str
    alerts: list[AlertOut]
    responses: Page[ResponseOut]


@get("/compliance/emergency", operation_id="GetEmergencyStatus", opt=TENANT_READERS)
async def get_emergency(
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> EmergencyOut:
    """Current warning level and the emergency-response records (each alert period)."""
    tenant_id = require_tenant(principal)
    async with session.begin():
        alerts = await service.emergency_alerts(session, tenant_id)
        rows, total = await emergency.responses(session, limit, offset)
    level = alerts[0].level if alerts else "none"
    items = [
        ResponseOut(
            r.id,
            r.alert_id,
            r.event,
            r.level,
            emergency.LEVEL_LABELS[r.level],
            r.region_code,
            r.starts_at,
            r.ends_at,
            r.reason,
            r.agents_notified,
            r.created_at,
        )
        for r in rows
    ]
    return EmergencyOut(
        level, emergency.LEVEL_LABELS[level], [_alert(a) for a in alerts], Page(items, total, limit, offset)
    )


class AlertIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A platform admin's declaration of a region alert."""

    region_code: Annotated[
        str, msgspec.Meta(min_length=2, max_length=6, pattern=r"^\d+$", description="行政区划代码前缀")
    ]
    level: Literal["yellow", "orange", "red"]
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime
    reason: Reason


class AlertOutcomeOut(msgspec.Struct):
    """The alert and whom it reached."""

    alert: AlertOut
    tenants: int
    agents_notified: int


@post("/admin/region-alerts", operation_id="DeclareRegionAlert", opt=PLATFORM_ADMIN)
async def declare_alert(
    data: JSONBody[AlertIn], principal: NamedDependency[Principal], state: State
) -> AlertOutcomeOut:
    """Declare a heavy-pollution alert for a region: every agent of every enterprise there applies it at once."""
    starts = data.starts_at or dt.datetime.now(dt.UTC)
    outcome = await emergency.declare(
        state.database, principal, data.region_code, data.level, starts, data.ends_at, data.reason
    )
    return AlertOutcomeOut(_alert(outcome.alert), len(outcome.tenants), outcome.agents_notified)


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why an alert ends early."""

    reason: Reason


@post(
    "/admin/region-alerts/{alert_id:uuid}/cancel", operation_id="CancelRegionAlert", opt=PLATFORM_ADMIN, status_code=200
)
async def cancel_alert(
    alert_id: FromPath[uuid.UUID], data: JSONBody[CancelIn], principal: NamedDependency[Principal], state: State
) -> AlertOutcomeOut:
    """End an alert early; agents fall back to the level still in force."""
    outcome = await emergency.cancel(state.database, principal, alert_id, data.reason)
    return AlertOutcomeOut(_alert(outcome.alert), len(outcome.tenants), outcome.agents_notified)


@get("/admin/region-alerts", operation_id="ListRegionAlerts", opt=ALERT_READERS)
async def list_alerts(
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    region_code: Annotated[str | None, QueryParameter(max_length=6, description="行政区划代码前缀")] = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[AlertOut]:
    """Region alerts, newest first (a regulator sees those of its region)."""
    prefix = principal.region_code if principal.is_regulator else region_code
    async with session.begin():
        rows, total = await emergency.list_alerts(session, prefix, limit, offset)
    return Page([_alert(a) for a in rows], total, limit, offset)


# Tamper evidence ---------------------------------------------------------------------------------


@get("/enterprises/{tenant_id:uuid}/ledger/verify", operation_id="VerifyLedger")
async def verify_ledger(
    tenant_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> dict[str, Any]:
    """Verify every agent chain, the cloud chain and the stored anchors; report the first broken link."""
    async with session.begin():
        await service.enterprise(session, principal, tenant_id)
        report = await session.run_sync(lambda s: chain.verify(s, tenant_id))
    return chain.report_json(report)


AnchorDoc = dict[str, Any]


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    """Anchors the verifier kept outside the database (as returned by ``ListLedgerAnchors``)."""

    anchors: Annotated[list[AnchorDoc], msgspec.Meta(max_length=1000)] = []


@post(
    "/enterprises/{tenant_id:uuid}/ledger/verify",
    operation_id="VerifyLedgerWithAnchors",
    opt={"self_service": True},  # read-only: regulators may call it too
    status_code=200,
)
async def verify_ledger_with_anchors(
    tenant_id: FromPath[uuid.UUID],
    data: JSONBody[VerifyIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> dict[str, Any]:
    """Verify against the stored anchors and the verifier's own copies (catches deleted tails and re-hashing)."""
    async with session.begin():
        await service.enterprise(session, principal, tenant_id)
        report = await session.run_sync(lambda s: chain.verify(s, tenant_id, data.anchors))
    return chain.report_json(report)


@get("/enterprises/{tenant_id:uuid}/ledger/anchors", operation_id="ListLedgerAnchors")
async def list_anchors(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    limit: FromQuery[Annotated[int, QueryParameter(ge=1, le=1000)]] = 100,
) -> list[dict[str, Any]]:
    """The newest anchors (keep a copy: it is what catches a deleted tail or a re-hashed chain)."""
    async with session.begin():
        await service.enterprise(session, principal, tenant_id)
        return await session.run_sync(lambda s: chain.list_anchors(s, tenant_id, limit))


@post("/enterprises/{tenant_id:uuid}/ledger/anchors", operation_id="CreateLedgerAnchor")
async def create_anchor(
    tenant_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> dict[str, Any]:
    """Anchor the chain heads now (on demand); each agent is sent its own head to keep."""
    if principal.tenant_id != tenant_id:
        raise not_found("企业")
    async with session.begin():
        anchor = await session.run_sync(lambda s: chain.make_anchor(s, tenant_id, "on_demand", principal.user_id))
        await service.echo_anchor(session, tenant_id, anchor)
        audit.record(
            session, principal, "ledger.anchored", "chain_anchor", anchor["id"], {"anchor_hash": anchor["anchor_hash"]}
        )
    return anchor


HANDLERS = [
    list_reasons,
    list_flags,
    flag_summary,
    get_flag,
    resolve_flag,
    run_checks,
    list_pending_reviews,
    review_vehicle,
    get_policy,
    get_default_policy,
    save_policy,
    get_emergency,
    declare_alert,
    cancel_alert,
    list_alerts,
    verify_ledger,
    verify_ledger_with_anchors,
    list_anchors,
    create_anchor,
]
