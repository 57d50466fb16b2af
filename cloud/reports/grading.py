"""The grading dashboard: each transport-related A/B indicator the ledger evidences (REGULATION.md §4.1–4.2).

Every indicator has a value, the threshold for the target grade, pass/fail and a link to the records
that pull it down (``…/grading/{code}/records``). Thresholds are [I] from the cement example (§4.2)
and the clean-transport rules (§4.1); the clean-ratio, completeness and upload thresholds are tenant
settings.
"""

# SQL here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.reports import facts, stats
from cloud.reports.ledgers import china_time
from cloud.reports.periods import Period
from cloud.reports.service import Scope, clean_transport, open_flags, upload_status
from cloud.uplink import states as uplink_states
from hj1321 import EmissionStage, PerformanceGrade

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Indicator:
    """One indicator's definition."""

    code: str
    name: str
    unit: str
    comparison: str  # ">=" or "<="
    threshold: Callable[[Scope, str], Decimal | None]  # None: not required for that grade


def _clean_threshold(scope: Scope, grade: str) -> Decimal | None:
    return scope.settings.clean_ratio_threshold if grade in {"A", "leading"} else None


def _road_threshold(_scope: Scope, grade: str) -> Decimal | None:
    return {"leading": _HUNDRED, "A": _HUNDRED, "B": Decimal(80), "B-": Decimal(80), "C": Decimal(50)}.get(grade)


def _all_ab(_scope: Scope, grade: str) -> Decimal | None:
    return _HUNDRED if grade in {"leading", "A", "B", "B-"} else None


def _completeness(scope: Scope, grade: str) -> Decimal | None:
    return scope.settings.completeness_threshold if grade in {"leading", "A", "B", "B-"} else None


def _upload(scope: Scope, grade: str) -> Decimal | None:
    return scope.settings.upload_rate_threshold if grade in {"leading", "A", "B", "B-"} else None


def _zero(_scope: Scope, grade: str) -> Decimal | None:
    return Decimal(0) if grade in {"leading", "A", "B", "B-"} else None


INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        Indicator("clean_transport_ratio", "清洁运输比例(按运输量)", "%", ">=", _clean_threshold),
        Indicator("road_heavy_stage", "公路运输重型货车国五及以上或新能源占比", "%", ">=", _road_threshold),
        Indicator("in_plant_stage", "厂内运输车辆国五及以上或新能源占比", "%", ">=", _all_ab),
        Indicator("nrmm_stage", "非道路移动机械国三及以上或新能源占比", "%", ">=", _all_ab),
        Indicator("ledger_completeness", "电子台账数据完整率", "%", ">=", _completeness),
        Indicator("upload_rate", "数据上传率", "%", ">=", _upload),
        Indicator("manual_release_reasons", "人工放行记录原因填写率", "%", ">=", _all_ab),
        Indicator("open_flags", "未处理异常记录数", "条", "<=", _zero),
    )
}


def _register_sql(category: str, compliant: str) -> str:
    return f"""
WITH vv AS (
    SELECT DISTINCT ON (v.vehicle_id) v.*
    FROM vehicle_version v
    WHERE v.tenant_id = :tenant_id AND v.category = '{category}' AND v.created_at < :end
    ORDER BY v.vehicle_id, v.version DESC
)
SELECT vv.vehicle_id, vv.env_reg_code, vv.internal_code, vv.plate, vv.emission_stage, vv.fuel_type,
       ({compliant}) AS compliant
FROM vv WHERE vv.status = 'active'
ORDER BY vv.vehicle_id
"""


_IN_PLANT_SQL = _register_sql(
    "in_plant", "vv.emission_stage IN ('5', '6', '7', 'D') OR vv.fuel_type IN ('C', 'N', 'P')"
)
_NRMM_SQL = _register_sql(
    "nrmm", "vv.emission_stage IN ('3', '4', '5', '6', '7', 'D') OR vv.fuel_type IN ('C', 'N', 'P')"
)


async def _register(session: AsyncSession, scope: Scope, period: Period, sql: str) -> list[Any]:
    return list(await session.execute(text(sql), {"tenant_id": scope.tenant_id, "end": period.end}))


def _result(
    ind: Indicator,
    scope: Scope,
    grade: str,
    value: Decimal | None,
    numerator: int | Decimal,
    denominator: int | Decimal,
) -> dict[str, Any]:
    threshold = ind.threshold(scope, grade)
    passed: bool | None
    if value is None or threshold is None:
        passed = None
    else:
        passed = value >= threshold if ind.comparison == ">=" else value <= threshold
    return {
        "code": ind.code,
        "name": ind.name,
        "unit": ind.unit,
        "value": value,
        "numerator": numerator,
        "denominator": denominator,
        "comparison": ind.comparison,
        "threshold": threshold,
        "required": threshold is not None,
        "passed": passed,
        "status": "no_data"
        if value is None
        else ("not_required" if threshold is None else ("pass" if passed else "fail")),
    }


