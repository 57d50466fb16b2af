"""Logic checks over the pass ledger and the vehicle ledger (PRODUCT.md problems 1–4).

Each check has a reason code and a Chinese explanation (:data:`REASONS`). A finding is an
append-only ``check_flag`` row (idempotent on ``(code, subject_key)``), shown red until a person
resolves it with a reason (``check_resolution``). :func:`run_checks` is the one entry point: it
checks every pass event received since the tenant's watermark (with an overlap, so a late commit is
never missed), sweeps for absences (an entry with no exit after N hours, a weighing that never came)
and checks the vehicle versions written since the last run. It is called as records arrive (the
ingest hook, the pass insert path), before the review queue is read, and by ``ecogate ledger checks``.

Thresholds are tenant settings (``tenant.settings["compliance"]``, defaults in :class:`CheckSettings`),
all [I]: REGULATION.md gives the problems (PRODUCT.md 1–4) but no numbers.
"""

# SQL here is assembled from constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Final, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import chain
from cloud.db import models as m
from cloud.domain.common import CHINA_TZ
from hj1321.errors import InvalidValueError
from hj1321.vehicles import is_heavy_truck

#: code → (title, explanation). Shown to people next to every red record.
REASONS: Final[dict[str, tuple[str, str]]] = {
    "exit_without_entry": (
        "出场无入场记录",
        "车辆出场前在本厂区找不到对应的入场记录，可能漏拍、人工抬杆未登记或车牌识别错误",
    ),
    "entry_without_exit": ("入场超时未出场", "车辆入场后超过规定时长仍无出场记录，可能漏拍出场或车辆滞留"),
    "exit_before_entry": ("出场时间早于入场时间", "出场记录的时间早于其对应的入场记录，通常是设备时钟不同步或设备故障"),
    "too_many_passes": ("通行次数异常", "同一车辆在时间窗内通行次数超过阈值，可能重复抓拍或台账造假"),
    "clock_skew": ("时钟偏差", "记录时间与云端接收时间或代理时钟偏差超过阈值，记录时间不可信"),
    "stage_missing": ("排放阶段缺失", "通行车辆在台账中没有排放阶段（或未在台账登记），无法判定是否合规"),
    "stage_unverified": ("排放阶段未复核", "车辆新建或排放阶段变更后尚未经第二人复核（双人复核）"),
    "weighing_missing": ("缺少称重记录", "运输货物的车辆通行后在规定时间内没有关联的地磅称重数据"),
    "net_weight_negative": ("净重为负", "称重得到的净重小于零，称重数据或皮重/毛重顺序有误"),
    "net_weight_over_rated": ("净重超过核定载质量", "称重净重超过该车台账登记的核定载质量"),
    "cargo_mismatch": ("货物名称与地磅不符", "通行记录的运输货物名称与地磅称重记录的货物名称不一致"),
    "unknown_internal": ("未登记的厂内车辆或机械", "出入口出现了台账中没有的厂内运输车辆或非道路移动机械"),
    "plate_two_vins": (
        "同一车牌对应两个车辆识别代号",
        "台账中同一车牌号码登记了不同的车辆识别代号（VIN），可能套牌或录入错误",
    ),
    "cn6_heavy_diesel_not_networked": (
        "国六重型柴油车未联网",
        # REGULATION.md §1.4.2 (a) item 18 (联网状态); the source stays here, the users read the rule itself
        "国六重型柴油货车应接入远程排放监控平台（HJ 1321 进出厂运输车辆台账“联网状态”），台账显示未联网",
    ),
    "blacklisted_allowed": ("黑名单车辆被放行", "黑名单中的车辆在名单有效期内被放行入场"),
    # The agent's trip findings (agent/devices/weighing.py), carried on the exit weighing record.
    "cargo_missing": ("缺少货物名称", "称重得到了运输净重，但进厂和出厂记录都没有登记运输货物名称"),
    "trip_too_long": ("运输时长异常", "同一趟运输的进厂称重与出厂称重间隔超过上限，可能漏记出入厂或车牌识别错误"),
    "tare_mismatch": ("皮重与登记不符", "称重得到的皮重与该车登记的皮重相差超过允许范围"),
    # The regulator platform refused the record for good (cloud/uplink/worker.py); its reason is the message.
    "uplink_rejected": ("监管平台拒收", "监管平台拒收了该通行记录，拒收原因见平台返回信息；核对后可补传"),
}
#: The trip findings an agent may put on a weighing record (``WeighingRecord.flags``) and the cloud
#: opens on the pass (:func:`open_pass_flags`); other codes from an agent are ignored.
TRIP_FLAGS: Final = frozenset({"cargo_missing", "exit_before_entry", "trip_too_long", "tare_mismatch"})
#: Re-read margin for vehicle versions, and for passes beyond the commit horizon below.
_OVERLAP: Final = dt.timedelta(minutes=5)
#: Re-read margin for passes below the commit horizon. ``received_at`` is ``now()`` of the inserting
#: transaction, the very value ``pg_stat_activity.xact_start`` shows for it, so a transaction that began
#: exactly at the horizon is the only one to re-read: a millisecond covers it. (It was a second: at 2 s
#: between runs, every run checked half of the previous run's passes again; bench/checks.py.)
_PASS_OVERLAP: Final = dt.timedelta(milliseconds=1)
#: The oldest start of a transaction still open in this database (``received_at`` is the inserting
#: transaction's start): every pass received before it is committed and visible to the next statement.
_HORIZON_SQL: Final = text(
    "SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity"
    " WHERE pid <> pg_backend_pid() AND datname = current_database() AND xact_start IS NOT NULL))"
)
_BATCH: Final = 5000
_SWEEP_EVERY: Final = dt.timedelta(minutes=1)
_INTERNAL: Final = frozenset({"in_plant", "nrmm"})


