"""Ledger reports in the HJ 1321 layouts (REGULATION.md §1.4.2, §5): columns with Chinese headers, rows.

Every report type is one :class:`LedgerType`: its Chinese title, its columns (key + header) and a
fetch that returns one page of rows (values are text or whole numbers, exactly what the exports write)
and the total. Pass ledgers are chronological (``occurred_at``, then id).
"""

# SQL here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.domain.common import CHINA_TZ
from cloud.reports import facts, stats
from cloud.reports.periods import Period
from cloud.reports.service import Scope
from hj1321 import EmissionStage, FuelType, MachineKind, UseNature, VehicleType, WarningLevel
from hj1321.plates import PlateColour

Value = str | int | None
Row = dict[str, Value]
Fetch = Callable[[AsyncSession, Scope, Period, int, int], Awaitable[tuple[list[Row], int]]]


@dataclass(frozen=True)
class LedgerType:
    """One report layout."""

    code: str
    title: str
    columns: tuple[tuple[str, str], ...]
    fetch: Fetch


def _label(table: Any, code: str | None) -> str:
    if code is None or code == "":
        return ""
    try:
        return str(table.parse(code).label)
    except ValueError:
        return code


def _colour(code: str | None) -> str:
    try:
        return PlateColour(code).label if code else ""
    except ValueError:
        return code or ""


