"""The blacklist: excess-emission vehicles refused at every gate of the tenant (REGULATION.md §2.7, §4.4).

Entries belong to a tenant: a regulator's list reaches each enterprise (imported by it, or through the
uplink's downlink per tenant) and the plant may add its own; docs/adr/0005 explains why not a
regional table. Entries and revocations are append-only; an entry is active from its creation until
its ``valid_until`` or its revocation. Every change tells the agents (``blacklist_updated``); the
agent refuses a blacklisted plate and records the refusal (``blacklisted``), and the cloud flags a
blacklisted vehicle that was let in anyway (check ``blacklisted_allowed``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import push
from cloud.compliance.tables import ImportReport, RowReport, map_headers, parse_date, row_values
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import CHINA_TZ, FieldErrors, require_tenant
from cloud.lib.problems import FieldError, ProblemError, not_found
from cloud.lib.spreadsheets import read_table
from hj1321.colours import parse_plate_colour
from hj1321.errors import InvalidValueError
from hj1321.identifiers import parse_vin
from hj1321.plates import parse_plate
from tenants.context import Principal
from tenants.ids import new_id

SOURCES: Final = {"regulator": "监管部门下发", "enterprise": "企业自定"}
#: Import columns: field → accepted header spellings (the first is the one shown in messages).
COLUMNS: Final = {
    "plate": ("车牌号码", "车牌", "号牌号码", "plate"),
    "plate_colour": ("号牌颜色", "车牌颜色", "plate_colour"),
    "vin": ("车辆识别代号", "VIN", "车架号"),
    "reason": ("原因", "超标原因", "列入原因", "备注", "reason"),
    "valid_until": ("有效期至", "截止日期", "valid_until"),
    "list_name": ("名单名称", "来源文号", "list_name"),
}


@dataclass(frozen=True)
class EntryView:
    """An entry with its state."""

    entry: m.BlacklistEntry
    revocation: m.BlacklistRevocation | None

    @property
    def active(self) -> bool:
        """In force now."""
        if self.revocation is not None:
            return False
        until = self.entry.valid_until
        return until is None or until > dt.datetime.now(dt.UTC)


def _end_of_day(day: dt.date) -> dt.datetime:
    """``valid_until`` given as a date means the whole China day included."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CHINA_TZ)


async def list_entries(
    session: AsyncSession, active_only: bool, plate: str | None, limit: int, offset: int
) -> tuple[list[EntryView], int]:
    """Blacklist entries of the caller's tenant, newest first."""
    query = select(m.BlacklistEntry, m.BlacklistRevocation).outerjoin(
        m.BlacklistRevocation,
        (m.BlacklistRevocation.tenant_id == m.BlacklistEntry.tenant_id)
        & (m.BlacklistRevocation.entry_id == m.BlacklistEntry.id),
    )
    if active_only:
        query = query.where(
            m.BlacklistRevocation.id.is_(None),
            or_(m.BlacklistEntry.valid_until.is_(None), m.BlacklistEntry.valid_until > func.now()),
        )
    if plate:
        query = query.where(m.BlacklistEntry.plate.contains("".join(plate.split()).upper(), autoescape=True))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(m.BlacklistEntry.created_at.desc(), m.BlacklistEntry.id.desc()).limit(limit).offset(offset)
    )
    return [EntryView(e, r) for e, r in rows], total


async def active_plates(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, m.BlacklistEntry]:
    """Active entries by plate (what agents receive)."""
    views, _ = await list_entries(session, active_only=True, plate=None, limit=1_000_000, offset=0)
    return {v.entry.plate: v.entry for v in views if v.entry.tenant_id == tenant_id}


@dataclass(frozen=True)
class NewEntry:
    """A validated entry to add."""

    plate: str
    plate_colour: str | None
    vin: str | None
    reason: str
    valid_until: dt.datetime | None
    list_name: str | None


def validate_row(values: dict[str, Any]) -> tuple[NewEntry | None, list[FieldError]]:
    """Check one entry's fields; every offending field is reported."""
    errors = FieldErrors()
    plate = errors.check("plate", lambda v: parse_plate(v).number, values.get("plate") or "")
    colour_raw = values.get("plate_colour")
    colour = errors.check("plate_colour", lambda v: parse_plate_colour(v).value, colour_raw) if colour_raw else None
    vin_raw = values.get("vin")
    vin = errors.check("vin", parse_vin, vin_raw) if vin_raw else None
    until: dt.datetime | None = None
    if values.get("valid_until"):
        try:
            day = parse_date(values["valid_until"])
        except ValueError as exc:
            errors.add("valid_until", "valid_until.format", str(exc))
        else:
            until = _end_of_day(day)
            if until <= dt.datetime.now(dt.UTC):
                errors.add("valid_until", "valid_until.past", f"有效期“{day.isoformat()}”已过")
    reason = str(values.get("reason") or "").strip() or "超标排放车辆"
    if len(reason) > 200:
        errors.add("reason", "reason.too_long", "原因最多 200 个字")
    list_name = str(values.get("list_name") or "").strip() or None
    if list_name and len(list_name) > 100:
        errors.add("list_name", "list_name.too_long", "名单名称最多 100 个字")
    if errors.errors or plate is None:
        return None, errors.errors
    return NewEntry(plate, colour, vin, reason, until, list_name), []


