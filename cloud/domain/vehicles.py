"""The vehicle ledger: transport vehicles, in-plant vehicles and non-road mobile machinery.

A vehicle is a stable identity whose data lives in immutable versions (REGULATION.md §1.4.2):
creating writes version 1, a correction or a retirement writes the next version with who and why,
and ``vehicle.current_version_id`` moves to it. Versions are never updated (the application role
may only insert and read them).

Every field is checked against the hj1321 vocabulary (plate grammar, VIN check digit, code tables);
the category decides which fields apply and which are required, following §1.4.2's recommended
split: identity, emission stage and fuel type are required; descriptive fields are optional.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import reviews
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import CHINA_TZ, FieldErrors, require_tenant
from cloud.lib.problems import FieldError, ProblemError, not_found
from hj1321.colours import parse_plate_colour
from hj1321.emission import parse_emission_stage, parse_nrmm_stage
from hj1321.errors import InvalidValueError
from hj1321.identifiers import parse_vin
from hj1321.machinery import MachineKind, parse_env_code
from hj1321.plates import KIND_COLOURS, PlateColour, canonical_plate, parse_plate
from hj1321.vehicles import FuelType, PlateType, UseNature, VehicleCategory, VehicleType
from tenants.context import Principal

#: Every ledger field of a version, in the order of REGULATION.md §1.4.2.
DATA_FIELDS: Final = (
    "plate",
    "plate_colour",
    "plate_type",
    "vin",
    "env_reg_code",
    "internal_code",
    "pin",
    "local_code",
    "vehicle_type",
    "machine_kind",
    "brand_model",
    "register_date",
    "production_date",
    "engine_model",
    "engine_maker",
    "engine_no",
    "fuel_type",
    "emission_stage",
    "use_nature",
    "network_status",
    "env_list_no",
    "fleet_name",
    "owner_name",
    "owner_address",
    "total_mass_kg",
    "rated_load_kg",
    "extra",
)

_COMMON: Final = frozenset(
    {
        "brand_model",
        "production_date",
        "engine_model",
        "engine_maker",
        "engine_no",
        "fuel_type",
        "emission_stage",
        "env_list_no",
        "owner_name",
        "owner_address",
        "local_code",
        "extra",
    }
)
_ROAD: Final = frozenset(
    {
        "plate",
        "plate_colour",
        "plate_type",
        "vin",
        "vehicle_type",
        "register_date",
        "use_nature",
        "network_status",
        "total_mass_kg",
        "rated_load_kg",
    }
)
#: Which fields each category's ledger has (§1.4.2 (a) transport, (b) in-plant, (c) NRMM).
CATEGORY_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "transport": _COMMON | _ROAD | {"fleet_name"},
    "in_plant": _COMMON | _ROAD | {"env_reg_code", "internal_code"},
    "nrmm": _COMMON | {"plate", "env_reg_code", "pin", "machine_kind"},
}
#: Required fields per category; a tuple means "at least one of these".
REQUIRED: Final[Mapping[str, Sequence[str | tuple[str, ...]]]] = {
    "transport": ("plate", "plate_colour", "vin", "emission_stage", "fuel_type"),
    "in_plant": (("env_reg_code", "internal_code"), "vin", "emission_stage", "fuel_type"),
    "nrmm": ("env_reg_code", "pin", "emission_stage", "fuel_type"),
}
#: Document photos each category must hold at least one of (§1.4.1 tables 3–5).
REQUIRED_DOCUMENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "transport": ("env_list", "driving_license"),
    "in_plant": ("env_list", "driving_license"),
    "nrmm": ("engine_nameplate",),
}
DOCUMENT_KINDS: Final = {
    "env_list": "随车清单",
    "driving_license": "行驶证",
    "vehicle_nameplate": "整车（机）铭牌",
    "engine_nameplate": "发动机铭牌",
    "env_label": "机械环保信息标签",
    "other": "其他",
}
FIELD_LABELS: Final = {
    "plate": "车牌号码",
    "plate_colour": "号牌颜色",
    "plate_type": "号牌种类",
    "vin": "车辆识别代号",
    "env_reg_code": "环保登记编码",
    "internal_code": "内部管理号牌",
    "pin": "机械环保代码/产品识别码",
    "local_code": "地方登记编码",
    "vehicle_type": "车辆类型",
    "machine_kind": "机械种类",
    "brand_model": "品牌型号",
    "register_date": "注册登记日期",
    "production_date": "生产日期",
    "engine_model": "发动机型号",
    "engine_maker": "发动机生产厂",
    "engine_no": "发动机编号",
    "fuel_type": "燃料类型",
    "emission_stage": "排放阶段",
    "use_nature": "使用性质",
    "network_status": "联网状态",
    "env_list_no": "随车清单信息公开编号",
    "fleet_name": "车队名称",
    "owner_name": "车辆所有人（单位）",
    "owner_address": "车辆所有人地址",
    "total_mass_kg": "总质量",
    "rated_load_kg": "核定载质量",
    "extra": "扩展字段",
}
NETWORK_STATUSES: Final = {"connected": "已联网", "disconnected": "未联网", "unknown": "未知"}
_EARLIEST_DATE: Final = dt.date(1950, 1, 1)
_PIN: Final = re.compile(r"^[0-9A-Z\-]{1,64}$")
_LIST_NO: Final = re.compile(r"^[0-9A-Z\-]{1,32}$")
_NRMM_PLATE_MAX: Final = 10
_TEXT_FIELDS: Final = (
    "brand_model",
    "engine_model",
    "engine_maker",
    "engine_no",
    "fleet_name",
    "owner_name",
    "owner_address",
)
#: Fields that identify a vehicle: no two active vehicles of a tenant may share one.
IDENTITY_FIELDS: Final = ("plate", "vin", "env_reg_code", "pin")


def _category_label(category: str) -> str:
    return VehicleCategory(category).label


def _upper(raw: object, field: str, title: str, pattern: re.Pattern[str]) -> str:
    text = "".join(str(raw).split()).upper()
    if not pattern.fullmatch(text):
        raise InvalidValueError(f"{field}.format", f"{title}“{raw}”格式错误（数字、大写字母或“-”）", raw)
    return text


def _nrmm_plate(raw: object) -> str:
    # A machine's env plate (环保号牌) follows no road-plate grammar: a short registration-style code.
    text = parse_env_code(canonical_plate(str(raw)))
    if len(text) > _NRMM_PLATE_MAX:
        raise InvalidValueError("plate.length", f"机械环保号牌过长（最多 {_NRMM_PLATE_MAX} 位）", raw)
    return text


def _date(field: str, title: str) -> Callable[[object], dt.date]:
    def check(raw: object) -> dt.date:
        assert isinstance(raw, dt.date)
        today = dt.datetime.now(CHINA_TZ).date()
        if raw > today:
            raise InvalidValueError(f"{field}.future", f"{title}不能晚于今天", raw)
        if raw < _EARLIEST_DATE:
            raise InvalidValueError(f"{field}.too_early", f"{title}不能早于 1950 年", raw)
        return raw

    return check


def _parsers(category: str) -> dict[str, Callable[[object], Any]]:
    road = category != "nrmm"
    return {
        "plate": (lambda v: parse_plate(v).number) if road else _nrmm_plate,
        "plate_colour": lambda v: parse_plate_colour(v).value,
        "plate_type": lambda v: PlateType.parse(v).code,
        "vin": parse_vin,
        "env_reg_code": parse_env_code,
        "internal_code": parse_env_code,
        "local_code": parse_env_code,
        "pin": lambda v: _upper(v, "pin", "机械环保代码/产品识别码", _PIN),
        "env_list_no": lambda v: _upper(v, "env_list_no", "随车清单信息公开编号", _LIST_NO),
        "vehicle_type": lambda v: VehicleType.parse(v).code,
        "machine_kind": lambda v: MachineKind.parse(v).code,
        "fuel_type": lambda v: FuelType.parse(v).code,
        "emission_stage": (lambda v: parse_emission_stage(v).code) if road else (lambda v: parse_nrmm_stage(v).code),
        "use_nature": lambda v: UseNature.parse(v).code,
        "register_date": _date("register_date", "注册登记日期"),
        "production_date": _date("production_date", "生产日期"),
    }


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, dict) and not value)


def validate(category: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a full version's data for ``category``.

    Args:
        category: ``transport``, ``in_plant`` or ``nrmm``.
        data: field → raw value (None or blank = not given); unknown keys are a bug of the caller.

    Returns:
        Every field of :data:`DATA_FIELDS`, canonical (codes, canonical plate, upper-case VIN), or None.

    Raises:
        ProblemError: 422 ``validation_failed`` listing every offending field.
    """
    errors = FieldErrors()
    allowed = CATEGORY_FIELDS[category]
    parsers = _parsers(category)
    out: dict[str, Any] = dict.fromkeys(DATA_FIELDS)
    for field in DATA_FIELDS:
        value = data.get(field)
        if _blank(value):
            continue
        if field not in allowed:
            errors.add(
                field, f"{field}.not_applicable", f"{_category_label(category)}台账没有“{FIELD_LABELS[field]}”字段"
            )
            continue
        parse = parsers.get(field)
        if parse is not None:
            out[field] = errors.check(field, parse, value)
        elif isinstance(value, str):
            out[field] = value.strip()
        else:
            out[field] = value
    for rule in REQUIRED[category]:
        names = rule if isinstance(rule, tuple) else (rule,)
        if all(_blank(data.get(name)) for name in names):
            label = "或".join(f"“{FIELD_LABELS[n]}”" for n in names)
            errors.add(names[0], f"{names[0]}.required", f"{_category_label(category)}必须填写{label}")
    _cross_checks(category, out, errors)
    errors.raise_if_any()
    if out["extra"] is None:
        out["extra"] = {}
    return out


