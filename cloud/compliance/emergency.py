"""Region-wide heavy-pollution alerts (REGULATION.md §4.3) and the tenants' emergency-response records.

A platform admin declares an alert for a region (GB/T 2260 prefix), a level (黄/橙/红) and a period.
The alert itself is platform data (``region_alert``, written through the SECURITY DEFINER function of
migration 0005, docs/adr/0005). In the same transaction the command ``set_emergency_level`` is queued
for the agents of every tenant whose region code starts with the alert's (one NOTIFY per tenant,
delivered on commit), so agents switch within seconds; then each tenant gets an
``emergency_response`` record of the period (its own transaction, under RLS). Finding the tenants of
a region is the one cross-tenant read: it goes through the regulator role's region policy, read-only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import push
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit
from cloud.domain.common import FieldErrors
from cloud.lib.problems import ProblemError, not_found
from hj1321.grading import WarningLevel
from hj1321.regions import parse_region
from tenants.context import Principal, Role
from tenants.ids import new_id

log = structlog.get_logger(__name__)
LEVEL_RANK: Final = {"none": 0, "yellow": 1, "orange": 2, "red": 3}
LEVEL_LABELS: Final = {
    "none": "无预警",
    "yellow": "黄色预警（Ⅲ级响应）",
    "orange": "橙色预警（Ⅱ级响应）",
    "red": "红色预警（Ⅰ级响应）",
}


@dataclass(frozen=True)
class LevelInForce:
    """The warning level a tenant's gates apply at a moment, and the alert behind it."""

    level: str
    alert: m.RegionAlert | None = None

    @property
    def label(self) -> str:
        """The Chinese name."""
        return LEVEL_LABELS[self.level]


async def alerts_for(session: AsyncSession, region_code: str, at: dt.datetime | None = None) -> list[m.RegionAlert]:
    """Alerts covering ``region_code`` that are in force at ``at`` (default now), highest level first."""
    moment = at or dt.datetime.now(dt.UTC)
    rows = await session.scalars(
        select(m.RegionAlert).where(
            text(":code LIKE region_alert.region_code || '%'").bindparams(code=region_code),
            m.RegionAlert.cancelled_at.is_(None),
            m.RegionAlert.starts_at <= moment,
            m.RegionAlert.ends_at > moment,
        )
    )
    return sorted(rows, key=lambda a: (-LEVEL_RANK[a.level], a.starts_at))


async def level_in_force(session: AsyncSession, region_code: str, at: dt.datetime | None = None) -> LevelInForce:
    """What the agents of a tenant in ``region_code`` should apply now (the hub sends it on connect)."""
    alerts = await alerts_for(session, region_code, at)
    return LevelInForce(alerts[0].level, alerts[0]) if alerts else LevelInForce("none")


async def tenants_in_region(database: Database, actor: Principal, region_code: str) -> list[tuple[uuid.UUID, str]]:
    """(tenant id, region code) of every tenant in the region: read through the regulator role's policy."""
    scope = Principal(user_id=actor.user_id, role=Role.REGULATOR, region_code=region_code, login=actor.login)
    async with database.session(scope) as session, session.begin():
        rows = await session.execute(select(m.Tenant.id, m.Tenant.region_code).order_by(m.Tenant.id))
        return [(tid, str(code)) for tid, code in rows]


async def all_tenants(database: Database, actor: Principal) -> list[uuid.UUID]:
    """Every tenant of the platform, province by province through the regulator role's policy (sorted)."""
    async with database.system_session("list provinces for a platform-wide job") as session, session.begin():
        provinces = list(await session.scalars(select(m.Region.code).where(m.Region.level == "province")))
    found: set[uuid.UUID] = set()
    for code in provinces:
        found.update(tenant for tenant, _ in await tenants_in_region(database, actor, code))
    return sorted(found)


@dataclass
class AlertOutcome:
    """What a declaration or a cancellation reached."""

    alert: m.RegionAlert
    tenants: list[uuid.UUID] = field(default_factory=list)
    agents_notified: int = 0


def _window_args(level: str, alert: m.RegionAlert) -> dict[str, push.ArgValue]:
    return {
        "level": level,
        "starts_at": alert.starts_at.astimezone(dt.UTC).isoformat(),
        "ends_at": alert.ends_at.astimezone(dt.UTC).isoformat(),
        "alert_id": str(alert.id),
        "region_code": alert.region_code,
    }


def _validate(
    region_code: str, level: str, starts_at: dt.datetime, ends_at: dt.datetime, reason: str
) -> tuple[str, str]:
    errors = FieldErrors()
    region = errors.check("region_code", parse_region, region_code)
    parsed = errors.check("level", WarningLevel.parse, level)
    if parsed is WarningLevel.NONE:
        errors.add("level", "level.none", "预警级别应为黄色、橙色或红色")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        errors.add("starts_at", "time.naive", "时间必须带时区")
    elif ends_at <= starts_at:
        errors.add("ends_at", "ends_at.before_start", "预警结束时间必须晚于开始时间")
    elif ends_at <= dt.datetime.now(dt.UTC):
        errors.add("ends_at", "ends_at.past", "预警结束时间已过")
    if not reason.strip():
        errors.add("reason", "reason.empty", "必须填写预警依据（如预警通知文号）")
    errors.raise_if_any()
    assert region is not None
    assert parsed is not None
    return region.code, parsed.value