async def dashboard(session: AsyncSession, scope: Scope, period: Period, grade: str | None) -> dict[str, Any]:
    """Every indicator for the target ``grade`` (default: the enterprise's grade)."""
    target = PerformanceGrade.parse(grade or scope.grade).value
    clean = await clean_transport(session, scope, period)
    rows = await facts.cube(
        session,
        scope.tenant_id,
        period.first,
        period.last,
        ("direction", "decision", "trigger", "category", "fuel", "stage", "heavy"),
        raw_days=scope.raw_days,
    )
    heavy_trips = [r for r in rows if stats.is_trip(r) and r.heavy]
    heavy_total = sum(r.passes for r in heavy_trips)
    heavy_ok = sum(r.passes for r in heavy_trips if stats.is_compliant(r.fuel, r.stage))
    in_plant = await _register(session, scope, period, _IN_PLANT_SQL)
    nrmm = await _register(session, scope, period, _NRMM_SQL)
    upload = await upload_status(session, scope.tenant_id, period, platform_visible=not scope.regulator)
    quality = stats.data_quality(rows, await open_flags(session, scope.tenant_id, period), upload)
    ind = INDICATORS
    items = [
        _result(
            ind["clean_transport_ratio"],
            scope,
            target,
            clean["ratio_by_tonnage"],
            clean["clean_tonnage_t"],
            clean["total_tonnage_t"],
        ),
        _result(ind["road_heavy_stage"], scope, target, stats.percent(heavy_ok, heavy_total), heavy_ok, heavy_total),
        _result(
            ind["in_plant_stage"],
            scope,
            target,
            stats.percent(sum(1 for r in in_plant if r.compliant), len(in_plant)),
            sum(1 for r in in_plant if r.compliant),
            len(in_plant),
        ),
        _result(
            ind["nrmm_stage"],
            scope,
            target,
            stats.percent(sum(1 for r in nrmm if r.compliant), len(nrmm)),
            sum(1 for r in nrmm if r.compliant),
            len(nrmm),
        ),
        _result(
            ind["ledger_completeness"], scope, target, quality["completeness"], quality["complete"], quality["passes"]
        ),
        _result(
            ind["upload_rate"],
            scope,
            target,
            None if upload is None else upload.get("rate"),
            0 if upload is None else upload.get("accepted", 0),
            0 if upload is None else upload.get("expected", 0),
        ),
        _result(
            ind["manual_release_reasons"],
            scope,
            target,
            stats.percent(quality["manual_releases_with_reason"], quality["manual_releases"]),
            quality["manual_releases_with_reason"],
            quality["manual_releases"],
        ),
        _result(
            ind["open_flags"],
            scope,
            target,
            Decimal(quality["flagged_open"]),
            quality["flagged_open"],
            quality["passes"],
        ),
    ]
    for item in items:
        item["records_href"] = f"/api/v1/enterprises/{scope.tenant_id}/reports/grading/{item['code']}/records"
    return {"grade": target, "grade_label": PerformanceGrade.parse(target).label, "indicators": items}


# The records behind each indicator: those that pull it down ---------------------------------------

_PASS_WHERE = {
    "clean_transport_ratio": None,  # set below: depends on the tenant's clean modes
    "road_heavy_stage": (
        f"f.direction = 'in' AND f.decision = 'allow' AND {facts.ROAD} AND COALESCE(f.heavy, false) "
        f"AND NOT {facts.STAGE_AT_LEAST_5}"
    ),
    "ledger_completeness": f"NOT {facts.COMPLETE}",
    "manual_release_reasons": f"f.trigger = 'manual_release' AND NOT {facts.MANUAL_WITH_REASON}",
}


def _clean_where(scope: Scope) -> str:
    clean = set(scope.settings.clean_modes)
    conditions = [f"f.decision = 'allow' AND {facts.ROAD} AND f.net_kg IS NOT NULL"]
    if "nev_truck" in clean:
        conditions.append(f"NOT {facts.NEV}")
    if "cn6_truck" in clean:
        conditions.append(f"NOT (COALESCE(f.stage IN ('6', '7'), false) AND NOT {facts.NEV})")
    return " AND ".join(conditions)