def _cross_checks(category: str, out: Mapping[str, Any], errors: FieldErrors) -> None:
    if category != "nrmm" and out["plate"] and out["plate_colour"]:
        plate = parse_plate(out["plate"])
        if PlateColour(out["plate_colour"]) not in KIND_COLOURS[plate.kind]:
            colours = "、".join(c.label for c in KIND_COLOURS[plate.kind])
            errors.add("plate_colour", "plate_colour.mismatch", f"{plate.kind.label}的号牌颜色应为{colours}")
    if out["register_date"] and out["production_date"] and out["register_date"] < out["production_date"]:
        errors.add("register_date", "register_date.before_production", "注册登记日期不能早于生产日期")
    total, rated = out["total_mass_kg"], out["rated_load_kg"]
    if total is not None and rated is not None and rated > total:
        errors.add("rated_load_kg", "rated_load_kg.exceeds_total", "核定载质量不能大于总质量")


# Reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VehicleDetail:
    """A vehicle with its current version, its whole version history and its documents."""

    vehicle: m.Vehicle
    current: m.VehicleVersion
    versions: list[m.VehicleVersion]
    documents: list[m.VehicleDocument]

    @property
    def missing_documents(self) -> list[str]:
        """What the ledger still lacks, e.g. ``随车清单或行驶证``."""
        return missing_documents(self.vehicle.category, {d.kind for d in self.documents})


