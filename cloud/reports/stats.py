"""Statistics over grouped pass facts: pure functions, one per figure, with the definitions in docs/reports.md.

Definitions shared by every figure:

* a **road transport** pass is one of a 进出厂运输车辆 or of a vehicle not in the ledger (category
  unknown); in-plant vehicles and machines never count as transport;
* a **trip** (车次) is an allowed entry (``direction = in``, ``decision = allow``) of road transport;
* **tonnage** is the net weight of allowed road-transport passes in either direction (the agent puts
  the trip's net on the pass that completed the weighing), in tonnes;
* **new energy** (NEV) = fuel 电/太阳能/氢 or stage 电动; **compliant** = stage ≥ 国五 or NEV;
* percentages are ``numerator × 100 / denominator`` rounded half-up to 2 decimals; None when the
  denominator is 0.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cloud.reports.facts import CubeRow
from cloud.reports.settings import MODE_LABELS, ReportSettings
from hj1321 import EmissionStage, FuelType, WarningLevel

NEV_FUELS = frozenset(f.code for f in FuelType if f.is_new_energy)
CN6_STAGES = frozenset({EmissionStage.CN6.code, EmissionStage.CN7.code})
UNKNOWN_CARRIER = "未登记车队"
REASON_LABELS = {
    "blacklisted": "黑名单车辆",
    "a_grade_stage": "A级企业排放阶段不达标",
    "emergency_heavy_stage": "应急期间重型货车排放阶段不达标",
    "emergency_nrmm_stage": "应急期间非道路移动机械排放阶段不达标",
    "emergency_stop_road": "应急期间停止公路运输",
    "emergency_gas_stage": "应急期间燃气货车排放阶段不达标",
    "stage_below_level_minimum": "低于预警级别最低排放阶段",
    "unregistered": "未登记车辆",
    # the refusal codes of the agent's decision engine beside its policy rules (agent/decision/engine.py)
    "unknown_vehicle": "未登记车辆",
    "registry_inactive": "车辆台账已停用或过期",
    "daily_cap_reached": "重型货车进厂车次已达应急限额",
    "plate_unreadable": "未识别到车牌",
    "low_confidence": "车牌识别置信度过低",
    "regulator_refused": "监管平台不允许通行",
    "unspecified": "未注明原因",
}
_CENT = Decimal("0.01")
_KG_PER_T = Decimal(1000)


def percent(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """``numerator/denominator`` as a percentage, half-up to 2 decimals; None for a zero denominator."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(_CENT, rounding=ROUND_HALF_UP)


def average(total: int, days: int) -> Decimal | None:
    """Per-day average, half-up to 2 decimals; None without days."""
    if days <= 0:
        return None
    return (Decimal(total) / days).quantize(_CENT, rounding=ROUND_HALF_UP)


def tonnes(kg: Decimal) -> Decimal:
    """Kilograms to tonnes, exact to the kilogram (3 decimals)."""
    return (Decimal(kg) / _KG_PER_T).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def is_road(category: str | None) -> bool:
    """Road transport: a transport vehicle, or a vehicle the ledger does not know."""
    return category is None or category == "transport"


def is_nev(fuel: str | None, stage: str | None) -> bool:
    """New energy: battery electric, solar or hydrogen fuel, or the 电动 stage."""
    return fuel in NEV_FUELS or stage == EmissionStage.ELECTRIC.code


def is_compliant(fuel: str | None, stage: str | None) -> bool:
    """Stage 国五 or better, or new energy (REGULATION.md §4.2)."""
    if is_nev(fuel, stage):
        return True
    try:
        return stage is not None and EmissionStage.parse(stage).at_least(EmissionStage.CN5)
    except ValueError:
        return False


def truck_class(fuel: str | None, stage: str | None) -> str:
    """nev_truck, cn6_truck or other_truck (for the clean-transport modes)."""
    if is_nev(fuel, stage):
        return "nev_truck"
    return "cn6_truck" if stage in CN6_STAGES else "other_truck"


def is_trip(row: CubeRow) -> bool:
    """An allowed road-transport entry."""
    return row.direction == "in" and row.decision == "allow" and is_road(row.category)


def is_hauling(row: CubeRow) -> bool:
    """An allowed road-transport pass (its net weight counts as road tonnage)."""
    return row.decision == "allow" and is_road(row.category)


@dataclass(frozen=True)
class NonRoadRow:
    """Effective non-road transport totals of one mode and direction."""

    mode: str
    direction: str
    tonnage_t: Decimal
    trips: int