@dataclass(frozen=True)
class CheckSettings:
    """Thresholds of the logic checks (tenant setting ``compliance``; every default is [I])."""

    pairing_window_h: float = 72.0  # an exit pairs with an entry at most this long before it
    max_stay_h: float = 24.0  # entry without exit after this long
    pass_window_h: float = 24.0  # "same truck in and out ten times a day"
    max_passes: int = 10
    clock_tolerance_s: float = 60.0  # a record may be at most this far ahead of its receipt
    weighing_grace_min: float = 30.0  # a weighing must be linked within this long
    rated_load_tolerance_pct: float = 0.0
    sweep_lookback_days: float = 7.0

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None) -> CheckSettings:
        """Read the tenant's ``compliance`` settings (unknown keys ignored, bad values fall back)."""
        raw = dict((settings or {}).get("compliance") or {})
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in raw:
                try:
                    values[f.name] = type(getattr(cls(), f.name))(raw[f.name])
                except (TypeError, ValueError):
                    continue
        return cls(**values)


@dataclass
class _Flag:
    code: str
    subject_key: str
    message: str
    pass_event_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    plate: str | None = None
    occurred_at: dt.datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Vehicle:
    vehicle_id: uuid.UUID
    version: m.VehicleVersion
    review: str


@dataclass
class CheckRun:
    """What one :func:`run_checks` call did."""

    passes_checked: int = 0
    vehicles_checked: int = 0
    flags_added: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    #: The run stopped at ``max_passes``: passes received since wait for the next run.
    more: bool = False


def _hours(value: float) -> str:
    return f"{value:g} 小时"


def _china(at: dt.datetime) -> str:
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


class _Ledger:
    """The vehicle versions the checked passes name (``pass_event.vehicle_version_id``), with their reviews.

    The ledger (``cloud.ledger.passes``) resolved each pass's vehicle and the version in force at the
    pass time when it stored the pass; the checks judge that version, never today's record. Versions and
    their reviews are read for the rows at hand only (a run used to read every review of the tenant).
    """

    def __init__(self) -> None:
        self.versions: dict[uuid.UUID, m.VehicleVersion] = {}
        self.reviews: dict[uuid.UUID, str] = {}

    async def load(self, session: AsyncSession, tenant_id: uuid.UUID, rows: Iterable[Mapping[str, Any]]) -> None:
        """Read the versions ``rows`` name that are not loaded yet, and their reviews (two queries)."""
        wanted = {r["vehicle_version_id"] for r in rows if r["vehicle_version_id"] is not None} - set(self.versions)
        if not wanted:
            return
        found = await session.scalars(
            select(m.VehicleVersion).where(m.VehicleVersion.tenant_id == tenant_id, m.VehicleVersion.id.in_(wanted))
        )
        self.versions.update((v.id, v) for v in found)
        verdicts = await session.execute(
            select(m.VehicleReview.version_id, m.VehicleReview.decision).where(
                m.VehicleReview.tenant_id == tenant_id, m.VehicleReview.version_id.in_(wanted)
            )
        )
        self.reviews.update((vid, str(decision)) for vid, decision in verdicts)

    def find(self, event: Mapping[str, Any]) -> _Vehicle | None:
        """The registered vehicle of a pass as it stood at the pass time (None: unregistered or retired then)."""
        version = self.versions.get(event["vehicle_version_id"]) if event["vehicle_version_id"] else None
        if version is None or version.status != "active":
            return None
        return _Vehicle(version.vehicle_id, version, self.reviews.get(version.id, version.review))