def missing_documents(category: str, kinds: set[str]) -> list[str]:
    """Which required document photos a vehicle lacks (empty when complete)."""
    needed = REQUIRED_DOCUMENTS[category]
    if kinds.intersection(needed):
        return []
    return ["或".join(DOCUMENT_KINDS[k] for k in needed)]


def labels(version: m.VehicleVersion) -> dict[str, str]:
    """Chinese names of the coded fields of a version, for display."""
    out: dict[str, str] = {"category": _category_label(version.category)}
    coded: tuple[tuple[str, Callable[[str], str]], ...] = (
        ("plate_colour", lambda c: PlateColour(c).label),
        ("plate_type", lambda c: PlateType(c).label),
        ("vehicle_type", lambda c: VehicleType(c).label),
        ("machine_kind", lambda c: MachineKind(c).label),
        ("fuel_type", lambda c: FuelType(c).label),
        ("emission_stage", lambda c: parse_emission_stage(c).label),
        ("use_nature", lambda c: UseNature(c).label),
        ("network_status", NETWORK_STATUSES.__getitem__),
    )
    for field, label in coded:
        code = getattr(version, field)
        if code:
            try:
                out[field] = label(code)
            except (ValueError, KeyError, InvalidValueError):
                out[field] = code  # a code table that dropped a member still shows the stored code
    return out


async def get_vehicle(session: AsyncSession, vehicle_id: uuid.UUID) -> VehicleDetail:
    """Read a vehicle with its history; 404 when it is not the caller's to see."""
    vehicle = await session.scalar(select(m.Vehicle).where(m.Vehicle.id == vehicle_id))
    if vehicle is None:
        raise not_found("车辆")
    versions = list(
        await session.scalars(
            select(m.VehicleVersion)
            .where(m.VehicleVersion.tenant_id == vehicle.tenant_id, m.VehicleVersion.vehicle_id == vehicle.id)
            .order_by(m.VehicleVersion.version)
        )
    )
    documents = list(
        await session.scalars(
            select(m.VehicleDocument)
            .where(m.VehicleDocument.tenant_id == vehicle.tenant_id, m.VehicleDocument.vehicle_id == vehicle.id)
            .order_by(m.VehicleDocument.created_at, m.VehicleDocument.id)
        )
    )
    current = next(v for v in versions if v.id == vehicle.current_version_id)
    return VehicleDetail(vehicle, current, versions, documents)