def clean_transport(
    rows: Iterable[CubeRow], non_road: Iterable[NonRoadRow], settings: ReportSettings
) -> dict[str, Any]:
    """The clean-transport ratio by tonnage and by trips (REGULATION.md §4.1)."""
    tonnage: dict[str, Decimal] = defaultdict(Decimal)
    trips: dict[str, int] = defaultdict(int)
    for row in rows:
        mode = truck_class(row.fuel, row.stage)
        if is_hauling(row):
            tonnage[mode] += row.net_kg
        if is_trip(row):
            trips[mode] += row.passes
    for nr in non_road:
        tonnage[nr.mode] += nr.tonnage_t * _KG_PER_T
        trips[nr.mode] += nr.trips
    order = ("rail", "water", "pipeline", "tubular_belt", "belt_gallery", "nev_truck", "cn6_truck", "other_truck")
    clean = set(settings.clean_modes)
    total_kg = sum(tonnage.values(), Decimal(0))
    clean_kg = sum((tonnage[m] for m in order if m in clean), Decimal(0))
    total_trips = sum(trips.values())
    clean_trips = sum(trips[m] for m in order if m in clean)
    road_kg = sum((tonnage[m] for m in ("nev_truck", "cn6_truck", "other_truck")), Decimal(0))
    road_trips = sum(trips[m] for m in ("nev_truck", "cn6_truck", "other_truck"))
    ratio = percent(clean_kg, total_kg)
    return {
        "modes": [
            {
                "mode": m,
                "label": MODE_LABELS[m],
                "clean": m in clean,
                "tonnage_t": tonnes(tonnage[m]),
                "trips": trips[m],
                "tonnage_share": percent(tonnage[m], total_kg),
            }
            for m in order
        ],
        "total_tonnage_t": tonnes(total_kg),
        "clean_tonnage_t": tonnes(clean_kg),
        "ratio_by_tonnage": ratio,
        "total_trips": total_trips,
        "clean_trips": clean_trips,
        "ratio_by_trips": percent(clean_trips, total_trips),
        "road_tonnage_t": tonnes(road_kg),
        "road_trips": road_trips,
        "cn6_nev_share_of_road_tonnage": percent(tonnage["nev_truck"] + tonnage["cn6_truck"], road_kg),
        "cn6_nev_share_of_road_trips": percent(trips["nev_truck"] + trips["cn6_truck"], road_trips),
        "counted_modes": list(settings.clean_modes),
        "threshold": settings.clean_ratio_threshold,
        "meets_threshold": None if ratio is None else ratio >= settings.clean_ratio_threshold,
    }


def _stage_label(code: str | None) -> str:
    if code is None:
        return "未知"
    try:
        return EmissionStage.parse(code).label
    except ValueError:
        return code


def _fuel_label(code: str | None) -> str:
    if code is None:
        return "未知"
    try:
        return FuelType.parse(code).label
    except ValueError:
        return code


def _stage_order(code: str | None) -> int:
    try:
        return EmissionStage.parse(code).rank if code is not None else -99
    except ValueError:
        return -98


def mix(rows: Iterable[CubeRow], key: str) -> list[dict[str, Any]]:
    """Trips and tonnage of road transport by ``stage`` or ``fuel``, with shares of trips."""
    trips: dict[str | None, int] = defaultdict(int)
    kg: dict[str | None, Decimal] = defaultdict(Decimal)
    for row in rows:
        value = getattr(row, key)
        if is_trip(row):
            trips[value] += row.passes
        if is_hauling(row):
            kg[value] += row.net_kg
    total = sum(trips.values())
    total_kg = sum(kg.values(), Decimal(0))
    label = _stage_label if key == "stage" else _fuel_label
    codes = sorted(
        set(trips) | set(kg), key=lambda c: (-_stage_order(c), c or "") if key == "stage" else (c is None, c or "")
    )
    return [
        {
            "code": c,
            "label": label(c),
            "trips": trips[c],
            "trip_share": percent(trips[c], total),
            "tonnage_t": tonnes(kg[c]),
            "tonnage_share": percent(kg[c], total_kg),
        }
        for c in codes
    ]


def daily_average(rows: Iterable[CubeRow], elapsed: list[dt.date]) -> dict[str, Any]:
    """Average allowed entries and exits per elapsed day; split by heavy-pollution days (§1.5 step 3–4).

    A heavy-pollution day is an elapsed day with at least one pass recorded under a warning level.
    """
    entries: dict[dt.date, int] = defaultdict(int)
    exits: dict[dt.date, int] = defaultdict(int)
    alert_days: set[dt.date] = set()
    for row in rows:
        assert row.day is not None
        if row.emergency_level not in (None, WarningLevel.NONE.value):
            alert_days.add(row.day)
        if row.decision != "allow":
            continue
        if row.direction == "in":
            entries[row.day] += row.passes
        else:
            exits[row.day] += row.passes
    days = set(elapsed)
    alert = sorted(alert_days & days)
    normal = sorted(days - alert_days)
    return {
        "days": len(days),
        "entries": sum(entries[d] for d in days),
        "exits": sum(exits[d] for d in days),
        "avg_entries": average(sum(entries[d] for d in days), len(days)),
        "avg_exits": average(sum(exits[d] for d in days), len(days)),
        "alert_days": len(alert),
        "avg_entries_alert_days": average(sum(entries[d] for d in alert), len(alert)),
        "normal_days": len(normal),
        "avg_entries_normal_days": average(sum(entries[d] for d in normal), len(normal)),
    }