#: The columns the checks read; of the agent's payload only the two parts they use (decoding the whole
#: event's JSON was a sixth of a run's Python time).
_COLUMNS: Final = (
    "id, site_id, agent_id, seq, direction, occurred_at, received_at, plate, decision, trigger, vehicle_id, "
    "vehicle_version_id, internal_code, cargo_name, anomaly_flags, "
    "payload -> 'vehicle' AS vehicle_snapshot, payload -> 'weighing' AS weighing_link"
)


#: The checked passes come in as arrays: the checks hold their rows already, and joining them back to the
#: table let a planner with stale statistics read the tenant's whole ledger to find them. The window count
#: states its range as a row comparison on ``(plate, occurred_at)``, which only
#: ``ix_pass_event_tenant_plate_time`` can serve: with the plain range, a planner whose statistics predate
#: a burst of passes walked the tenant's time index over the whole window and filtered the plate (0.6 →
#: 2.1 ms a pass over 10,000 passes, growing with the ledger; bench/checks.py).
_NEIGHBOURS_SQL: Final = text(
    """
    SELECT e.id, prev.id AS prev_id, prev.direction AS prev_direction, prev.decision AS prev_decision,
           prev.occurred_at AS prev_occurred_at, cnt.n AS window_count
    FROM unnest(CAST(:ids AS uuid[]), CAST(:sites AS uuid[]), CAST(:agents AS uuid[]), CAST(:seqs AS bigint[]),
                CAST(:plates AS varchar[]), CAST(:ats AS timestamptz[]))
         AS e(id, site_id, agent_id, seq, plate, occurred_at)
    LEFT JOIN LATERAL (
        SELECT p.id, p.direction, p.decision, p.occurred_at FROM pass_event p
        WHERE p.tenant_id = :t AND p.site_id = e.site_id AND p.plate = e.plate
          AND ((p.agent_id = e.agent_id AND p.seq < e.seq)
               OR (p.agent_id <> e.agent_id AND p.occurred_at < e.occurred_at))
        ORDER BY (p.agent_id = e.agent_id) DESC, p.seq DESC, p.occurred_at DESC LIMIT 1
    ) prev ON true
    LEFT JOIN LATERAL (
        SELECT count(*) AS n FROM pass_event c
        WHERE c.tenant_id = :t AND c.plate = e.plate
          AND (c.plate, c.occurred_at) > (e.plate, e.occurred_at - make_interval(secs => :window_s))
          AND (c.plate, c.occurred_at) <= (e.plate, e.occurred_at)
    ) cnt ON true
    """
)


class _Neighbours(NamedTuple):
    """What the per-pass checks need from other records: the plate's previous pass, the window count."""

    previous: Mapping[str, Any] | None
    window_count: int


async def _neighbours(
    session: AsyncSession, tenant_id: uuid.UUID, rows: list[dict[str, Any]], settings: CheckSettings
) -> dict[uuid.UUID, _Neighbours]:
    """For every plated pass of ``rows``, in ONE query (two per pass cost more than the ingest itself):

    * the pass of the same plate recorded just before it at the same site (agent order: the same
      agent's lower sequence first, else another agent's earlier time);
    * the number of passes of the plate in the ``pass_window_h`` hours up to it.
    """
    plated = [r for r in rows if r["plate"]]
    if not plated:
        return {}
    result = await session.execute(
        _NEIGHBOURS_SQL,
        {
            "ids": [r["id"] for r in plated],
            "sites": [r["site_id"] for r in plated],
            "agents": [r["agent_id"] for r in plated],
            "seqs": [r["seq"] for r in plated],
            "plates": [r["plate"] for r in plated],
            "ats": [r["occurred_at"] for r in plated],
            "t": tenant_id,
            "window_s": settings.pass_window_h * 3600.0,
        },
    )
    out: dict[uuid.UUID, _Neighbours] = {}
    for r in result.mappings():
        previous = (
            None
            if r["prev_id"] is None
            else {
                "id": r["prev_id"],
                "direction": r["prev_direction"],
                "decision": r["prev_decision"],
                "occurred_at": r["prev_occurred_at"],
            }
        )
        out[r["id"]] = _Neighbours(previous, int(r["window_count"] or 0))
    return out


def _category(event: Mapping[str, Any], vehicle: _Vehicle | None) -> str:
    if vehicle is not None:
        return vehicle.version.category
    snap = event["vehicle_snapshot"] or {}
    return str(snap.get("category") or "")


