"""Report services: the enterprise a report is about, aggregates kept fresh, statistics, charts, settings.

Who may read what: an enterprise's users read their own enterprise; a regulator reads every
enterprise of its region (its own pool and RLS policy). The enterprise is named in the path
(``/enterprises/{tenant_id}/reports/…``) so a regulator's request says which one; an enterprise user
naming another enterprise gets 404, as for any object that is not theirs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.db.engine import REPLICA
from cloud.domain import audit
from cloud.lib.problems import FieldError, ProblemError, not_found
from cloud.reports import facts, stats
from cloud.reports.periods import Period, china_today
from cloud.reports.settings import ALL_MODES, ReportSettings, read_settings
from tenants.context import Principal

CORE = facts.GRAINS[0].dims
#: The core grain without the day: every statistic of a period but the daily averages (a year: ~100 rows, not
#: one row per day and group — fetching those rows was most of a year's report).
PERIOD = tuple(d for d in CORE if d != "day")
#: What the daily averages need per day (entries and exits, heavy-pollution days).
DAILY = ("day", "direction", "decision", "emergency_level")
CARRIER = ("direction", "decision", "category", "fuel", "stage", "heavy", "carrier")


@dataclass(frozen=True)
class Scope:
    """The enterprise a report is about, its settings, and which days must be computed from raw passes."""

    tenant_id: uuid.UUID
    name: str
    uscc: str
    industry: str
    grade: str
    settings: ReportSettings
    raw_days: list[dt.date] | None  # None: every day raw (aggregates never built and not writable)
    regulator: bool = False  # read through the regulator role (which may not read uplink_platform)


async def open_scope(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID) -> Scope:
    """Resolve the enterprise (404 when not visible) and bring its aggregates up to date.

    Writers' sessions rebuild stale days in place; a regulator (read-only pool) and a session on the
    streaming replica (``cloud.reports.reading``) read them raw instead.
    """
    if not principal.is_regulator and principal.tenant_id != tenant_id:
        raise not_found("企业")
    tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
    if tenant is None:
        raise not_found("企业")
    if principal.is_regulator or session.info.get(REPLICA):  # read-only sessions (the replica too)
        raw_days, _ = await facts.dirty_days(session, tenant_id)
    else:
        await facts.refresh(session, tenant_id)
        raw_days = []
    return Scope(
        tenant.id,
        tenant.name,
        tenant.uscc,
        tenant.industry,
        tenant.grade,
        read_settings(tenant.industry, dict(tenant.settings or {})),
        raw_days,
        principal.is_regulator,
    )


async def non_road(session: AsyncSession, tenant_id: uuid.UUID, period: Period) -> list[stats.NonRoadRow]:
    """Effective non-road transport (not superseded, not voided) of the period by mode and direction."""
    rows = await session.execute(
        text(
            "SELECT n.mode, n.direction, sum(n.tonnage_t), sum(n.trips)::int FROM non_road_transport n "
            "WHERE n.tenant_id = :t AND n.day >= :first AND n.day <= :last AND NOT n.voided AND NOT EXISTS "
            "(SELECT 1 FROM non_road_transport s WHERE s.tenant_id = n.tenant_id AND s.supersedes_id = n.id) "
            "GROUP BY n.mode, n.direction"
        ),
        {"t": tenant_id, "first": period.first, "last": period.last},
    )
    return [stats.NonRoadRow(mode, direction, Decimal(t), int(n)) for mode, direction, t, n in rows]


async def open_flags(session: AsyncSession, tenant_id: uuid.UUID, period: Period) -> int:
    """Open flags of the period: the one definition, :func:`cloud.compliance.flags.count_open` (docs/reports.md)."""
    from cloud.compliance import flags  # noqa: PLC0415 - reports read the review queue, nothing more

    return await flags.count_open(session, tenant_id, period.start, period.end)


async def upload_status(
    session: AsyncSession, tenant_id: uuid.UUID, period: Period, *, platform_visible: bool = True
) -> dict[str, Any] | None:
    """Upload KPIs of the period's records (issue 8 outbox, cloud/uplink); None without a platform.

    ``rate`` = records the platform holds / records queued for it (``accepted`` / ``expected``).
    """
    from cloud.uplink import outbox  # noqa: PLC0415 - reports read the uplink's tables, nothing more

    status = await outbox.upload_status(session, tenant_id, period.start, period.end, platform_visible=platform_visible)
    if status is None:
        return None
    rate = status["upload_rate"]
    return {
        **status,
        "rate": None if rate is None else Decimal(rate),
        "accepted": status["delivered"],
        "expected": status["total"],
    }


async def statistics(session: AsyncSession, scope: Scope, period: Period) -> dict[str, Any]:
    """Every statistic of the period (definitions in cloud.reports.stats and docs/reports.md)."""
    rows = await facts.cube(session, scope.tenant_id, period.first, period.last, PERIOD, raw_days=scope.raw_days)
    days = await facts.cube(session, scope.tenant_id, period.first, period.last, DAILY, raw_days=scope.raw_days)
    hours = await facts.cube(session, scope.tenant_id, period.first, period.last, ("hour",), raw_days=scope.raw_days)
    carriers = await facts.cube(
        session, scope.tenant_id, period.first, period.last, CARRIER, raw_days=scope.raw_days, classes=True
    )
    reasons = await facts.reasons(session, scope.tenant_id, period.first, period.last, raw_days=scope.raw_days)
    nr = await non_road(session, scope.tenant_id, period)
    today = china_today()
    elapsed = [period.first + dt.timedelta(days=i) for i in range(period.elapsed_days(today))]
    total = stats.totals(rows)
    return {
        "totals": total,
        "clean_transport": stats.clean_transport(rows, nr, scope.settings),
        "emission_stage_mix": stats.mix(rows, "stage"),
        "fuel_mix": stats.mix(rows, "fuel"),
        "daily_average": stats.daily_average(days, elapsed),
        "hours": stats.hourly(hours),
        "interceptions": stats.interceptions(reasons, total["refused"]),
        "carriers": stats.carriers(carriers),
        "data_quality": stats.data_quality(
            rows,
            await open_flags(session, scope.tenant_id, period),
            await upload_status(session, scope.tenant_id, period, platform_visible=not scope.regulator),
        ),
    }


async def clean_transport(session: AsyncSession, scope: Scope, period: Period) -> dict[str, Any]:
    """The clean-transport ratio alone (grouped on the few dimensions it needs: fast over a year)."""
    rows = await facts.cube(
        session,
        scope.tenant_id,
        period.first,
        period.last,
        ("direction", "decision", "category", "fuel", "stage"),
        raw_days=scope.raw_days,
    )
    return stats.clean_transport(rows, await non_road(session, scope.tenant_id, period), scope.settings)


async def time_series(session: AsyncSession, scope: Scope, period: Period, granularity: str) -> list[dict[str, Any]]:
    """Per day or month: entries, exits, refused, trips, road tonnage, NEV and compliant trips, clean ratio."""
    rows = await facts.cube(
        session,
        scope.tenant_id,
        period.first,
        period.last,
        ("day", "direction", "decision", "category", "fuel", "stage"),
        raw_days=scope.raw_days,
        by_month=granularity != "day",
    )
    nr_rows = await session.execute(
        text(
            "SELECT n.day, n.mode, n.direction, n.tonnage_t, n.trips FROM non_road_transport n "
            "WHERE n.tenant_id = :t AND n.day >= :first AND n.day <= :last AND NOT n.voided AND NOT EXISTS "
            "(SELECT 1 FROM non_road_transport s WHERE s.tenant_id = n.tenant_id AND s.supersedes_id = n.id)"
        ),
        {"t": scope.tenant_id, "first": period.first, "last": period.last},
    )

    def bucket(day: dt.date) -> str:
        return day.isoformat() if granularity == "day" else day.isoformat()[:7]

    keys: list[str] = []
    day = period.first
    while day <= period.last:
        if not keys or keys[-1] != bucket(day):
            keys.append(bucket(day))
        day += dt.timedelta(days=1)
    by_key: dict[str, list[facts.CubeRow]] = {k: [] for k in keys}
    for row in rows:
        assert row.day is not None
        by_key[bucket(row.day)].append(row)
    nr_by_key: dict[str, list[stats.NonRoadRow]] = {k: [] for k in keys}
    for d, mode, direction, tonnage, trips in nr_rows:
        nr_by_key[bucket(d)].append(stats.NonRoadRow(mode, direction, Decimal(tonnage), int(trips)))
    out = []
    for key in keys:
        part = by_key[key]
        clean = stats.clean_transport(part, nr_by_key[key], scope.settings)
        total = stats.totals(part)
        trips = [r for r in part if stats.is_trip(r)]
        out.append(
            {
                "period": key,
                "entries": sum(r.passes for r in part if r.direction == "in" and r.decision == "allow"),
                "exits": sum(r.passes for r in part if r.direction == "out" and r.decision == "allow"),
                "refused": total["refused"],
                "trips": sum(r.passes for r in trips),
                "nev_trips": sum(r.passes for r in trips if stats.is_nev(r.fuel, r.stage)),
                "compliant_trips": sum(r.passes for r in trips if stats.is_compliant(r.fuel, r.stage)),
                "road_tonnage_t": clean["road_tonnage_t"],
                "total_tonnage_t": clean["total_tonnage_t"],
                "clean_ratio_by_tonnage": clean["ratio_by_tonnage"],
            }
        )
    return out


MIX_DIMENSIONS = ("emission_stage", "fuel", "direction", "decision", "trigger", "category", "carrier", "hour")


async def mix(session: AsyncSession, scope: Scope, period: Period, dimension: str) -> dict[str, Any]:
    """One mix for a chart: emission stage / fuel (road trips), or passes by another dimension."""
    if dimension in ("emission_stage", "fuel"):
        rows = await facts.cube(
            session,
            scope.tenant_id,
            period.first,
            period.last,
            ("direction", "decision", "category", "fuel", "stage"),
            raw_days=scope.raw_days,
        )
        return {"dimension": dimension, "items": stats.mix(rows, "stage" if dimension == "emission_stage" else "fuel")}
    if dimension == "carrier":
        rows = await facts.cube(
            session,
            scope.tenant_id,
            period.first,
            period.last,
            ("direction", "decision", "category", "fuel", "stage", "heavy", "carrier"),
            raw_days=scope.raw_days,
        )
        return {"dimension": dimension, "items": stats.carriers(rows)}
    if dimension == "hour":
        rows = await facts.cube(session, scope.tenant_id, period.first, period.last, ("hour",), raw_days=scope.raw_days)
        return {"dimension": dimension, "items": stats.hourly(rows)["by_hour"]}
    rows = await facts.cube(session, scope.tenant_id, period.first, period.last, (dimension,), raw_days=scope.raw_days)
    labels = _DIMENSION_LABELS.get(dimension, {})
    counts: dict[str, int] = {}
    for row in rows:
        value = getattr(row, dimension)
        counts[value or ""] = counts.get(value or "", 0) + row.passes
    total = sum(counts.values())
    return {
        "dimension": dimension,
        "items": [
            {"code": k or None, "label": labels.get(k, k or "未知"), "passes": v, "share": stats.percent(v, total)}
            for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


_DIMENSION_LABELS = {
    "direction": {"in": "进厂", "out": "出厂"},
    "decision": {"allow": "放行", "refuse": "拦截"},
    "trigger": {"auto": "自动识别", "manual_release": "人工放行", "manual_entry": "人工录入"},
    "category": {"transport": "进出厂运输车辆", "in_plant": "厂内运输车辆", "nrmm": "非道路移动机械", "": "未登记车辆"},
}


async def update_settings(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, changes: dict[str, Any]
) -> ReportSettings:
    """Change the enterprise's report settings (validated, audited); returns the settings in force."""
    errors: list[FieldError] = []
    modes = changes.get("clean_modes")
    if modes is not None and any(mode not in ALL_MODES for mode in modes):
        errors.append(FieldError(field="clean_modes", code="clean_modes.unknown", message="包含未知的运输方式"))
    if errors:
        raise ProblemError(422, "validation_failed", "数据校验未通过", errors[0].message, errors)
    tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
    if tenant is None:
        raise not_found("企业")
    stored = dict(tenant.settings or {})
    current = read_settings(tenant.industry, stored).as_dict()
    current |= {k: (str(v) if isinstance(v, Decimal) else v) for k, v in changes.items() if v is not None}
    stored["reports"] = current
    tenant.settings = stored
    await session.flush()
    audit.record(
        session, principal, "report.settings_updated", "tenant", tenant_id, {k: str(v) for k, v in changes.items()}
    )
    return read_settings(tenant.industry, stored)
