"""盘点: counting in-plant vehicles and non-road machinery against the ledger (PRODUCT.md problem 4).

A sheet lists every active ledger vehicle of its scope (expected). People record what they find
(present or missing), and anything found that the ledger lacks becomes an unexpected line. The
differences — expected but missing, found but unregistered — each need a follow-up before the sheet
can be closed; a closed sheet is frozen (its summary goes to the audit log).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant
from cloud.lib.problems import ProblemError, not_found
from hj1321.vehicles import VehicleCategory
from tenants.context import Principal

SCOPES: Final = {"in_plant": ("in_plant",), "nrmm": ("nrmm",), "all": ("in_plant", "nrmm")}
SCOPE_LABELS: Final = {"in_plant": "厂内运输车辆", "nrmm": "非道路移动机械", "all": "厂内运输车辆和非道路移动机械"}


def identifier_key(raw: str) -> str:
    """The form identifiers are matched in (spaces removed, upper case)."""
    return "".join(str(raw).split()).upper()


@dataclass(frozen=True)
class SheetView:
    """A sheet with its lines and the differences."""

    sheet: m.InventorySheet
    lines: list[m.InventoryLine]

    @property
    def missing(self) -> list[m.InventoryLine]:
        """In the ledger, not found."""
        return [line for line in self.lines if line.expected and line.present is False]

    @property
    def unregistered(self) -> list[m.InventoryLine]:
        """Found, not in the ledger."""
        return [line for line in self.lines if not line.expected and line.present]

    @property
    def uncounted(self) -> list[m.InventoryLine]:
        """Not counted yet."""
        return [line for line in self.lines if line.present is None]


async def create(
    session: AsyncSession, principal: Principal, title: str, scope: str, site_id: uuid.UUID | None, note: str = ""
) -> SheetView:
    """Open a count sheet listing every active ledger vehicle of the scope.

    Raises:
        ProblemError: 422 empty title or unknown scope, 404 unknown site.
    """
    tenant_id = require_tenant(principal)
    errors = FieldErrors()
    if not title.strip():
        errors.add("title", "title.empty", "必须填写盘点名称")
    if scope not in SCOPES:
        errors.add("scope", "scope.unknown", "盘点范围应为 in_plant、nrmm 或 all")
    errors.raise_if_any()
    if site_id is not None and await session.scalar(select(m.Site.id).where(m.Site.id == site_id)) is None:
        raise not_found("厂区")
    sheet = m.InventorySheet(
        tenant_id=tenant_id,
        title=title.strip(),
        scope=scope,
        site_id=site_id,
        note=note.strip(),
        created_by=principal.user_id,
    )
    session.add(sheet)
    await session.flush()
    rows = await session.execute(
        select(m.Vehicle, m.VehicleVersion)
        .join(
            m.VehicleVersion,
            (m.VehicleVersion.tenant_id == m.Vehicle.tenant_id) & (m.VehicleVersion.id == m.Vehicle.current_version_id),
        )
        .where(m.Vehicle.category.in_(SCOPES[scope]), m.VehicleVersion.status == "active")
        .order_by(m.Vehicle.category, m.Vehicle.created_at)
    )
    seen: set[str] = set()
    for vehicle, version in rows:
        ident = identifier_key(
            version.internal_code or version.env_reg_code or version.plate or version.pin or str(vehicle.id)
        )
        if ident in seen:
            continue
        seen.add(ident)
        session.add(
            m.InventoryLine(
                tenant_id=tenant_id,
                sheet_id=sheet.id,
                vehicle_id=vehicle.id,
                category=vehicle.category,
                identifier=ident[:64],
                label=(version.brand_model or VehicleCategory(vehicle.category).label)[:100],
                expected=True,
            )
        )
    await session.flush()
    audit.record(
        session, principal, "inventory.opened", "inventory_sheet", sheet.id, {"scope": scope, "expected": len(seen)}
    )
    return await get(session, sheet.id)


async def get(session: AsyncSession, sheet_id: uuid.UUID) -> SheetView:
    """A sheet with its lines; 404 when it is not the caller's to see."""
    sheet = await session.scalar(select(m.InventorySheet).where(m.InventorySheet.id == sheet_id))
    if sheet is None:
        raise not_found("盘点单")
    lines = list(
        await session.scalars(
            select(m.InventoryLine)
            .where(m.InventoryLine.tenant_id == sheet.tenant_id, m.InventoryLine.sheet_id == sheet.id)
            .order_by(m.InventoryLine.expected.desc(), m.InventoryLine.identifier)
        )
    )
    return SheetView(sheet, lines)