def _check_pass(  # noqa: C901, PLR0912 - one checklist per pass
    event: Mapping[str, Any],
    neighbours: _Neighbours | None,
    ledger: _Ledger,
    settings: CheckSettings,
    blacklist: Mapping[str, list[tuple[dt.datetime, dt.datetime | None]]],
) -> list[_Flag]:
    flags: list[_Flag] = []
    pid, plate, at = event["id"], event["plate"] or None, event["occurred_at"]
    vehicle = ledger.find(event)
    category = _category(event, vehicle)
    internal_vehicle = category in _INTERNAL

    def flag(code: str, message: str, key: str | None = None, **detail: Any) -> None:
        flags.append(
            _Flag(
                code,
                key or str(pid),
                message,
                pid,
                vehicle.vehicle_id if vehicle else None,
                plate,
                at,
                detail,
            )
        )

    # Clock skew: a record from the future, or one the agent itself marked (REGULATION.md §1.6 data quality).
    ahead = (at - event["received_at"]).total_seconds()
    if ahead > settings.clock_tolerance_s:
        flag(
            "clock_skew",
            f"记录时间 {_china(at)} 比云端接收时间晚 {ahead:.0f} 秒，代理时钟可能超前",
            ahead_s=round(ahead),
        )
    elif "clock_skew" in (event["anomaly_flags"] or []):
        flag("clock_skew", "代理在记录时报告了时钟偏差")

    if plate and not internal_vehicle:
        previous = neighbours.previous if neighbours is not None else None
        if event["direction"] == "out":
            entered = previous is not None and previous["direction"] == "in" and previous["decision"] == "allow"
            if entered and previous is not None and previous["occurred_at"] > at:
                flag(
                    "exit_before_entry",
                    f"出场时间 {_china(at)} 早于入场时间 {_china(previous['occurred_at'])}",
                    entry_id=str(previous["id"]),
                )
            elif not entered or (
                previous is not None and (at - previous["occurred_at"]) > dt.timedelta(hours=settings.pairing_window_h)
            ):
                flag(
                    "exit_without_entry",
                    f"车辆 {plate} 于 {_china(at)} 出场，此前 {_hours(settings.pairing_window_h)}内无入场记录",
                )
        # Too many passes: one flag per plate and China day, on the pass that crosses the threshold.
        count = neighbours.window_count if neighbours is not None else 0
        if count > settings.max_passes:
            day = at.astimezone(CHINA_TZ).date().isoformat()
            flag(
                "too_many_passes",
                f"车辆 {plate} 在 {_hours(settings.pass_window_h)}内通行 {count} 次，超过 {settings.max_passes} 次",
                key=f"{plate}:{day}",
                count=count,
            )

    if event["decision"] == "allow":
        if vehicle is None and plate and not event["internal_code"]:
            flag("stage_missing", f"车辆 {plate} 未在台账中登记，排放阶段缺失")
        elif vehicle is not None and not vehicle.version.emission_stage:
            flag("stage_missing", f"车辆 {plate or ''} 的台账未登记排放阶段")
        elif vehicle is not None and vehicle.review != "verified":
            flag(
                "stage_unverified",
                f"车辆 {plate or ''} 的台账第 {vehicle.version.version} 版尚未复核（{vehicle.review}）",
            )
        if plate and event["direction"] == "in":
            for since, until in blacklist.get(plate, []):
                if since <= at and (until is None or at < until):
                    flag("blacklisted_allowed", f"黑名单车辆 {plate} 于 {_china(at)} 被放行")
                    break

    internal_code = event["internal_code"]
    unknown = "unknown_internal" in (event["anomaly_flags"] or [])
    if (internal_code and vehicle is None) or unknown:
        flag("unknown_internal", f"出入口出现未登记的厂内车辆或机械（编号 {internal_code or plate or '未知'}）")
    return flags