def china_time(at: dt.datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in China time."""
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _tonnes(kg: Any) -> str:
    return "" if kg is None else f"{stats.tonnes(kg):.3f}"


_DIRECTION = {"in": "进厂", "out": "出厂"}
_DECISION = {"allow": "放行", "refuse": "拦截"}
_TRIGGER = {"auto": "自动识别", "manual_release": "人工放行", "manual_entry": "人工录入"}
_CATEGORY = {"transport": "进出厂运输车辆", "in_plant": "厂内运输车辆", "nrmm": "非道路移动机械"}


#: Where a photo of a ledger row is fetched (JSON rows and CSV carry this link; Excel and PDF embed a thumbnail).
PHOTO_HREF = "/api/v1/blobs/{sha256}"
#: Columns whose value is a photo link (exports embed the photo instead of the text).
PHOTO_COLUMNS = frozenset({"photo"})


def photo_href(sha256: str | None) -> str:
    """The photo's link (empty without a photo); never the bare hash."""
    return PHOTO_HREF.format(sha256=sha256) if sha256 else ""


def photo_sha(value: object) -> str | None:
    """The blob hash inside a photo link made by :func:`photo_href` (None for anything else)."""
    prefix = PHOTO_HREF.split("{", 1)[0]
    if isinstance(value, str) and value.startswith(prefix):
        sha = value[len(prefix) :]
        if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
            return sha
    return None


def _network(code: str | None) -> str:
    from cloud.domain.vehicles import NETWORK_STATUSES  # noqa: PLC0415 - the vehicle ledger's labels

    return NETWORK_STATUSES.get(code or "", code or "")


def _reasons(codes: list[str] | None) -> str:
    return "、".join(stats.REASON_LABELS.get(c, c) for c in codes or [])


_PASS_PAGE = f"""
SELECT f.*, g.code AS gate_code, l.code AS lane_code,
       EXISTS (SELECT 1 FROM vehicle_document d WHERE d.tenant_id = :tenant_id AND d.vehicle_id = f.vehicle_id
               AND d.kind = 'driving_license') AS has_license
FROM ({facts.FACTS_SQL}) f
JOIN lane l ON l.tenant_id = :tenant_id AND l.id = f.lane_id
JOIN gate g ON g.tenant_id = :tenant_id AND g.id = l.gate_id
WHERE @WHERE@
ORDER BY f.occurred_at, f.id
LIMIT :limit OFFSET :offset
"""
_PASS_COUNT = f"SELECT count(*) FROM ({facts.FACTS_SQL}) f WHERE @WHERE@"


async def _passes(
    session: AsyncSession, scope: Scope, period: Period, limit: int, offset: int, where: str
) -> tuple[list[Any], int]:
    params = {"tenant_id": scope.tenant_id, "start": period.start, "end": period.end}
    total = int(await session.scalar(text(_PASS_COUNT.replace("@WHERE@", where)), params) or 0)
    rows = await session.execute(
        text(_PASS_PAGE.replace("@WHERE@", where)), {**params, "limit": limit, "offset": offset}
    )
    return list(rows), total


TRANSPORT_COLUMNS = (
    ("gate_code", "出入口编号"),
    ("lane_code", "道闸编号"),
    ("direction", "进出厂状态"),
    ("time", "进/出厂时间"),
    ("photo", "进/出厂照片"),
    ("plate", "车牌号码"),
    ("plate_colour", "号牌颜色"),
    ("vehicle_type", "车辆类型"),
    ("vin", "车辆识别代号(VIN)"),
    ("register_date", "注册登记日期"),
    ("brand_model", "车辆品牌型号"),
    ("engine_model", "发动机型号"),
    ("engine_maker", "发动机生产厂"),
    ("engine_no", "发动机编号"),
    ("fuel", "燃料类型"),
    ("stage", "排放阶段"),
    ("use_nature", "使用性质"),
    ("network_status", "联网状态"),
    ("env_list_no", "随车清单编号"),
    ("driving_license", "行驶证"),
    ("cargo", "运输货物名称"),
    ("tonnage", "运输量(吨)"),
    ("carrier", "车队名称"),
    ("decision", "放行/拦截"),
    ("trigger", "通行方式"),
    ("note", "拦截原因/放行说明"),
)


def _transport_row(r: Any) -> Row:
    note = _reasons(r.reason_codes) if r.decision == "refuse" else (r.manual_reason or "")
    return {
        "gate_code": r.gate_code,
        "lane_code": r.lane_code,
        "direction": _DIRECTION[r.direction],
        "time": china_time(r.occurred_at),
        "photo": photo_href(r.scene_sha256),
        "plate": r.plate,
        "plate_colour": _colour(r.plate_colour),
        "vehicle_type": _label(VehicleType, r.vehicle_type),
        "vin": r.vin or "",
        "register_date": r.register_date.isoformat() if r.register_date else "",
        "brand_model": r.brand_model or "",
        "engine_model": r.engine_model or "",
        "engine_maker": r.engine_maker or "",
        "engine_no": r.engine_no or "",
        "fuel": _label(FuelType, r.fuel),
        "stage": _label(EmissionStage, r.stage),
        "use_nature": _label(UseNature, r.use_nature),
        "network_status": _network(r.network_status),
        "env_list_no": r.env_list_no or "",
        "driving_license": "已上传" if r.has_license else "未上传",
        "cargo": r.cargo_name or "",
        "tonnage": _tonnes(r.net_kg),
        "carrier": r.carrier or "",
        "decision": _DECISION[r.decision],
        "trigger": _TRIGGER.get(r.trigger, r.trigger),
        "note": note,
    }


async def _transport(s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int) -> tuple[list[Row], int]:
    rows, total = await _passes(s, scope, period, limit, offset, facts.ROAD)
    return [_transport_row(r) for r in rows], total


INTERCEPTION_COLUMNS = (
    ("time", "拦截时间"),
    ("gate_code", "出入口编号"),
    ("lane_code", "道闸编号"),
    ("direction", "进出厂状态"),
    ("plate", "车牌号码"),
    ("plate_colour", "号牌颜色"),
    ("category", "车辆类别"),
    ("fuel", "燃料类型"),
    ("stage", "排放阶段"),
    ("reasons", "拦截原因"),
    ("emergency_level", "预警级别"),
    ("trigger", "通行方式"),
    ("photo", "抓拍照片"),
)


def _level(code: str) -> str:
    return _label(WarningLevel, code)


async def _interceptions(
    s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int
) -> tuple[list[Row], int]:
    rows, total = await _passes(s, scope, period, limit, offset, "f.decision = 'refuse'")
    return [
        {
            "time": china_time(r.occurred_at),
            "gate_code": r.gate_code,
            "lane_code": r.lane_code,
            "direction": _DIRECTION[r.direction],
            "plate": r.plate,
            "plate_colour": _colour(r.plate_colour),
            "category": _CATEGORY.get(r.category or "", "未登记车辆"),
            "fuel": _label(FuelType, r.fuel),
            "stage": _label(EmissionStage, r.stage),
            "reasons": _reasons(r.reason_codes) or stats.REASON_LABELS["unspecified"],
            "emergency_level": _level(r.emergency_level),
            "trigger": _TRIGGER.get(r.trigger, r.trigger),
            "photo": photo_href(r.scene_sha256),
        }
        for r in rows
    ], total


MANUAL_COLUMNS = (
    ("time", "放行时间"),
    ("gate_code", "出入口编号"),
    ("lane_code", "道闸编号"),
    ("direction", "进出厂状态"),
    ("plate", "车牌号码"),
    ("plate_colour", "号牌颜色"),
    ("category", "车辆类别"),
    ("stage", "排放阶段"),
    ("operator", "操作人"),
    ("reason", "放行原因"),
    ("emergency_level", "预警级别"),
    ("photo", "抓拍照片"),
)


async def _manual(s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int) -> tuple[list[Row], int]:
    rows, total = await _passes(s, scope, period, limit, offset, "f.trigger = 'manual_release'")
    return [
        {
            "time": china_time(r.occurred_at),
            "gate_code": r.gate_code,
            "lane_code": r.lane_code,
            "direction": _DIRECTION[r.direction],
            "plate": r.plate,
            "plate_colour": _colour(r.plate_colour),
            "category": _CATEGORY.get(r.category or "", "未登记车辆"),
            "stage": _label(EmissionStage, r.stage),
            "operator": r.operator or "",
            "reason": r.manual_reason or "",
            "emergency_level": _level(r.emergency_level),
            "photo": photo_href(r.scene_sha256),
        }
        for r in rows
    ], total


# Registers (one row per vehicle or machine, the version in force at the end of the period) ---------

_REGISTER = """
WITH vv AS (
    SELECT DISTINCT ON (v.vehicle_id) v.*
    FROM vehicle_version v
    WHERE v.tenant_id = :tenant_id AND v.category = :category AND v.created_at < :end
    ORDER BY v.vehicle_id, v.version DESC
), counts AS (
    SELECT p.vehicle_id, count(*) FILTER (WHERE p.direction = 'in')::int AS entries,
           count(*) FILTER (WHERE p.direction = 'out')::int AS exits
    FROM pass_event p
    WHERE p.tenant_id = :tenant_id AND p.occurred_at >= :start AND p.occurred_at < :end AND p.vehicle_id IS NOT NULL
    GROUP BY p.vehicle_id
)
SELECT vv.*, COALESCE(c.entries, 0) AS entries, COALESCE(c.exits, 0) AS exits,
       EXISTS (SELECT 1 FROM vehicle_document d WHERE d.tenant_id = :tenant_id AND d.vehicle_id = vv.vehicle_id
               AND d.kind = 'driving_license') AS has_license,
       EXISTS (SELECT 1 FROM vehicle_document d WHERE d.tenant_id = :tenant_id AND d.vehicle_id = vv.vehicle_id
               AND d.kind = 'engine_nameplate') AS has_engine_plate
FROM vv LEFT JOIN counts c ON c.vehicle_id = vv.vehicle_id
WHERE vv.status = 'active'
ORDER BY COALESCE(vv.env_reg_code, vv.internal_code, vv.plate, ''), vv.vehicle_id
"""


async def _register(s: AsyncSession, scope: Scope, period: Period, category: str) -> list[Any]:
    rows = await s.execute(
        text(_REGISTER), {"tenant_id": scope.tenant_id, "category": category, "start": period.start, "end": period.end}
    )
    return list(rows)


IN_PLANT_COLUMNS = (
    ("code", "环保登记编码/内部管理号牌"),
    ("vin", "车辆识别代号(VIN)"),
    ("production_date", "生产日期"),
    ("plate", "车牌号码"),
    ("register_date", "注册登记日期"),
    ("brand_model", "车辆品牌型号"),
    ("engine_model", "发动机型号"),
    ("engine_maker", "发动机生产厂"),
    ("engine_no", "发动机编号"),
    ("fuel", "燃料类型"),
    ("stage", "排放阶段"),
    ("env_list_no", "随车清单编号"),
    ("driving_license", "行驶证"),
    ("owner", "车辆所有人(单位)"),
    ("entries", "本期进厂次数"),
    ("exits", "本期出厂次数"),
)


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


async def _in_plant(s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int) -> tuple[list[Row], int]:
    rows = await _register(s, scope, period, "in_plant")
    return [
        {
            "code": r.env_reg_code or r.internal_code or "",
            "vin": r.vin or "",
            "production_date": _date(r.production_date),
            "plate": r.plate or "",
            "register_date": _date(r.register_date),
            "brand_model": r.brand_model or "",
            "engine_model": r.engine_model or "",
            "engine_maker": r.engine_maker or "",
            "engine_no": r.engine_no or "",
            "fuel": _label(FuelType, r.fuel_type),
            "stage": _label(EmissionStage, r.emission_stage),
            "env_list_no": r.env_list_no or "",
            "driving_license": "已上传" if r.has_license else "未上传",
            "owner": r.owner_name or "",
            "entries": r.entries,
            "exits": r.exits,
        }
        for r in rows[offset : offset + limit]
    ], len(rows)


NRMM_COLUMNS = (
    ("env_reg_code", "环保登记编码"),
    ("production_date", "生产日期"),
    ("plate", "环保号牌"),
    ("stage", "排放阶段"),
    ("fuel", "燃料类型"),
    ("machine_kind", "机械种类"),
    ("pin", "机械环保代码/产品识别码"),
    ("brand_model", "机械型号"),
    ("engine_model", "发动机型号"),
    ("engine_maker", "发动机生产厂"),
    ("engine_no", "发动机编号"),
    ("engine_plate", "发动机铭牌"),
    ("owner", "所属人(单位)"),
    ("entries", "本期进厂次数"),
    ("exits", "本期出厂次数"),
)


async def _nrmm(s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int) -> tuple[list[Row], int]:
    rows = await _register(s, scope, period, "nrmm")
    return [
        {
            "env_reg_code": r.env_reg_code or "",
            "production_date": _date(r.production_date),
            "plate": r.plate or "",
            "stage": _label(EmissionStage, r.emission_stage),
            "fuel": _label(FuelType, r.fuel_type),
            "machine_kind": _label(MachineKind, r.machine_kind),
            "pin": r.pin or "",
            "brand_model": r.brand_model or "",
            "engine_model": r.engine_model or "",
            "engine_maker": r.engine_maker or "",
            "engine_no": r.engine_no or "",
            "engine_plate": "已上传" if r.has_engine_plate else "未上传",
            "owner": r.owner_name or "",
            "entries": r.entries,
            "exits": r.exits,
        }
        for r in rows[offset : offset + limit]
    ], len(rows)


# Per-day tables built from the grouped facts ---------------------------------------------------------

_DAY_DIMS = ("day", "direction", "decision", "trigger", "category", "fuel", "stage", "heavy", "emergency_level")

DAILY_COLUMNS = (
    ("date", "日期"),
    ("entries", "进厂车次"),
    ("exits", "出厂车次"),
    ("refused", "拦截次数"),
    ("manual_releases", "人工放行次数"),
    ("trips", "运输车辆进厂车次"),
    ("heavy_trips", "重型货车车次"),
    ("nev_trips", "新能源车次"),
    ("cn6_trips", "国六车次"),
    ("cn5_trips", "国五车次"),
    ("cn4_or_below_trips", "国四及以下车次"),
    ("road_tonnage", "公路运输量(吨)"),
)


async def _daily(s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int) -> tuple[list[Row], int]:
    rows = await facts.cube(s, scope.tenant_id, period.first, period.last, _DAY_DIMS, raw_days=scope.raw_days)
    by_day: dict[dt.date, list[facts.CubeRow]] = defaultdict(list)
    for row in rows:
        assert row.day is not None
        by_day[row.day].append(row)
    out: list[Row] = []
    for i in range(period.days):
        day = period.first + dt.timedelta(days=i)
        part = by_day.get(day, [])
        trips = [r for r in part if stats.is_trip(r)]
        combustion = [r for r in trips if not stats.is_nev(r.fuel, r.stage)]
        out.append(
            {
                "date": day.isoformat(),
                "entries": sum(r.passes for r in part if r.direction == "in" and r.decision == "allow"),
                "exits": sum(r.passes for r in part if r.direction == "out" and r.decision == "allow"),
                "refused": sum(r.passes for r in part if r.decision == "refuse"),
                "manual_releases": sum(r.passes for r in part if r.trigger == "manual_release"),
                "trips": sum(r.passes for r in trips),
                "heavy_trips": sum(r.passes for r in trips if r.heavy),
                "nev_trips": sum(r.passes for r in trips if stats.is_nev(r.fuel, r.stage)),
                "cn6_trips": sum(r.passes for r in combustion if r.stage in stats.CN6_STAGES),
                "cn5_trips": sum(r.passes for r in combustion if r.stage == EmissionStage.CN5.code),
                "cn4_or_below_trips": sum(r.passes for r in combustion if not stats.is_compliant(r.fuel, r.stage)),
                "road_tonnage": _tonnes(sum((r.net_kg for r in part if stats.is_hauling(r)), start=0)),
            }
        )
    return out[offset : offset + limit], len(out)


EMERGENCY_COLUMNS = (
    ("date", "日期"),
    ("level", "预警级别"),
    ("entries", "进厂车次"),
    ("exits", "出厂车次"),
    ("refused", "拦截次数"),
    ("heavy_cn4_or_below_allowed", "放行国四及以下重型货车车次"),
    ("nrmm_cn2_or_below_allowed", "放行国二及以下非道路移动机械次数"),
    ("baseline_avg_entries", "非预警日日均进厂车次"),
    ("window", "响应时段"),
    ("basis", "预警依据"),
)

#: The tenant's alert periods overlapping ``[:start, :end)``: one row per alert (a cancellation ends it early).
_ALERT_PERIODS = """
SELECT COALESCE(r.alert_id, r.id) AS alert, max(r.level) AS level, min(r.starts_at) AS starts_at,
       COALESCE(min(r.ends_at) FILTER (WHERE r.event = 'cancelled'), max(r.ends_at)) AS ends_at,
       max(r.reason) FILTER (WHERE r.event = 'declared') AS reason
FROM emergency_response r
WHERE r.tenant_id = :tenant_id
GROUP BY COALESCE(r.alert_id, r.id)
HAVING min(r.starts_at) < :end
   AND COALESCE(min(r.ends_at) FILTER (WHERE r.event = 'cancelled'), max(r.ends_at)) > :start
"""


@dataclass(frozen=True)
class _AlertDay:
    """The part of one alert period that falls on one China day."""

    level: str
    window: str
    basis: str


async def _alert_days(s: AsyncSession, scope: Scope, period: Period) -> dict[tuple[dt.date, str], list[_AlertDay]]:
    """Alert periods of the tenant (issue 6 ``emergency_response``) split into China days of the period."""
    rows = await s.execute(
        text(_ALERT_PERIODS), {"tenant_id": scope.tenant_id, "start": period.start, "end": period.end}
    )
    out: dict[tuple[dt.date, str], list[_AlertDay]] = defaultdict(list)
    for row in rows:
        start = max(row.starts_at, period.start).astimezone(CHINA_TZ)
        end = min(row.ends_at, period.end).astimezone(CHINA_TZ)
        day = start.date()
        while dt.datetime.combine(day, dt.time(), CHINA_TZ) < end:
            day_start = dt.datetime.combine(day, dt.time(), CHINA_TZ)
            day_end = day_start + dt.timedelta(days=1)
            lo, hi = max(start, day_start), min(end, day_end)
            window = f"{lo:%H:%M}–{'24:00' if hi == day_end else f'{hi:%H:%M}'}"
            out[(day, row.level)].append(_AlertDay(row.level, window, row.reason or ""))
            day += dt.timedelta(days=1)
    return out


def _violates_heavy(row: facts.CubeRow) -> bool:
    return bool(
        row.heavy
        and stats.is_road(row.category)
        and row.direction == "in"
        and row.decision == "allow"
        and not stats.is_compliant(row.fuel, row.stage)
    )


def _violates_nrmm(row: facts.CubeRow) -> bool:
    if row.category != "nrmm" or row.decision != "allow" or stats.is_nev(row.fuel, row.stage):
        return False
    try:
        return row.stage is None or EmissionStage.parse(row.stage).at_most(EmissionStage.CN2)
    except ValueError:
        return True


async def _emergency(s: AsyncSession, scope: Scope, period: Period, limit: int, offset: int) -> tuple[list[Row], int]:
    """Response records per China day and warning level.

    A day and level get a record when an alert period of the tenant (``emergency_response``, issue 6)
    covers part of the day, or when passes were recorded under that level (the agent's level in force,
    which may come from a regional platform); an alert day without traffic still has its record, with
    zeros. The window and basis columns come from the alert periods.
    """
    rows = await facts.cube(s, scope.tenant_id, period.first, period.last, _DAY_DIMS, raw_days=scope.raw_days)
    alerts = await _alert_days(s, scope, period)
    groups: dict[tuple[dt.date, str], list[facts.CubeRow]] = defaultdict(list)
    normal_entries: dict[dt.date, int] = defaultdict(int)
    alert_days: set[dt.date] = {day for day, _ in alerts}
    for row in rows:
        assert row.day is not None
        assert row.emergency_level is not None
        if row.emergency_level != WarningLevel.NONE.value:
            groups[(row.day, row.emergency_level)].append(row)
            alert_days.add(row.day)
    for key in alerts:
        groups.setdefault(key, [])
    for row in rows:
        assert row.day is not None
        if row.day not in alert_days and row.direction == "in" and row.decision == "allow":
            normal_entries[row.day] += row.passes
    from cloud.reports.periods import china_today  # noqa: PLC0415 - avoid a cycle at import time

    elapsed = {period.first + dt.timedelta(days=i) for i in range(period.elapsed_days(china_today()))}
    normal_days = elapsed - alert_days
    baseline = stats.average(sum(normal_entries[d] for d in normal_days), len(normal_days))

    def rank(level: str) -> int:
        try:
            return WarningLevel.parse(level).rank
        except ValueError:
            return 0

    out: list[Row] = []
    for (day, level), part in sorted(groups.items(), key=lambda kv: (kv[0][0], -rank(kv[0][1]))):
        periods = alerts.get((day, level), [])
        out.append(
            {
                "date": day.isoformat(),
                "level": _level(level),
                "entries": sum(r.passes for r in part if r.direction == "in" and r.decision == "allow"),
                "exits": sum(r.passes for r in part if r.direction == "out" and r.decision == "allow"),
                "refused": sum(r.passes for r in part if r.decision == "refuse"),
                "heavy_cn4_or_below_allowed": sum(r.passes for r in part if _violates_heavy(r)),
                "nrmm_cn2_or_below_allowed": sum(r.passes for r in part if _violates_nrmm(r)),
                "baseline_avg_entries": "" if baseline is None else f"{baseline:.2f}",
                "window": "、".join(a.window for a in periods) or "按门禁记录的预警级别",
                "basis": "；".join(dict.fromkeys(a.basis for a in periods if a.basis)),
            }
        )
    return out[offset : offset + limit], len(out)


LEDGERS: dict[str, LedgerType] = {
    t.code: t
    for t in (
        LedgerType("transport_passes", "进出厂运输车辆台账", TRANSPORT_COLUMNS, _transport),
        LedgerType("in_plant_vehicles", "厂内运输车辆台账", IN_PLANT_COLUMNS, _in_plant),
        LedgerType("nrmm", "非道路移动机械台账", NRMM_COLUMNS, _nrmm),
        LedgerType("emergency_responses", "重污染天气应急响应记录", EMERGENCY_COLUMNS, _emergency),
        LedgerType("interceptions", "拦截记录", INTERCEPTION_COLUMNS, _interceptions),
        LedgerType("manual_releases", "人工放行记录", MANUAL_COLUMNS, _manual),
        LedgerType("daily_statistics", "门禁日统计表", DAILY_COLUMNS, _daily),
    )
}
REPORT_TYPES = tuple(LEDGERS)