@dataclass(frozen=True)
class VehicleFilter:
    """Search criteria; all optional, combined with AND."""

    category: str | None = None
    plate: str | None = None
    vin: str | None = None
    emission_stage: str | None = None
    status: str | None = None
    #: The effective review state (the review row's verdict, else the version's own): pending / verified / rejected.
    review: str | None = None


def _current() -> Select[m.Vehicle, m.VehicleVersion]:
    return select(m.Vehicle, m.VehicleVersion).join(
        m.VehicleVersion,
        (m.VehicleVersion.tenant_id == m.Vehicle.tenant_id) & (m.VehicleVersion.id == m.Vehicle.current_version_id),
    )


async def search_vehicles(
    session: AsyncSession, criteria: VehicleFilter, limit: int, offset: int
) -> tuple[list[tuple[m.Vehicle, m.VehicleVersion]], int]:
    """Vehicles whose current version matches, newest first, with the total count.

    Plate and VIN match anywhere in the canonical form (``A123`` finds ``鄂A12345``).

    Raises:
        ProblemError: 422 for an unknown emission stage.
    """
    errors = FieldErrors()
    query = _current()
    if criteria.category:
        query = query.where(m.Vehicle.category == criteria.category)
    if criteria.plate:
        query = query.where(m.VehicleVersion.plate.contains(canonical_plate(criteria.plate), autoescape=True))
    if criteria.vin:
        query = query.where(m.VehicleVersion.vin.contains("".join(criteria.vin.split()).upper(), autoescape=True))
    if criteria.emission_stage:
        stage = errors.check("emission_stage", parse_emission_stage, criteria.emission_stage)
        if stage is not None:
            query = query.where(m.VehicleVersion.emission_stage == stage.code)
    if criteria.status:
        query = query.where(m.VehicleVersion.status == criteria.status)
    if criteria.review:  # in the database (issue 19): the same rule as cloud.compliance.reviews.states
        verdict = (
            select(m.VehicleReview.decision)
            .where(
                m.VehicleReview.tenant_id == m.VehicleVersion.tenant_id,
                m.VehicleReview.version_id == m.VehicleVersion.id,
            )
            .limit(1)
            .scalar_subquery()
        )
        query = query.where(func.coalesce(verdict, m.VehicleVersion.review) == criteria.review)
    errors.raise_if_any()
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(m.Vehicle.created_at.desc(), m.Vehicle.id.desc()).limit(limit).offset(offset)
    )
    return [(vehicle, version) for vehicle, version in rows], total


# Writing ------------------------------------------------------------------------------------------


async def _check_duplicates(
    session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], exclude: uuid.UUID | None
) -> None:
    conditions = [getattr(m.VehicleVersion, f) == data[f] for f in IDENTITY_FIELDS if data.get(f)]
    if not conditions:
        return
    query = _current().where(m.Vehicle.tenant_id == tenant_id, m.VehicleVersion.status == "active", or_(*conditions))
    if exclude is not None:
        query = query.where(m.Vehicle.id != exclude)
    errors: list[FieldError] = []
    for _vehicle, version in await session.execute(query):
        for field in IDENTITY_FIELDS:
            if data.get(field) and getattr(version, field) == data[field]:
                message = f"{FIELD_LABELS[field]}“{data[field]}”已被台账中的其他在用车辆使用"
                errors.append(FieldError(field=field, code=f"{field}.duplicate", message=message))
    if errors:
        raise ProblemError(409, "vehicle_duplicate", "车辆重复", "；".join(e.message for e in errors), errors)


def _version(
    principal: Principal,
    vehicle: m.Vehicle,
    number: int,
    data: Mapping[str, Any],
    status: str,
    reason: str,
    review: str = "pending",
) -> m.VehicleVersion:
    return m.VehicleVersion(
        tenant_id=vehicle.tenant_id,
        vehicle_id=vehicle.id,
        version=number,
        category=vehicle.category,
        status=status,
        review=review,
        reason=reason,
        created_by=principal.user_id,
        **data,
    )


def version_data(version: m.VehicleVersion) -> dict[str, Any]:
    """The ledger fields of a version as a dict (copy)."""
    data = {f: getattr(version, f) for f in DATA_FIELDS}
    data["extra"] = dict(version.extra or {})
    return data


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            "必须填写原因",
            [FieldError(field="reason", code="reason.empty", message="必须填写原因")],
        )
    return text