async def _weighing_flags(  # noqa: C901 - one checklist per weighed pass
    session: AsyncSession, tenant_id: uuid.UUID, ledger: _Ledger, settings: CheckSettings, now: dt.datetime
) -> list[_Flag]:
    """Weighing checks on allowed passes old enough for their weighing to have arrived."""
    hi = now - dt.timedelta(minutes=settings.weighing_grace_min)
    lo = hi - dt.timedelta(days=settings.sweep_lookback_days)
    result = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS}, agg.n, agg.min_w, agg.max_w, agg.cargos FROM pass_event p "
                "LEFT JOIN LATERAL (SELECT count(*) AS n, min(w.weight_kg) AS min_w, max(w.weight_kg) AS max_w, "
                "array_remove(array_agg(DISTINCT w.cargo_name), NULL) AS cargos FROM weighing w "
                "WHERE w.tenant_id = p.tenant_id AND w.pass_event_id = p.id) agg ON true "
                "WHERE p.tenant_id = :t AND p.decision = 'allow' AND p.occurred_at >= :lo AND p.occurred_at < :hi"
            ),
            {"t": tenant_id, "lo": lo, "hi": hi},
        )
    ).mappings()
    rows = [dict(r) for r in result]
    await ledger.load(session, tenant_id, rows)
    flags: list[_Flag] = []
    for row in rows:
        vehicle = ledger.find(row)
        if _category(row, vehicle) in _INTERNAL:
            continue
        link = row["weighing_link"] or {}
        net: Decimal | None = None
        if link.get("net_kg") is not None:
            net = Decimal(link["net_kg"])
        elif link.get("gross_kg") is not None and link.get("tare_kg") is not None:
            net = Decimal(link["gross_kg"]) - Decimal(link["tare_kg"])
        elif int(row["n"] or 0) >= 2:
            net = Decimal(row["max_w"]) - Decimal(row["min_w"])
        weighed = bool(link) or int(row["n"] or 0) > 0
        base = {"pass_event_id": row["id"], "vehicle_id": vehicle.vehicle_id if vehicle else None}
        plate, at = row["plate"] or None, row["occurred_at"]
        if row["cargo_name"] and not weighed:
            flags.append(
                _Flag(
                    "weighing_missing",
                    str(row["id"]),
                    f"车辆 {plate} 运输“{row['cargo_name']}”，通行 {settings.weighing_grace_min:g} 分钟后仍无称重数据",
                    plate=plate,
                    occurred_at=at,
                    **base,
                )
            )
        negative = (net is not None and net < 0) or (row["min_w"] is not None and Decimal(row["min_w"]) < 0)
        if negative:
            flags.append(
                _Flag(
                    "net_weight_negative",
                    str(row["id"]),
                    f"车辆 {plate} 的称重净重为 {net if net is not None else row['min_w']} 千克",
                    plate=plate,
                    occurred_at=at,
                    detail={"net_kg": str(net) if net is not None else None},
                    **base,
                )
            )
        rated = vehicle.version.rated_load_kg if vehicle is not None else None
        if net is not None and rated:
            limit = Decimal(rated) * (1 + Decimal(str(settings.rated_load_tolerance_pct)) / 100)
            if net > limit:
                flags.append(
                    _Flag(
                        "net_weight_over_rated",
                        str(row["id"]),
                        f"车辆 {plate} 的称重净重 {net} 千克超过核定载质量 {rated} 千克",
                        plate=plate,
                        occurred_at=at,
                        detail={"net_kg": str(net), "rated_load_kg": rated},
                        **base,
                    )
                )
        cargo = _norm(row["cargo_name"])
        others = {_norm(c) for c in (row["cargos"] or []) if _norm(c)}
        if cargo and others and cargo not in others:
            flags.append(
                _Flag(
                    "cargo_mismatch",
                    str(row["id"]),
                    f"通行记录货物“{row['cargo_name']}”与地磅记录“{'、'.join(sorted(row['cargos']))}”不一致",
                    plate=plate,
                    occurred_at=at,
                    **base,
                )
            )
    return flags


def _norm(value: object) -> str:
    return "".join(str(value or "").split()).upper()


async def _overstay_flags(
    session: AsyncSession, tenant_id: uuid.UUID, ledger: _Ledger, settings: CheckSettings, now: dt.datetime
) -> list[_Flag]:
    """Allowed entries with no exit within ``max_stay_h`` (checked once the time has passed)."""
    stay = dt.timedelta(hours=settings.max_stay_h)
    hi = now - stay
    lo = hi - dt.timedelta(days=settings.sweep_lookback_days)
    result = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM pass_event p WHERE p.tenant_id = :t AND p.direction = 'in' "
                "AND p.decision = 'allow' AND p.plate <> '' AND p.occurred_at >= :lo AND p.occurred_at < :hi "
                "AND NOT EXISTS (SELECT 1 FROM pass_event q WHERE q.tenant_id = p.tenant_id AND q.site_id = p.site_id "
                "AND q.plate = p.plate AND q.direction = 'out' AND q.occurred_at > p.occurred_at "
                "AND q.occurred_at <= p.occurred_at + :stay)"
            ),
            {"t": tenant_id, "lo": lo, "hi": hi, "stay": stay},
        )
    ).mappings()
    rows = [dict(r) for r in result]
    await ledger.load(session, tenant_id, rows)
    flags = []
    for row in rows:
        vehicle = ledger.find(row)
        if _category(row, vehicle) in _INTERNAL:
            continue
        flags.append(
            _Flag(
                "entry_without_exit",
                str(row["id"]),
                f"车辆 {row['plate']} 于 {_china(row['occurred_at'])} 入场，{_hours(settings.max_stay_h)}内无出场记录",
                row["id"],
                vehicle.vehicle_id if vehicle else None,
                row["plate"],
                row["occurred_at"],
            )
        )
    return flags