async def _bump(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    count = await session.scalar(select(func.count(m.BlacklistEntry.id))) or 0
    revoked = await session.scalar(select(func.count(m.BlacklistRevocation.id))) or 0
    await push.notify_agents(session, tenant_id, "blacklist_updated", {"version": f"b{count}.{revoked}"})


async def add(session: AsyncSession, principal: Principal, values: dict[str, Any], source: str) -> m.BlacklistEntry:
    """Add one entry.

    Raises:
        ProblemError: 422 invalid fields, 409 ``blacklist_duplicate`` when the plate is already active.
    """
    tenant_id = require_tenant(principal)
    entry, errors = validate_row(values)
    if entry is None:
        raise ProblemError(422, "validation_failed", "数据校验未通过", "；".join(e.message for e in errors), errors)
    if entry.plate in await active_plates(session, tenant_id):
        raise ProblemError(409, "blacklist_duplicate", "车辆已在黑名单中", f"车辆 {entry.plate} 已在黑名单中")
    row = _row(tenant_id, principal, entry, source, None)
    session.add(row)
    await session.flush()
    audit.record(
        session, principal, "blacklist.added", "blacklist_entry", row.id, {"plate": row.plate, "source": source}
    )
    await _bump(session, tenant_id)
    return row


def _row(
    tenant_id: uuid.UUID, principal: Principal, entry: NewEntry, source: str, import_id: uuid.UUID | None
) -> m.BlacklistEntry:
    return m.BlacklistEntry(
        tenant_id=tenant_id,
        id=new_id(),
        plate=entry.plate,
        plate_colour=entry.plate_colour,
        vin=entry.vin,
        reason=entry.reason,
        source=source,
        list_name=entry.list_name,
        valid_until=entry.valid_until,
        import_id=import_id,
        created_by=principal.user_id,
    )


async def revoke(session: AsyncSession, principal: Principal, entry_id: uuid.UUID, reason: str) -> EntryView:
    """Take an entry off the blacklist (a revocation row).

    Raises:
        ProblemError: 404 unknown entry, 409 already revoked, 422 empty reason.
    """
    tenant_id = require_tenant(principal)
    if not reason.strip():
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            "必须填写撤销原因",
            [FieldError(field="reason", code="reason.empty", message="必须填写撤销原因")],
        )
    entry = await session.scalar(select(m.BlacklistEntry).where(m.BlacklistEntry.id == entry_id))
    if entry is None:
        raise not_found("黑名单记录")
    existing = await session.scalar(select(m.BlacklistRevocation).where(m.BlacklistRevocation.entry_id == entry_id))
    if existing is not None:
        raise ProblemError(409, "blacklist_revoked", "已撤销", "该黑名单记录已撤销")
    revocation = m.BlacklistRevocation(
        tenant_id=tenant_id, entry_id=entry_id, reason=reason.strip()[:200], created_by=principal.user_id
    )
    session.add(revocation)
    await session.flush()
    audit.record(
        session,
        principal,
        "blacklist.revoked",
        "blacklist_entry",
        entry_id,
        {"plate": entry.plate, "reason": reason.strip()},
    )
    await _bump(session, tenant_id)
    return EntryView(entry, revocation)


async def import_file(  # noqa: C901 - one pass over the rows
    session: AsyncSession,
    principal: Principal,
    data: bytes,
    filename: str,
    source: str = "regulator",
    list_name: str | None = None,
    *,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> ImportReport:
    """Import a regulator's list (CSV or .xlsx) with a report per row.

    A row is imported whole or not at all; a plate already active is ``skipped``; a plate twice in the
    file is an error on its second row. With ``all_or_nothing`` any row error imports nothing.

    Raises:
        ProblemError: 422 for an unreadable file or wrong columns (nothing imported).
    """
    tenant_id = require_tenant(principal)
    if source not in SOURCES:
        raise ProblemError(422, "validation_failed", "数据校验未通过", "来源应为 regulator 或 enterprise")
    header, body = await read_table(data, filename)  # streamed, capped, off the loop
    columns = map_headers(header, COLUMNS, ["plate"])
    active = await active_plates(session, tenant_id)
    report = ImportReport(dry_run=dry_run, all_or_nothing=all_or_nothing)
    seen: dict[str, int] = {}
    pending: list[NewEntry] = []
    for number, cells in body:
        values = row_values(cells, columns)
        if list_name and not values.get("list_name"):
            values["list_name"] = list_name
        entry, errors = validate_row(values)
        key = entry.plate if entry else str(values.get("plate") or "")
        if entry is not None and entry.plate in seen:
            errors = [FieldError(field="plate", code="plate.duplicate_row", message=f"与第 {seen[entry.plate]} 行重复")]
            entry = None
        if entry is None:
            report.rows.append(RowReport(number, "error", key, errors, "；".join(e.message for e in errors)))
            continue
        seen[entry.plate] = number
        if entry.plate in active:
            report.rows.append(RowReport(number, "skipped", key, [], "已在黑名单中"))
            continue
        pending.append(entry)
        report.rows.append(RowReport(number, "valid" if dry_run else "imported", key))
    if dry_run or (all_or_nothing and report.has_errors):
        if not dry_run:
            for r in report.rows:
                if r.status == "imported":
                    r.status, r.message = "not_imported", "文件中有错误行，按整批导入要求未导入"
        return report
    if pending:
        import_id = new_id()
        session.add_all([_row(tenant_id, principal, e, source, import_id) for e in pending])
        await session.flush()
        audit.record(
            session,
            principal,
            "blacklist.imported",
            "blacklist_import",
            import_id,
            {"file": filename[:100], "counts": report.counts, "source": source},
        )
        await _bump(session, tenant_id)
    return report


def parse_values_error(exc: InvalidValueError, field: str) -> FieldError:
    """An hj1321 error as a field error."""
    return FieldError(field=field, code=exc.code, message=exc.message)
