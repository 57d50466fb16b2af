"""Bulk import of the vehicle ledger from Excel/CSV, with a report per row (PRODUCT.md capability 1).

Columns are the ledger's Chinese field names (docs/api.md "The vehicle ledger"; the field codes are
accepted too) plus 台账类别. A file with an unknown, duplicated or missing column imports nothing.
Each row is created through ``cloud.domain.vehicles.create_vehicle`` — the same validation, duplicate
checks, versioning, audit and maker-checker state as the portal — inside its own savepoint, so a row
is imported whole or not at all. An identity (plate, VIN, env code, PIN) repeated in the file is an
error on its later row. Imported vehicles start ``pending`` review like any new vehicle.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance.tables import ImportReport, RowReport, map_headers, parse_date, parse_int, row_values
from cloud.domain import audit, vehicles
from cloud.domain.common import require_tenant
from cloud.lib.problems import FieldError, ProblemError
from cloud.lib.spreadsheets import read_table
from hj1321.errors import InvalidValueError
from hj1321.vehicles import VehicleCategory
from tenants.context import Principal
from tenants.ids import new_id

_ALIASES: Final = {
    "plate": ("车牌", "号牌号码", "环保号牌"),
    "vin": ("VIN", "车架号"),
    "env_reg_code": ("登记编码", "环保编码"),
    "internal_code": ("内部编号", "内部管理号牌", "厂内编号"),
    "pin": ("机械环保代码", "产品识别码", "PIN"),
    "brand_model": ("车辆型号", "机械型号", "品牌型号"),
    "emission_stage": ("排放标准",),
    "fuel_type": ("燃料种类",),
    "owner_name": ("车辆所有人", "所属单位", "所有人"),
    "total_mass_kg": ("总质量（kg）", "总质量kg"),
    "rated_load_kg": ("核定载质量（kg）", "核定载质量kg"),
}
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "category": ("台账类别", "类别", "category"),
    **{
        name: (vehicles.FIELD_LABELS[name], name, *_ALIASES.get(name, ()))
        for name in vehicles.DATA_FIELDS
        if name != "extra"
    },
    "reason": ("原因", "备注", "reason"),
}
_NETWORK: Final = {
    "已联网": "connected",
    "未联网": "disconnected",
    "未知": "unknown",
    "是": "connected",
    "否": "disconnected",
}
_DATES: Final = ("register_date", "production_date")
_INTS: Final = ("total_mass_kg", "rated_load_kg")


def _convert(
    values: dict[str, Any], default_category: str | None
) -> tuple[str | None, dict[str, Any], str, list[FieldError]]:
    errors: list[FieldError] = []
    raw_category = values.pop("category", "") or default_category or ""
    category: str | None = None
    try:
        category = VehicleCategory.parse(raw_category).value if raw_category else None
    except InvalidValueError as exc:
        errors.append(FieldError(field="category", code=exc.code, message=exc.message))
    if category is None and not errors:
        errors.append(FieldError(field="category", code="category.required", message="必须填写台账类别"))
    reason = str(values.pop("reason", "") or "").strip() or "批量导入"
    data: dict[str, Any] = {}
    for name, value in values.items():
        if value == "" or value is None:
            continue
        try:
            if name in _DATES:
                data[name] = parse_date(value)
            elif name in _INTS:
                data[name] = parse_int(value, vehicles.FIELD_LABELS[name])
            elif name == "network_status":
                text = str(value).strip()
                if text not in vehicles.NETWORK_STATUSES and text not in _NETWORK:
                    raise ValueError(f"联网状态“{text}”应为 已联网/未联网/未知")  # noqa: TRY301
                data[name] = _NETWORK.get(text, text)
            else:
                data[name] = str(value).strip()
        except ValueError as exc:
            errors.append(FieldError(field=name, code=f"{name}.format", message=str(exc)))
    return category, data, reason, errors


async def import_file(  # noqa: C901, PLR0912 - one pass over the rows
    session: AsyncSession,
    principal: Principal,
    data: bytes,
    filename: str,
    default_category: str | None = None,
    *,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> ImportReport:
    """Import vehicles row by row inside the caller's transaction.

    Raises:
        ProblemError: 422 for an unreadable file or wrong columns (nothing imported).
    """
    require_tenant(principal)
    header, body = await read_table(data, filename)  # streamed, capped, off the loop
    columns = map_headers(header, COLUMNS, ["emission_stage"] if default_category else ["category", "emission_stage"])
    report = ImportReport(dry_run=dry_run, all_or_nothing=all_or_nothing)
    seen: dict[tuple[str, str], int] = {}
    outer = await session.begin_nested()  # the whole import, undone for a dry run or a failed all-or-nothing
    imported: list[str] = []
    for number, cells in body:
        category, fields, reason, errors = _convert(row_values(cells, columns), default_category)
        key = str(fields.get("plate") or fields.get("vin") or fields.get("env_reg_code") or fields.get("pin") or "")
        if not errors and category is not None:
            try:
                clean = vehicles.validate(category, fields)
            except ProblemError as problem:
                errors = list(problem.errors)
            else:
                for identity in vehicles.IDENTITY_FIELDS:
                    value = clean.get(identity)
                    if value and (identity, value) in seen:
                        label = vehicles.FIELD_LABELS[identity]
                        errors.append(
                            FieldError(
                                field=identity,
                                code=f"{identity}.duplicate_row",
                                message=f"{label}“{value}”与第 {seen[(identity, value)]} 行重复",
                            )
                        )
                if not errors:
                    for identity in vehicles.IDENTITY_FIELDS:
                        if clean.get(identity):
                            seen[(identity, clean[identity])] = number
        if not errors and category is not None:
            row = await session.begin_nested()
            try:
                detail = await vehicles.create_vehicle(session, principal, category, fields, reason)
            except ProblemError as problem:
                await row.rollback()
                errors = list(problem.errors) or [FieldError(field="row", code=problem.code, message=problem.detail)]
            else:
                await row.commit()
                imported.append(str(detail.vehicle.id))
        if errors:
            report.rows.append(RowReport(number, "error", key, errors, "；".join(e.message for e in errors)))
        else:
            report.rows.append(RowReport(number, "valid" if dry_run else "imported", key))
    if dry_run or (all_or_nothing and report.has_errors):
        await outer.rollback()
        if not dry_run:
            for r in report.rows:
                if r.status == "imported":
                    r.status, r.message = "not_imported", "文件中有错误行，按整批导入要求未导入"
        return report
    await outer.commit()
    if imported:
        audit.record(
            session,
            principal,
            "vehicle.imported",
            "vehicle_import",
            new_id(),
            {"file": filename[:100], "counts": report.counts},
        )
    return report