async def _vehicle_flags(
    session: AsyncSession, tenant_id: uuid.UUID, since: dt.datetime | None
) -> tuple[list[_Flag], int]:
    """Vehicle-level checks for vehicles with versions written since ``since``."""
    query = select(m.VehicleVersion.vehicle_id, m.VehicleVersion.plate).where(m.VehicleVersion.tenant_id == tenant_id)
    if since is not None:
        query = query.where(m.VehicleVersion.created_at > since - _OVERLAP)
    touched = list(await session.execute(query))
    vehicle_ids = {v for v, _ in touched}
    plates = {p for _, p in touched if p}
    flags: list[_Flag] = []
    if plates:
        rows = await session.execute(
            select(
                m.VehicleVersion.plate, m.VehicleVersion.vin, m.VehicleVersion.vehicle_id, m.VehicleVersion.created_at
            )
            .where(m.VehicleVersion.tenant_id == tenant_id, m.VehicleVersion.plate.in_(plates))
            .order_by(m.VehicleVersion.created_at)
        )
        vins: dict[str, dict[str, uuid.UUID]] = {}
        for plate, vin, vehicle_id, _created in rows:
            if vin and plate:
                vins.setdefault(plate, {})[vin] = vehicle_id
        for plate, by_vin in vins.items():
            if len(by_vin) > 1:
                listed = "、".join(sorted(by_vin))
                flags.append(
                    _Flag(
                        "plate_two_vins",
                        f"{plate}:{'|'.join(sorted(by_vin))}"[:80],
                        f"车牌 {plate} 在台账中对应 {len(by_vin)} 个车辆识别代号：{listed}",
                        vehicle_id=list(by_vin.values())[-1],
                        plate=plate,
                        detail={"vins": sorted(by_vin)},
                    )
                )
    if vehicle_ids:
        current = await session.execute(
            select(m.VehicleVersion)
            .join(
                m.Vehicle,
                (m.Vehicle.tenant_id == m.VehicleVersion.tenant_id)
                & (m.Vehicle.current_version_id == m.VehicleVersion.id),
            )
            .where(m.Vehicle.tenant_id == tenant_id, m.Vehicle.id.in_(vehicle_ids))
        )
        for version in current.scalars():
            if not _cn6_heavy_diesel(version) or version.network_status == "connected":
                continue
            status = {"disconnected": "未联网", None: "未填写"}.get(version.network_status, "未知")
            flags.append(
                _Flag(
                    "cn6_heavy_diesel_not_networked",
                    f"{version.vehicle_id}:{version.network_status}",
                    f"国六重型柴油货车 {version.plate or version.vin} 的联网状态为“{status}”",
                    vehicle_id=version.vehicle_id,
                    plate=version.plate,
                    detail={"version": version.version, "network_status": version.network_status},
                )
            )
    return flags, len(vehicle_ids)


def _cn6_heavy_diesel(version: m.VehicleVersion) -> bool:
    if version.status != "active" or version.category == "nrmm":
        return False
    if version.fuel_type != "B" or version.emission_stage != "6":
        return False
    try:
        return is_heavy_truck(version.vehicle_type, version.total_mass_kg)
    except InvalidValueError:
        return False


async def _blacklist(
    session: AsyncSession, tenant_id: uuid.UUID
) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
    rows = await session.execute(
        select(
            m.BlacklistEntry.plate,
            m.BlacklistEntry.created_at,
            m.BlacklistEntry.valid_until,
            m.BlacklistRevocation.created_at,
        )
        .outerjoin(
            m.BlacklistRevocation,
            (m.BlacklistRevocation.tenant_id == m.BlacklistEntry.tenant_id)
            & (m.BlacklistRevocation.entry_id == m.BlacklistEntry.id),
        )
        .where(m.BlacklistEntry.tenant_id == tenant_id)
    )
    out: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = {}
    for plate, since, until, revoked in rows:
        end = min((t for t in (until, revoked) if t is not None), default=None)
        out.setdefault(plate, []).append((since, end))
    return out


_INSERT_FLAGS = (
    pg_insert(m.CheckFlag)
    .on_conflict_do_nothing(index_elements=["tenant_id", "code", "subject_key"])
    .returning(m.CheckFlag.id, m.CheckFlag.code)
)