async def create_vehicle(
    session: AsyncSession, principal: Principal, category: str, data: Mapping[str, Any], reason: str = "新建"
) -> VehicleDetail:
    """Add a vehicle to the ledger (version 1).

    Raises:
        ProblemError: 422 for invalid fields, 409 for a duplicate identity.
    """
    tenant_id = require_tenant(principal)
    clean = validate(category, data)
    reason = _reason(reason)
    await _check_duplicates(session, tenant_id, clean, None)
    vehicle = m.Vehicle(tenant_id=tenant_id, category=category, current_version=1)
    session.add(vehicle)
    await session.flush()
    version = _version(principal, vehicle, 1, clean, "active", reason)
    session.add(version)
    await session.flush()
    vehicle.current_version_id = version.id
    audit.record(
        session,
        principal,
        "vehicle.created",
        "vehicle",
        vehicle.id,
        {"category": category, "version": 1, "identity": _identity(clean), "reason": reason},
    )
    return VehicleDetail(vehicle, version, [version], [])


def _identity(data: Mapping[str, Any]) -> dict[str, Any]:
    return {f: data[f] for f in IDENTITY_FIELDS if data.get(f)}


async def _lock(
    session: AsyncSession, principal: Principal, vehicle_id: uuid.UUID
) -> tuple[m.Vehicle, m.VehicleVersion]:
    tenant_id = require_tenant(principal)
    vehicle = await session.scalar(
        select(m.Vehicle).where(m.Vehicle.tenant_id == tenant_id, m.Vehicle.id == vehicle_id).with_for_update()
    )
    if vehicle is None:
        raise not_found("车辆")
    current = await session.get(m.VehicleVersion, (tenant_id, vehicle.current_version_id))
    assert current is not None
    return vehicle, current


async def _append(
    session: AsyncSession,
    principal: Principal,
    vehicle: m.Vehicle,
    data: Mapping[str, Any],
    status: str,
    reason: str,
) -> m.VehicleVersion:
    number = vehicle.current_version + 1
    # Maker-checker (issue 6): a version that changes nothing reviewed keeps the previous verification.
    previous = await session.get(m.VehicleVersion, (vehicle.tenant_id, vehicle.current_version_id))
    review = "pending"
    if previous is not None:
        review = reviews.carried_review(await reviews.state_of(session, previous), version_data(previous), data)
    version = _version(principal, vehicle, number, data, status, reason, review)
    session.add(version)
    await session.flush()
    vehicle.current_version_id = version.id
    vehicle.current_version = number
    return version


async def correct_vehicle(
    session: AsyncSession, principal: Principal, vehicle_id: uuid.UUID, changes: Mapping[str, Any], reason: str
) -> VehicleDetail:
    """Correct a vehicle: a new version with ``changes`` applied (None clears a field).

    Raises:
        ProblemError: 404 outside the tenant, 409 for a retired vehicle or a duplicate identity,
            422 for invalid fields, no change, or an empty reason.
    """
    reason = _reason(reason)
    vehicle, current = await _lock(session, principal, vehicle_id)
    if current.status == "retired":
        raise ProblemError(409, "vehicle_retired", "车辆已注销", "已注销的车辆不能更正")
    merged = version_data(current)
    merged.update(changes)
    clean = validate(vehicle.category, merged)
    before = version_data(current)
    diff = {f: {"from": _json(before[f]), "to": _json(clean[f])} for f in DATA_FIELDS if before[f] != clean[f]}
    if not diff:
        raise ProblemError(422, "no_change", "没有需要更正的内容", "更正内容与当前版本相同")
    await _check_duplicates(session, vehicle.tenant_id, clean, vehicle.id)
    await _append(session, principal, vehicle, clean, "active", reason)
    audit.record(
        session,
        principal,
        "vehicle.corrected",
        "vehicle",
        vehicle.id,
        {"version": vehicle.current_version, "reason": reason, "changes": diff},
    )
    return await get_vehicle(session, vehicle.id)


def _json(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


async def retire_vehicle(
    session: AsyncSession, principal: Principal, vehicle_id: uuid.UUID, reason: str
) -> VehicleDetail:
    """Retire a vehicle (注销): a new version with status ``retired`` and the reason.

    Raises:
        ProblemError: 404 outside the tenant, 409 when already retired, 422 for an empty reason.
    """
    reason = _reason(reason)
    vehicle, current = await _lock(session, principal, vehicle_id)
    if current.status == "retired":
        raise ProblemError(409, "vehicle_retired", "车辆已注销", "该车辆已注销")
    await _append(session, principal, vehicle, version_data(current), "retired", reason)
    audit.record(
        session,
        principal,
        "vehicle.retired",
        "vehicle",
        vehicle.id,
        {"version": vehicle.current_version, "reason": reason},
    )
    return await get_vehicle(session, vehicle.id)