def hourly(rows: Iterable[CubeRow]) -> dict[str, Any]:
    """Passes (every direction and decision) per China hour of day, and the three busiest hours."""
    counts = [0] * 24
    for row in rows:
        assert row.hour is not None
        counts[row.hour] += row.passes
    peaks = sorted((h for h in range(24) if counts[h]), key=lambda h: (-counts[h], h))[:3]
    return {"by_hour": [{"hour": h, "passes": counts[h]} for h in range(24)], "peak_hours": peaks}


def interceptions(reasons: dict[str, int], refused: int) -> dict[str, Any]:
    """Refused passes, and per reason code (a pass with several reasons counts under each)."""
    items = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "refused": refused,
        "by_reason": [{"reason": r, "label": REASON_LABELS.get(r, r), "passes": n} for r, n in items],
    }


def carriers(rows: Sequence[CubeRow]) -> list[dict[str, Any]]:
    """Carrier (运输公司/车队) compliance ranking over road trips: compliant share desc, then trips desc."""
    acc: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not is_road(row.category) or row.direction != "in":
            continue
        key = row.carrier or ""
        item = acc.setdefault(key, {"trips": 0, "compliant": 0, "nev": 0, "heavy": 0, "refused": 0, "kg": Decimal(0)})
        if row.decision == "refuse":
            item["refused"] += row.passes
            continue
        item["trips"] += row.passes
        item["kg"] += row.net_kg
        if is_compliant(row.fuel, row.stage):
            item["compliant"] += row.passes
        if is_nev(row.fuel, row.stage):
            item["nev"] += row.passes
        if row.heavy:
            item["heavy"] += row.passes
    for row in rows:  # exits carry tonnage too (outbound products)
        if is_road(row.category) and row.direction == "out" and row.decision == "allow":
            acc.setdefault(
                row.carrier or "", {"trips": 0, "compliant": 0, "nev": 0, "heavy": 0, "refused": 0, "kg": Decimal(0)}
            )["kg"] += row.net_kg
    ranked = sorted(
        acc.items(),
        key=lambda kv: (-(percent(kv[1]["compliant"], kv[1]["trips"]) or Decimal(-1)), -kv[1]["trips"], kv[0]),
    )
    return [
        {
            "rank": i,
            "carrier": key or UNKNOWN_CARRIER,
            "registered": bool(key),
            "trips": v["trips"],
            "compliant_trips": v["compliant"],
            "compliance_ratio": percent(v["compliant"], v["trips"]),
            "nev_trips": v["nev"],
            "heavy_trips": v["heavy"],
            "refused": v["refused"],
            "tonnage_t": tonnes(v["kg"]),
        }
        for i, (key, v) in enumerate(ranked, start=1)
    ]


def data_quality(rows: Iterable[CubeRow], open_flags: int, upload: dict[str, Any] | None) -> dict[str, Any]:
    """Completeness, timeliness, flagged records, weighings missing, manual releases with a reason."""
    total = complete = timely = flagged = unweighed = manual = manual_reason = 0
    for row in rows:
        total += row.passes
        complete += row.complete
        timely += row.timely
        flagged += row.flagged
        unweighed += row.cargo_unweighed
        manual_reason += row.manual_with_reason
        if row.trigger == "manual_release":
            manual += row.passes
    return {
        "passes": total,
        "complete": complete,
        "completeness": percent(complete, total),
        "timely": timely,
        "timeliness": percent(timely, total),
        "flagged": flagged,
        "flagged_open": open_flags,
        "cargo_unweighed": unweighed,
        "manual_releases": manual,
        "manual_releases_with_reason": manual_reason,
        "upload_rate": None if upload is None else upload.get("rate"),
        "upload": upload,
    }


def totals(rows: Iterable[CubeRow]) -> dict[str, int]:
    """Passes by direction and decision, manual releases, manual entries."""
    out = {"passes": 0, "in": 0, "out": 0, "allowed": 0, "refused": 0, "manual_releases": 0, "manual_entries": 0}
    for row in rows:
        out["passes"] += row.passes
        out["in" if row.direction == "in" else "out"] += row.passes
        out["allowed" if row.decision == "allow" else "refused"] += row.passes
        if row.trigger == "manual_release":
            out["manual_releases"] += row.passes
        elif row.trigger == "manual_entry":
            out["manual_entries"] += row.passes
    return out