async def _insert(session: AsyncSession, tenant_id: uuid.UUID, flags: list[_Flag], run: CheckRun) -> None:
    if not flags:
        return
    unique: dict[tuple[str, str], _Flag] = {}
    for f in flags:
        unique.setdefault((f.code, f.subject_key), f)
    rows = [
        {
            "tenant_id": tenant_id,
            "id": uuid.uuid4(),
            "code": f.code,
            "subject_key": f.subject_key[:80],
            "pass_event_id": f.pass_event_id,
            "vehicle_id": f.vehicle_id,
            "plate": f.plate[:10] if f.plate else None,
            "occurred_at": f.occurred_at,
            "message": f.message[:400],
            "detail": f.detail,
        }
        for f in unique.values()
    ]
    # executemany form of one cached statement (sent as multi-row VALUES pages with RETURNING):
    # compiling ``.values(rows)`` anew held the event loop for up to a second per run, which the
    # hub's acks felt as latency spikes (docs/sync.md).
    result = await session.execute(_INSERT_FLAGS, rows)
    for flag_id, code in result:
        chain.note_new(session.sync_session, tenant_id, "check_flag", flag_id)
        run.flags_added += 1
        run.codes[code] = run.codes.get(code, 0) + 1


@dataclass(frozen=True)
class PassFinding:
    """A finding about one pass made outside :func:`run_checks` (the agent's weighing, a missing weight).

    Attributes:
        code: a reason code of :data:`REASONS`.
        message: the Chinese sentence shown with the flag.
        detail: extra facts kept with the flag (JSON).
        subject_key: what makes the flag one (idempotency with ``code``); None = the pass (one flag per
            pass and code, the logic checks' key); e.g. one per upload attempt for a platform rejection.
    """

    code: str
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    subject_key: str | None = None


async def open_pass_flags(
    session: AsyncSession, tenant_id: uuid.UUID, pass_event_id: uuid.UUID, findings: Iterable[PassFinding]
) -> CheckRun:
    """Open a check flag on a pass for each finding, like the logic checks do (the one writer of flags).

    Idempotent on ``(code, subject_key)``, by default with the pass id as the subject, the key the logic
    checks use for their own pass flags: a finding the checks also make (``exit_before_entry``,
    ``weighing_missing``) flags the pass once. The flag takes the pass's plate, time and vehicle; the
    new rows join the cloud hash chain at commit. Nothing is written for a pass this tenant does not
    hold (RLS) or an unknown code. Runs inside the caller's transaction.
    """
    run = CheckRun()
    known = [f for f in findings if f.code in REASONS]
    if not known:
        return run
    row = (
        await session.execute(
            select(m.PassEvent.plate, m.PassEvent.occurred_at, m.PassEvent.vehicle_id).where(
                m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == pass_event_id
            )
        )
    ).one_or_none()
    if row is None:
        return run
    flags = [
        _Flag(
            f.code,
            f.subject_key or str(pass_event_id),
            f.message,
            pass_event_id=pass_event_id,
            vehicle_id=row.vehicle_id,
            plate=row.plate or None,
            occurred_at=row.occurred_at,
            detail=dict(f.detail),
        )
        for f in known
    ]
    await _insert(session, tenant_id, flags, run)
    return run