async def declare(
    database: Database,
    actor: Principal,
    region_code: str,
    level: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str,
    source: str = "platform",
) -> AlertOutcome:
    """Declare a region alert, push it to every agent of every tenant of the region, record the responses.

    Raises:
        ProblemError: 422 for a bad region, level or window.
    """
    code, value = _validate(region_code, level, starts_at, ends_at, reason)
    tenants = await tenants_in_region(database, actor, code)
    alert_id = new_id()
    async with database.session(actor) as session, session.begin():
        await session.execute(
            select(func.declare_region_alert(alert_id, code, value, starts_at, ends_at, reason.strip()[:200], source))
        )
        alert = await session.get_one(m.RegionAlert, alert_id)
        for tenant_id, _ in tenants:  # NOTIFY is delivered when this transaction commits
            await push.notify_agents(session, tenant_id, "set_emergency_level", _window_args(value, alert))
    log.info("emergency.declared", alert_id=str(alert_id), region=code, level=value, tenants=len(tenants))
    outcome = AlertOutcome(alert, [t for t, _ in tenants])
    outcome.agents_notified = await _record(database, actor, alert, "declared", value, [t for t, _ in tenants])
    return outcome


async def _record(
    database: Database, actor: Principal, alert: m.RegionAlert, event: str, applied: str, tenants: Sequence[uuid.UUID]
) -> int:
    """Write each tenant's emergency-response record (idempotent per alert and event)."""
    notified = 0
    for tenant_id in tenants:
        scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
        async with database.session(scope) as session, session.begin():
            exists = await session.scalar(
                select(m.EmergencyResponse.id).where(
                    m.EmergencyResponse.alert_id == alert.id, m.EmergencyResponse.event == event
                )
            )
            if exists is not None:
                continue
            agents = await push.active_agents(session, tenant_id)
            notified += len(agents)
            row = m.EmergencyResponse(
                tenant_id=tenant_id,
                alert_id=alert.id,
                event=event,
                level=alert.level,
                region_code=alert.region_code,
                starts_at=alert.starts_at,
                ends_at=alert.cancelled_at if event == "cancelled" and alert.cancelled_at else alert.ends_at,
                reason=(alert.reason if event == "declared" else (alert.cancel_reason or ""))[:200],
                agents_notified=len(agents),
                created_by=actor.user_id,
            )
            session.add(row)
            await session.flush()
            audit.record(
                session,
                scope,
                f"emergency.{event}",
                "emergency_response",
                row.id,
                {"alert_id": str(alert.id), "level": alert.level, "applied_level": applied, "agents": len(agents)},
            )
    return notified


async def cancel(database: Database, actor: Principal, alert_id: uuid.UUID, reason: str) -> AlertOutcome:
    """End an alert early: agents fall back to the level still in force; responses record the end.

    Raises:
        ProblemError: 404 unknown alert, 409 already cancelled, 422 empty reason.
    """
    if not reason.strip():
        errors = FieldErrors()
        errors.add("reason", "reason.empty", "必须填写解除原因")
        errors.raise_if_any()
    async with database.session(actor) as session, session.begin():
        alert = await session.get(m.RegionAlert, alert_id)
        if alert is None:
            raise not_found("预警")
        done = await session.scalar(select(func.cancel_region_alert(alert_id, reason.strip()[:200])))
        if not done:
            raise ProblemError(409, "alert_cancelled", "预警已解除", "该预警已经解除")
    tenants = await tenants_in_region(database, actor, alert.region_code)
    async with database.session(actor) as session, session.begin():
        alert = await session.get_one(m.RegionAlert, alert_id, populate_existing=True)
        for tenant_id, region in tenants:
            now_level = await level_in_force(session, region)
            args = _window_args(now_level.level, now_level.alert or alert)
            if now_level.alert is None:
                args["starts_at"] = dt.datetime.now(dt.UTC).isoformat()
            await push.notify_agents(session, tenant_id, "set_emergency_level", args)
    outcome = AlertOutcome(alert, [t for t, _ in tenants])
    outcome.agents_notified = await _record(database, actor, alert, "cancelled", "none", outcome.tenants)
    return outcome


async def list_alerts(
    session: AsyncSession, region_prefix: str | None, limit: int, offset: int
) -> tuple[list[m.RegionAlert], int]:
    """Alerts, newest first; ``region_prefix`` keeps those covering or inside it."""
    query = select(m.RegionAlert)
    if region_prefix:
        query = query.where(
            text("(region_alert.region_code LIKE :p || '%' OR :p LIKE region_alert.region_code || '%')").bindparams(
                p=region_prefix
            )
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(m.RegionAlert.starts_at.desc(), m.RegionAlert.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


async def responses(session: AsyncSession, limit: int, offset: int) -> tuple[list[m.EmergencyResponse], int]:
    """The caller's tenant's emergency-response records (RLS), newest period first."""
    query = select(m.EmergencyResponse)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(m.EmergencyResponse.starts_at.desc(), m.EmergencyResponse.created_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total