async def records(
    session: AsyncSession, scope: Scope, period: Period, code: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The records that pull ``code`` down, oldest first (passes, or vehicles for the registers)."""
    if code in {"in_plant_stage", "nrmm_stage"}:
        rows = [
            r
            for r in await _register(session, scope, period, _IN_PLANT_SQL if code == "in_plant_stage" else _NRMM_SQL)
            if not r.compliant
        ]
        return [
            {
                "kind": "vehicle",
                "id": r.vehicle_id,
                "href": f"/api/v1/vehicles/{r.vehicle_id}",
                "label": r.env_reg_code or r.internal_code or r.plate or "",
                "emission_stage": r.emission_stage,
                "fuel_type": r.fuel_type,
            }
            for r in rows[offset : offset + limit]
        ], len(rows)
    if code == "upload_rate":
        return await _not_uploaded(session, scope, period, limit, offset)
    if code == "open_flags":
        return await _open_flags(session, scope, period, limit, offset)
    where = _clean_where(scope) if code == "clean_transport_ratio" else _PASS_WHERE[code]
    assert where is not None
    params: dict[str, Any] = {"tenant_id": scope.tenant_id, "start": period.start, "end": period.end}
    total = int(await session.scalar(text(f"SELECT count(*) FROM ({facts.FACTS_SQL}) f WHERE {where}"), params) or 0)
    page = await session.execute(
        text(
            f"SELECT f.id, f.occurred_at, f.plate, f.direction, f.stage, f.fuel, f.net_kg "
            f"FROM ({facts.FACTS_SQL}) f WHERE {where} ORDER BY f.occurred_at, f.id LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    )
    return [
        {
            "kind": "pass",
            "id": r.id,
            "href": f"/api/v1/passes/{r.id}",
            "label": f"{china_time(r.occurred_at)} {r.plate}",
            "emission_stage": r.stage,
            "fuel_type": r.fuel,
        }
        for r in page
    ], total


async def _open_flags(
    session: AsyncSession, scope: Scope, period: Period, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The open flags of the period (the one definition, cloud.compliance.flags), oldest record first."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from cloud.compliance import flags  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415

    stamp = flags.record_time()
    where = (
        m.CheckFlag.tenant_id == scope.tenant_id,
        flags.open_condition(),
        stamp >= period.start,
        stamp < period.end,
    )
    total = int(await session.scalar(select(func.count()).select_from(m.CheckFlag).where(*where)) or 0)
    rows = await session.scalars(
        select(m.CheckFlag).where(*where).order_by(stamp, m.CheckFlag.id).limit(limit).offset(offset)
    )
    out = []
    for flag in rows:
        when = flag.occurred_at or flag.created_at
        out.append(
            {
                "kind": "flag",
                "id": flag.id,
                "href": f"/api/v1/passes/{flag.pass_event_id}"
                if flag.pass_event_id
                else f"/api/v1/vehicles/{flag.vehicle_id}",
                "label": f"{china_time(when)} {flag.plate or ''} {flags.anomaly_label(flag.code)}".strip(),
                "code": flag.code,
                "title": flags.anomaly_label(flag.code),
                "message": flag.message,
                "pass_event_id": flag.pass_event_id,
                "vehicle_id": flag.vehicle_id,
            }
        )
    return out, total


def stage_label(code: str | None) -> str:
    """Chinese name of a stage code (empty when unknown)."""
    try:
        return EmissionStage.parse(code).label if code else ""
    except ValueError:
        return code or ""


async def _not_uploaded(
    session: AsyncSession, scope: Scope, period: Period, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The records behind a missed upload rate: queued for the platform and not held by it."""
    params: dict[str, Any] = {"tenant_id": scope.tenant_id, "start": period.start, "end": period.end}
    where = (  # not held by the platform (cloud/uplink/states.py)
        "o.tenant_id = :tenant_id AND o.occurred_at >= :start AND o.occurred_at < :end "
        "AND o.state IN ('pending', 'rejected')"
    )
    total = int(await session.scalar(text(f"SELECT count(*) FROM uplink_outbox o WHERE {where}"), params) or 0)
    rows = await session.execute(
        text(
            "SELECT o.id, o.occurred_at, e.plate, o.state, o.attempts, o.last_message FROM uplink_outbox o "
            f"JOIN pass_event e ON e.tenant_id = o.tenant_id AND e.id = o.id WHERE {where} "
            "ORDER BY o.occurred_at, o.id LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    )
    states = uplink_states.LABELS
    return [
        {
            "id": r.id,
            "href": f"/api/v1/passes/{r.id}",
            "label": r.plate,
            "occurred_at": r.occurred_at,
            "state": states.get(r.state, r.state),
            "attempts": r.attempts,
            "platform_message": r.last_message or "",
        }
        for r in rows
    ], total
