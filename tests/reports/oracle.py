"""An independent, plain-Python computation of the report figures from raw rows (the test oracle).

It reads nothing but the raw tables (pass events, vehicle versions, non-road records) and applies the
definitions of docs/reports.md one row at a time: no SQL grouping, no shared code with cloud.reports
apart from the hj1321 vocabulary.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hj1321 import EmissionStage, is_heavy_truck

CN = ZoneInfo("Asia/Shanghai")
NEV_FUELS = {"C", "N", "P"}


def pct(num: Any, den: Any) -> Decimal | None:
    if not den:
        return None
    return (Decimal(num) * 100 / Decimal(den)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def tonnes(kg: Any) -> Decimal:
    return (Decimal(kg) / 1000).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


@dataclass
class Fact:
    id: Any
    day: dt.date
    hour: int
    direction: str
    decision: str
    trigger: str
    category: str | None
    fuel: str | None
    stage: str | None
    heavy: bool | None
    carrier: str | None
    level: str
    net_kg: Decimal | None
    cargo: str | None
    reasons: list[str]
    flags: list[str]
    manual_reason: str | None
    plate: str
    colour: str
    scene: str | None
    delay: dt.timedelta

    @property
    def road(self) -> bool:
        return self.category in (None, "transport")

    @property
    def nev(self) -> bool:
        return self.fuel in NEV_FUELS or self.stage == "D"

    @property
    def compliant(self) -> bool:
        if self.nev:
            return True
        return self.stage is not None and EmissionStage.parse(self.stage).rank >= 5

    @property
    def trip(self) -> bool:
        return self.road and self.direction == "in" and self.decision == "allow"

    @property
    def hauling(self) -> bool:
        return self.road and self.decision == "allow"

    @property
    def mode(self) -> str:
        if self.nev:
            return "nev_truck"
        return "cn6_truck" if self.stage in ("6", "7") else "other_truck"

    @property
    def complete(self) -> bool:
        return bool(
            self.plate
            and self.colour != "other"
            and self.scene
            and self.stage is not None
            and self.fuel is not None
            and (self.cargo is None or self.net_kg is not None)
        )


def version_in_force(versions: list[dict[str, Any]], at: dt.datetime) -> dict[str, Any] | None:
    before = [v for v in versions if v["created_at"] <= at]
    if before:
        return max(before, key=lambda v: v["version"])
    return min(versions, key=lambda v: v["version"]) if versions else None


def newest_corrections(corrections: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """The correction in force per pass: the newest by (created_at, id)."""
    out: dict[Any, dict[str, Any]] = {}
    for c in corrections:
        held = out.get(c["pass_event_id"])
        if held is None or (c["created_at"], c["id"]) > (held["created_at"], held["id"]):
            out[c["pass_event_id"]] = c
    return out


def build_facts(
    passes: list[dict[str, Any]],
    versions: list[dict[str, Any]],
    corrections: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[Fact]:
    by_vehicle: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for v in versions:
        by_vehicle[v["vehicle_id"]].append(v)
    in_force = newest_corrections(list(corrections))
    out = []
    for original in passes:
        c = in_force.get(original["id"])
        if c is not None and c["void"]:
            continue  # a voided pass leaves the figures
        p = dict(original)
        payload = p["payload"]
        snap = payload.get("vehicle") or {}
        net = (payload.get("weighing") or {}).get("net_kg")
        if c is not None:
            for name in ("plate", "plate_colour", "direction", "cargo_name"):
                if c[name] is not None:
                    p[name] = c[name]
            if c["vehicle_id"] is not None:
                p["vehicle_id"] = c["vehicle_id"]
                snap = {}  # another vehicle: its version in force, not the agent's snapshot
            if c["net_kg"] is not None:
                net = c["net_kg"]
        vv = version_in_force(by_vehicle.get(p["vehicle_id"], []), p["occurred_at"]) if p["vehicle_id"] else None
        local = p["occurred_at"].astimezone(CN)
        heavy = snap.get("heavy")
        if heavy is None and vv is not None:
            heavy = is_heavy_truck(vv["vehicle_type"], vv["total_mass_kg"])
        out.append(
            Fact(
                id=p["id"],
                day=local.date(),
                hour=local.hour,
                direction=p["direction"],
                decision=p["decision"],
                trigger=p["trigger"],
                category=snap.get("category") or (vv["category"] if vv else None),
                fuel=snap.get("fuel") or (vv["fuel_type"] if vv else None),
                stage=snap.get("emission_stage") or (vv["emission_stage"] if vv else None),
                heavy=heavy,
                carrier=vv["fleet_name"] if vv else None,
                level=payload.get("emergency_level") or "none",
                net_kg=None if net is None else Decimal(net),
                cargo=p["cargo_name"],
                reasons=list(p["reason_codes"]),
                flags=list(p["anomaly_flags"]),
                manual_reason=p["manual_reason"],
                plate=p["plate"],
                colour=p["plate_colour"],
                scene=p["scene_sha256"],
                delay=p["received_at"] - p["occurred_at"],
            )
        )
    return out


def effective_non_road(records: list[dict[str, Any]], first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    superseded = {r["supersedes_id"] for r in records if r["supersedes_id"]}
    return [r for r in records if r["id"] not in superseded and not r["voided"] and first <= r["day"] <= last]


def clean_transport(facts: list[Fact], non_road: list[dict[str, Any]], clean_modes: set[str]) -> dict[str, Any]:
    kg: Counter[str] = Counter()
    trips: Counter[str] = Counter()
    for f in facts:
        if f.hauling and f.net_kg is not None:
            kg[f.mode] += f.net_kg  # type: ignore[assignment]
        if f.trip:
            trips[f.mode] += 1
    for r in non_road:
        kg[r["mode"]] += r["tonnage_t"] * 1000  # type: ignore[assignment]
        trips[r["mode"]] += r["trips"]
    total = sum(kg.values(), Decimal(0))
    clean = sum((v for k, v in kg.items() if k in clean_modes), Decimal(0))
    total_trips = sum(trips.values())
    clean_trips = sum(v for k, v in trips.items() if k in clean_modes)
    return {
        "total_tonnage_t": tonnes(total),
        "clean_tonnage_t": tonnes(clean),
        "ratio_by_tonnage": pct(clean, total),
        "total_trips": total_trips,
        "clean_trips": clean_trips,
        "ratio_by_trips": pct(clean_trips, total_trips),
        "by_mode": {k: (tonnes(kg[k]), trips[k]) for k in set(kg) | set(trips)},
    }


def statistics(
    facts: list[Fact], non_road: list[dict[str, Any]], clean_modes: set[str], elapsed: list[dt.date]
) -> dict[str, Any]:
    stage_trips: Counter[str | None] = Counter(f.stage for f in facts if f.trip)
    fuel_trips: Counter[str | None] = Counter(f.fuel for f in facts if f.trip)
    hours = Counter(f.hour for f in facts)
    reasons: Counter[str] = Counter()
    for f in facts:
        if f.decision == "refuse":
            for r in f.reasons or ["unspecified"]:
                reasons[r] += 1
    carriers: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"trips": 0, "compliant": 0, "refused": 0, "kg": Decimal(0)}
    )
    for f in facts:
        if not f.road or (f.direction == "out" and f.decision == "refuse"):
            continue
        c = carriers[f.carrier or ""]
        if f.decision == "allow" and f.net_kg is not None:
            c["kg"] += f.net_kg
        if f.direction == "in":
            if f.decision == "refuse":
                c["refused"] += 1
            else:
                c["trips"] += 1
                c["compliant"] += f.compliant
    alert_days = {f.day for f in facts if f.level != "none"}
    entries = Counter(f.day for f in facts if f.direction == "in" and f.decision == "allow")
    days = set(elapsed)
    alert = days & alert_days
    normal = days - alert_days

    def avg(total: int, n: int) -> Decimal | None:
        return None if n == 0 else (Decimal(total) / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    return {
        "passes": len(facts),
        "in": sum(f.direction == "in" for f in facts),
        "refused": sum(f.decision == "refuse" for f in facts),
        "manual_releases": sum(f.trigger == "manual_release" for f in facts),
        "clean": clean_transport(facts, non_road, clean_modes),
        "stage_trips": dict(stage_trips),
        "fuel_trips": dict(fuel_trips),
        "hours": [hours.get(h, 0) for h in range(24)],
        "reasons": dict(reasons),
        "carriers": dict(carriers),
        "avg_entries": avg(sum(entries[d] for d in days), len(days)),
        "avg_entries_alert": avg(sum(entries[d] for d in alert), len(alert)),
        "avg_entries_normal": avg(sum(entries[d] for d in normal), len(normal)),
        "alert_days": len(alert),
        "complete": sum(f.complete for f in facts),
        "timely": sum(f.delay <= dt.timedelta(seconds=300) for f in facts),
        "flagged": sum(bool(f.flags) for f in facts),
        "cargo_unweighed": sum(f.hauling and f.cargo is not None and f.net_kg is None for f in facts),
        "manual_with_reason": sum(
            f.trigger == "manual_release" and bool((f.manual_reason or "").strip()) for f in facts
        ),
        "heavy_trips": sum(f.trip and bool(f.heavy) for f in facts),
        "heavy_compliant": sum(f.trip and bool(f.heavy) and f.compliant for f in facts),
    }


def daily_rows(facts: list[Fact], first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    out = []
    day = first
    while day <= last:
        fs = [f for f in facts if f.day == day]
        trips = [f for f in fs if f.trip]
        kg = sum((f.net_kg for f in fs if f.hauling and f.net_kg is not None), Decimal(0))
        out.append(
            {
                "date": day.isoformat(),
                "entries": sum(f.direction == "in" and f.decision == "allow" for f in fs),
                "exits": sum(f.direction == "out" and f.decision == "allow" for f in fs),
                "refused": sum(f.decision == "refuse" for f in fs),
                "manual_releases": sum(f.trigger == "manual_release" for f in fs),
                "trips": len(trips),
                "heavy_trips": sum(bool(f.heavy) for f in trips),
                "nev_trips": sum(f.nev for f in trips),
                "cn6_trips": sum(not f.nev and f.stage in ("6", "7") for f in trips),
                "cn5_trips": sum(not f.nev and f.stage == "5" for f in trips),
                "cn4_or_below_trips": sum(not f.compliant for f in trips),
                "road_tonnage": f"{tonnes(kg):.3f}",
            }
        )
        day += dt.timedelta(days=1)
    return out