async def list_sheets(session: AsyncSession, limit: int, offset: int) -> tuple[list[m.InventorySheet], int]:
    """Sheets, newest first."""
    rows = list(
        await session.scalars(
            select(m.InventorySheet).order_by(m.InventorySheet.created_at.desc(), m.InventorySheet.id.desc())
        )
    )
    return rows[offset : offset + limit], len(rows)


async def _open(session: AsyncSession, sheet_id: uuid.UUID) -> SheetView:
    view = await get(session, sheet_id)
    if view.sheet.status != "open":
        raise ProblemError(409, "inventory_closed", "盘点单已关闭", "已关闭的盘点单不能再修改")
    return view


@dataclass(frozen=True)
class Count:
    """One observation on the floor."""

    identifier: str
    present: bool
    note: str = ""


async def record_counts(
    session: AsyncSession, principal: Principal, sheet_id: uuid.UUID, counts: Sequence[Count]
) -> SheetView:
    """Record what was found; an identifier not on the sheet becomes an unexpected line.

    Raises:
        ProblemError: 404 unknown sheet, 409 closed sheet, 422 empty identifiers.
    """
    tenant_id = require_tenant(principal)
    errors = FieldErrors()
    for i, count in enumerate(counts):
        if not identifier_key(count.identifier):
            errors.add(f"items[{i}].identifier", "identifier.empty", "编号不能为空")
    errors.raise_if_any()
    view = await _open(session, sheet_id)
    by_key = {line.identifier: line for line in view.lines}
    now = dt.datetime.now(dt.UTC)
    for count in counts:
        key = identifier_key(count.identifier)[:64]
        line = by_key.get(key)
        if line is None:
            line = m.InventoryLine(
                tenant_id=tenant_id, sheet_id=sheet_id, vehicle_id=None, identifier=key, label="台账外", expected=False
            )
            session.add(line)
            by_key[key] = line
        line.present = count.present
        line.note = count.note.strip()[:200]
        line.counted_by = principal.user_id
        line.counted_at = now
    await session.flush()
    return await get(session, sheet_id)


async def close(
    session: AsyncSession, principal: Principal, sheet_id: uuid.UUID, follow_ups: dict[str, str]
) -> SheetView:
    """Close a sheet: every line counted, every difference with a follow-up (整改措施).

    Raises:
        ProblemError: 404, 409 closed, 422 ``inventory_incomplete`` listing what is missing.
    """
    view = await _open(session, sheet_id)
    errors = FieldErrors()
    for line in view.uncounted:
        errors.add(line.identifier, "line.uncounted", f"{line.identifier} 尚未盘点")
    clean = {identifier_key(k): v.strip() for k, v in follow_ups.items()}
    for line in [*view.missing, *view.unregistered]:
        action = clean.get(line.identifier, "") or (line.follow_up or "")
        if not action:
            what = "台账有但现场未找到" if line.expected else "现场有但台账未登记"
            errors.add(line.identifier, "line.follow_up_required", f"{line.identifier}（{what}）必须填写处理措施")
        else:
            line.follow_up = action[:200]
    errors.raise_if_any(code="inventory_incomplete", title="盘点单未完成")
    view.sheet.status = "closed"
    view.sheet.closed_by = principal.user_id
    view.sheet.closed_at = dt.datetime.now(dt.UTC)
    await session.flush()
    audit.record(
        session,
        principal,
        "inventory.closed",
        "inventory_sheet",
        view.sheet.id,
        {
            "lines": len(view.lines),
            "missing": [{"identifier": x.identifier, "follow_up": x.follow_up} for x in view.missing],
            "unregistered": [{"identifier": x.identifier, "follow_up": x.follow_up} for x in view.unregistered],
        },
    )
    return await get(session, sheet_id)