class _NewPasses:
    """The passes received since a watermark, in pages ordered by receipt (``received_at``, id).

    With ``limit``, reading stops once about that many were read, on a whole receipt (the passes one
    transaction stored share its ``received_at``; the next run starts after the newest receipt time read
    here, less the re-read margin, so a receipt is never split) below the commit horizon, and
    :attr:`more` says so.
    """

    def __init__(
        self, tenant_id: uuid.UUID, since: dt.datetime | None, limit: int | None, horizon: dt.datetime | None
    ) -> None:
        self.tenant_id, self.since, self.limit, self.horizon = tenant_id, since, limit, horizon
        self.more = False

    def _settled(self, received_at: dt.datetime) -> bool:
        """Whether every pass received up to ``received_at`` is committed (below the commit horizon)."""
        return self.horizon is not None and received_at < self.horizon

    async def read(self, session: AsyncSession) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the pages (rows as dicts of :data:`_COLUMNS`)."""
        size = _BATCH if self.limit is None else max(1, min(_BATCH, self.limit))
        cursor: tuple[dt.datetime, uuid.UUID] | None = None
        read = 0
        while True:
            where, params = "", dict[str, Any]()
            if self.since is not None:
                where, params["since"] = " AND received_at > :since", self.since
            if cursor is not None:
                where += " AND (received_at, id) > (:c_at, :c_id)"
                params["c_at"], params["c_id"] = cursor
            rows = await self._select(session, where, params, size)
            yield rows
            read += len(rows)
            if len(rows) < size:
                return
            cursor = (rows[-1]["received_at"], rows[-1]["id"])
            # Stop only below the commit horizon: the watermark then moves to what was read. Beyond it
            # the watermark stays at the horizon, and a slice stopping there would read the same passes
            # again and again while an old transaction holds the horizon back: read on to the end.
            if self.limit is not None and read >= self.limit and self._settled(cursor[0]):
                where = " AND received_at = :c_at AND id > :c_id"
                rest = await self._select(session, where, {"c_at": cursor[0], "c_id": cursor[1]}, None)
                if rest:
                    yield rest
                self.more = True
                return

    async def _select(
        self, session: AsyncSession, where: str, params: dict[str, Any], size: int | None
    ) -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM pass_event WHERE tenant_id = :t{where} ORDER BY received_at, id"
        if size is not None:
            sql, params = sql + " LIMIT :n", {**params, "n": size}
        result = await session.execute(text(sql), {"t": self.tenant_id, **params})
        return [dict(r) for r in result.mappings()]


async def run_checks(
    session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime | None = None, *, max_passes: int | None = None
) -> CheckRun:
    """Run every logic check that is due for the tenant (inside the caller's transaction).

    Args:
        session: a writer's session scoped to the tenant.
        tenant_id: the tenant.
        now: the moment absences are judged at (tests pass a fixed one; default the database clock).
        max_passes: check at most about this many new passes (whole receipts: the passes one transaction
            stored are checked together) and set :attr:`CheckRun.more` when more are waiting; the hub's
            checks process takes a busy tenant in such slices, each its own short transaction, so its
            database work comes in short bursts between the acks instead of one long one
            (``cloud/hub/checks.py``). None: all of them.
    """
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"checks:{tenant_id}", 0))))
    moment = now or dt.datetime.now(dt.UTC)
    tenant = await session.get(m.Tenant, tenant_id)
    settings = CheckSettings.of(tenant.settings if tenant is not None else None)
    state = await session.scalar(select(m.CheckState).where(m.CheckState.tenant_id == tenant_id).with_for_update())
    if state is None:
        state = m.CheckState(tenant_id=tenant_id)
        session.add(state)
        await session.flush()
    run = CheckRun()
    ledger = _Ledger()
    blacklist = await _blacklist(session, tenant_id)
    # Incremental: passes from the last run's horizon on. Passes whose inserting transaction began
    # earlier but had not committed then are below no horizon (the horizon is the oldest open
    # transaction's start), so nothing is skipped and the re-read is a second, not minutes of passes.
    horizon: dt.datetime | None = await session.scalar(_HORIZON_SQL)
    since = (state.passes_until - _PASS_OVERLAP) if state.passes_until is not None else None
    newest = state.passes_until
    flags: list[_Flag] = []
    pages = _NewPasses(tenant_id, since, max_passes, horizon)
    async for rows in pages.read(session):
        around = await _neighbours(session, tenant_id, rows, settings)
        await ledger.load(session, tenant_id, rows)
        for row in rows:
            flags.extend(_check_pass(row, around.get(row["id"]), ledger, settings, blacklist))
            newest = row["received_at"] if newest is None else max(newest, row["received_at"])
        run.passes_checked += len(rows)
    run.more = pages.more
    # The absence sweeps scan days of records: at most once a minute unless a moment is given.
    if now is not None or state.swept_at is None or moment - state.swept_at >= _SWEEP_EVERY:
        flags.extend(await _weighing_flags(session, tenant_id, ledger, settings, moment))
        flags.extend(await _overstay_flags(session, tenant_id, ledger, settings, moment))
        state.swept_at = moment
    vehicle_flags, run.vehicles_checked = await _vehicle_flags(session, tenant_id, state.vehicles_until)
    flags.extend(vehicle_flags)
    await _insert(session, tenant_id, flags, run)
    # Never backwards: a transaction open now (holding the horizon back) began after the previous
    # run's horizon, so its passes are above the previous mark anyway.
    covered = newest if newest is None or horizon is None else min(newest, horizon)
    if covered is not None and state.passes_until is not None:
        covered = max(covered, state.passes_until)
    state.passes_until = covered
    state.vehicles_until = await session.scalar(
        select(func.max(m.VehicleVersion.created_at)).where(m.VehicleVersion.tenant_id == tenant_id)
    )
    await session.flush()
    return run
