"""Corrections of pass events (更正): new rows with who and why; the event itself never changes.

A correction restates the fields it changes (plate, plate colour, registered vehicle, direction, cargo,
net weight) or voids the pass (a phantom or duplicate read). The newest correction of a pass is the
one in force; the ledger figures (``cloud.reports.facts``) apply it, and the record detail shows the
whole timeline. Every correction is written to the audit log and sealed in the tenant's cloud chain
(``cloud.db.sealing``) in the same transaction. This module is the only writer of ``pass_correction``
(ADR 0024).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant
from cloud.lib.problems import not_found
from hj1321 import PlateColour
from hj1321.plates import parse_plate
from tenants.context import Principal

#: The heaviest net weight a correction may state (kg), the weighing table's bound.
MAX_NET_KG = Decimal(200000)


@dataclass(frozen=True)
class CorrectionInput:
    """What a person asks to change; None keeps the event's value."""

    reason: str
    plate: str | None = None
    plate_colour: str | None = None
    vehicle_id: uuid.UUID | None = None
    direction: str | None = None
    cargo_name: str | None = None
    net_kg: str | int | float | None = None
    void: bool = False


async def correct_pass(
    session: AsyncSession, principal: Principal, pass_id: uuid.UUID, data: CorrectionInput
) -> m.PassCorrection:
    """Record a correction of the caller's pass event (inside the caller's transaction).

    Raises:
        ProblemError: 404 when the pass is not the caller's, 422 with field errors for invalid values,
            an empty reason or nothing to change.
    """
    tenant_id = require_tenant(principal)
    event = await session.scalar(
        select(m.PassEvent).where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == pass_id)
    )
    if event is None:
        raise not_found("通行记录")
    errors = FieldErrors()
    reason = data.reason.strip()
    if not reason:
        errors.add("reason", "reason.empty", "必须填写更正原因")
    elif len(reason) > 200:
        errors.add("reason", "reason.too_long", "更正原因不能超过 200 个字")
    plate = _plate(data.plate, errors)
    colour = _colour(data.plate_colour, errors)
    if data.direction is not None and data.direction not in ("in", "out"):
        errors.add("direction", "direction.invalid", "进出方向只能是 进厂(in) 或 出厂(out)")
    cargo = data.cargo_name.strip() if data.cargo_name is not None else None
    if cargo is not None and not 0 < len(cargo) <= 64:
        errors.add("cargo_name", "cargo_name.invalid", "货物名称应为 1–64 个字")
    net = _net(data.net_kg, errors)
    if data.vehicle_id is not None:
        vehicle = await session.scalar(
            select(m.Vehicle.id).where(m.Vehicle.tenant_id == tenant_id, m.Vehicle.id == data.vehicle_id)
        )
        if vehicle is None:
            errors.add("vehicle_id", "vehicle.unknown", "车辆台账中没有该车辆")
    changes = {
        "plate": plate,
        "plate_colour": colour,
        "vehicle_id": data.vehicle_id,
        "direction": data.direction,
        "cargo_name": cargo,
        "net_kg": net,
    }
    if not errors.errors and not data.void and all(v is None for v in changes.values()):
        errors.add("changes", "changes.empty", "请至少更正一项内容，或作废该记录")
    errors.raise_if_any()
    correction = m.PassCorrection(
        tenant_id=tenant_id,
        pass_event_id=event.id,
        **changes,
        void=data.void,
        reason=reason,
        created_by=principal.user_id,
        created_by_login=principal.login or str(principal.user_id),
    )
    session.add(correction)
    await session.flush()
    audit.record(
        session,
        principal,
        "pass.voided" if data.void else "pass.corrected",
        "pass_event",
        event.id,
        {"reason": reason, "correction_id": str(correction.id), "changes": _jsonable(changes)},
    )
    return correction


async def list_corrections(session: AsyncSession, pass_id: uuid.UUID) -> list[m.PassCorrection]:
    """The corrections of a pass, oldest first (RLS limits them to the caller's tenant)."""
    rows = await session.scalars(
        select(m.PassCorrection)
        .where(m.PassCorrection.pass_event_id == pass_id)
        .order_by(m.PassCorrection.created_at, m.PassCorrection.id)
    )
    return list(rows)


def _plate(raw: str | None, errors: FieldErrors) -> str | None:
    if raw is None:
        return None
    parsed = errors.check("plate", parse_plate, raw)
    return parsed.number if parsed is not None else None


def _colour(raw: str | None, errors: FieldErrors) -> str | None:
    if raw is None:
        return None
    try:
        return PlateColour(raw).value
    except ValueError:
        names = "、".join(f"{c.label}（{c.value}）" for c in PlateColour)
        errors.add("plate_colour", "plate_colour.invalid", f"号牌颜色应为：{names}")
        return None


def _net(raw: str | float | None, errors: FieldErrors) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = Decimal(str(raw)).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        errors.add("net_kg", "net_kg.invalid", "净重应为以千克计的数字")
        return None
    if not Decimal(0) <= value <= MAX_NET_KG:
        errors.add("net_kg", "net_kg.range", "净重应在 0–200000 千克之间")
        return None
    return value


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, (uuid.UUID, Decimal)) else v) for k, v in changes.items() if v is not None}
