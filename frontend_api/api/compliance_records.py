"""Compliance records API (issue 6): blacklist, ledger imports (Excel and 随车清单 QR), inventories
(盘点) and quarterly audit samples."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import blacklist, inventory, qr, sampling, service, vehicle_import
from cloud.compliance.tables import ImportReport
from cloud.domain import vehicles
from cloud.lib.problems import ProblemError
from frontend_api.api.compliance import REVIEWERS
from frontend_api.api.schemas import Limit, Offset, Page, PlateQuery, Reason
from tenants.context import Principal

if TYPE_CHECKING:
    from cloud.db import models as m

# A 20,000-row vehicle ledger is about 6 MB as CSV; a larger body is refused from its Content-Length,
# before it is read (issue 17: a 16 MB CSV held the process for 6.9 s).
_MAX_IMPORT_BYTES = 10 * 1024 * 1024
_IMPORT_BODY = _MAX_IMPORT_BYTES + 64 * 1024  # the multipart envelope and the form fields


# Import reports --------------------------------------------------------------------------------


class RowErrorOut(msgspec.Struct):
    """One problem of one row."""

    field: str
    code: str
    message: str


class RowOut(msgspec.Struct):
    """One data row's outcome (``row`` is the spreadsheet row, the header being row 1)."""

    row: int
    status: str
    key: str
    message: str
    errors: list[RowErrorOut]


class ImportOut(msgspec.Struct):
    """The per-row report of an import."""

    dry_run: bool
    all_or_nothing: bool
    counts: dict[str, int]
    rows: list[RowOut]


def _report(report: ImportReport) -> ImportOut:
    return ImportOut(
        report.dry_run,
        report.all_or_nothing,
        report.counts,
        [
            RowOut(r.row, r.status, r.key, r.message, [RowErrorOut(e.field, e.code, e.message) for e in r.errors])
            for r in report.rows
        ],
    )


async def _read(upload: UploadFile) -> bytes:
    data = await upload.read(_MAX_IMPORT_BYTES + 1)
    if len(data) > _MAX_IMPORT_BYTES:
        raise ProblemError(413, "file_too_large", "文件过大", f"导入文件最大 {_MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    return data


# Blacklist -------------------------------------------------------------------------------------


class BlacklistOut(msgspec.Struct, kw_only=True):
    """A blacklist entry and whether it is in force."""

    id: uuid.UUID
    plate: str
    plate_colour: str | None
    vin: str | None
    reason: str
    source: str
    source_label: str
    list_name: str | None
    valid_until: dt.datetime | None
    active: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None


def _entry(view: blacklist.EntryView) -> BlacklistOut:
    e, r = view.entry, view.revocation
    return BlacklistOut(
        id=e.id,
        plate=e.plate,
        plate_colour=e.plate_colour,
        vin=e.vin,
        reason=e.reason,
        source=e.source,
        source_label=blacklist.SOURCES[e.source],
        list_name=e.list_name,
        valid_until=e.valid_until,
        active=view.active,
        created_at=e.created_at,
        revoked_at=r.created_at if r else None,
        revoke_reason=r.reason if r else None,
    )


@get("/compliance/blacklist", operation_id="ListBlacklist")
async def list_blacklist(
    session: NamedDependency[AsyncSession],
    active: FromQuery[bool] = True,
    plate: PlateQuery = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[BlacklistOut]:
    """Blacklisted vehicles (in force by default)."""
    async with session.begin():
        rows, total = await blacklist.list_entries(session, active_only=active, plate=plate, limit=limit, offset=offset)
    return Page([_entry(v) for v in rows], total, limit, offset)


class BlacklistIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One vehicle to refuse at every gate."""

    plate: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    plate_colour: Annotated[str, msgspec.Meta(max_length=12)] | None = None
    vin: Annotated[str, msgspec.Meta(max_length=24)] | None = None
    reason: Reason = "超标排放车辆"
    source: Literal["regulator", "enterprise"] = "enterprise"
    list_name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    valid_until: dt.date | None = None


@post("/compliance/blacklist", operation_id="AddBlacklistEntry")
async def add_blacklist(
    data: JSONBody[BlacklistIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> BlacklistOut:
    """Add a vehicle to the blacklist; agents are told at once."""
    values: dict[str, Any] = msgspec.to_builtins(data)
    values["valid_until"] = data.valid_until
    async with session.begin():
        row = await blacklist.add(session, principal, values, data.source)
    return _entry(blacklist.EntryView(row, None))


@post("/compliance/blacklist/{entry_id:uuid}/revoke", operation_id="RevokeBlacklistEntry", status_code=200)
async def revoke_blacklist(
    entry_id: FromPath[uuid.UUID],
    data: JSONBody[RevokeIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> BlacklistOut:
    """Take a vehicle off the blacklist (the entry stays, with its revocation)."""
    async with session.begin():
        view = await blacklist.revoke(session, principal, entry_id, data.reason)
    return _entry(view)


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why."""

    reason: Reason


@dataclass
class BlacklistImport:
    """A regulator's list (CSV or .xlsx): 车牌号码 required; 号牌颜色, 车辆识别代号, 原因, 有效期至, 名单名称 optional.

    Fields: the file, the source, the list name, a dry run, all-or-nothing.
    """

    file: UploadFile
    source: Literal["regulator", "enterprise"] = "regulator"
    list_name: str | None = None
    dry_run: bool = False
    all_or_nothing: bool = False


@post(
    "/compliance/blacklist/import", operation_id="ImportBlacklist", status_code=200, request_max_body_size=_IMPORT_BODY
)
async def import_blacklist(
    data: MultipartBody[BlacklistImport], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> ImportOut:
    """Import a list of excess-emission vehicles with a report per row."""
    content = await _read(data.file)
    async with session.begin():
        report = await blacklist.import_file(
            session,
            principal,
            content,
            data.file.filename or "",
            data.source,
            (data.list_name or "").strip()[:100] or None,
            dry_run=data.dry_run,
            all_or_nothing=data.all_or_nothing,
        )
    return _report(report)


# Vehicle ledger imports --------------------------------------------------------------------------


@dataclass
class VehicleImport:
    """An Excel/CSV ledger: the Chinese field names as columns, plus 台账类别 (or ``category`` here)."""

    file: UploadFile
    category: Literal["transport", "in_plant", "nrmm"] | None = None
    dry_run: bool = False
    all_or_nothing: bool = False


@post("/vehicles/import", operation_id="ImportVehicles", status_code=200, request_max_body_size=_IMPORT_BODY)
async def import_vehicles(
    data: MultipartBody[VehicleImport], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> ImportOut:
    """Bulk-import vehicles; each row is imported whole or not at all, with its reasons."""
    content = await _read(data.file)
    async with session.begin():
        report = await vehicle_import.import_file(
            session,
            principal,
            content,
            data.file.filename or "",
            data.category,
            dry_run=data.dry_run,
            all_or_nothing=data.all_or_nothing,
        )
    return _report(report)


class QrOut(msgspec.Struct):
    """Fields read from a 随车清单 QR code, to prefill the ledger."""

    shape: str
    ok: bool
    fields: dict[str, Any]
    errors: list[RowErrorOut]
    warnings: list[str]
    unknown_keys: list[str]
    payload: str


def _qr(result: qr.QrResult, payload: str) -> QrOut:
    fields = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in result.fields.items()}
    return QrOut(
        result.shape,
        result.ok,
        fields,
        [RowErrorOut(e.field, e.code, e.message) for e in result.errors],
        result.warnings,
        result.unknown_keys,
        payload,
    )


@dataclass
class QrUpload:
    """Either the decoded text of the QR code, or a photo of it."""

    payload: str | None = None
    image: UploadFile | None = None


@post("/vehicles/qr", operation_id="ReadVehicleQr", status_code=200, request_max_body_size=_IMPORT_BODY)
async def read_qr(data: MultipartBody[QrUpload]) -> QrOut:
    """Read a 随车清单 QR code (text or photo) into ledger fields; nothing is written."""
    if data.image is not None:
        payload = qr.decode_image(await _read(data.image))
    elif data.payload:
        payload = data.payload
    else:
        raise ProblemError(422, "validation_failed", "数据校验未通过", "请上传二维码图片或填写二维码内容")
    return _qr(qr.parse_payload(payload[: qr.MAX_PAYLOAD + 1]), payload[:4096])


class QrApply(msgspec.Struct, forbid_unknown_fields=True):
    """Apply a QR payload to a vehicle as a correction (a changed stage needs review again)."""

    payload: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    reason: Reason = "随车清单扫码导入"


@post("/vehicles/{vehicle_id:uuid}/qr", operation_id="ApplyVehicleQr", status_code=200)
async def apply_qr(
    vehicle_id: FromPath[uuid.UUID],
    data: JSONBody[QrApply],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> dict[str, Any]:
    """Fill a vehicle's VIN, model, engine and emission stage from its 随车清单 QR code (a new version)."""
    result = qr.parse_payload(data.payload)
    async with session.begin():
        detail = await vehicles.get_vehicle(session, vehicle_id)  # 404 before anything else
        if not result.ok:
            raise ProblemError(
                422,
                "qr_invalid",
                "二维码内容无法使用",
                "；".join(e.message for e in result.errors) or "二维码中没有可用的字段",
                list(result.errors),
            )
        allowed = vehicles.CATEGORY_FIELDS[detail.vehicle.category]
        changes = {k: v for k, v in result.fields.items() if k in allowed}
        detail = await vehicles.correct_vehicle(session, principal, vehicle_id, changes, data.reason)
    return {
        "vehicle_id": str(detail.vehicle.id),
        "version": detail.current.version,
        "review": detail.current.review,
        "applied": sorted(changes),
        "warnings": result.warnings,
    }


# Inventory ---------------------------------------------------------------------------------------


class LineOut(msgspec.Struct, kw_only=True):
    """One line of a count sheet."""

    id: uuid.UUID
    identifier: str
    label: str
    category: str | None
    vehicle_id: uuid.UUID | None
    expected: bool
    present: bool | None
    note: str
    follow_up: str | None
    counted_at: dt.datetime | None


class SheetOut(msgspec.Struct, kw_only=True):
    """A count sheet with its differences."""

    id: uuid.UUID
    title: str
    scope: str
    scope_label: str
    site_id: uuid.UUID | None
    status: str
    note: str
    created_at: dt.datetime
    closed_at: dt.datetime | None
    expected: int
    counted: int
    missing: list[str]
    unregistered: list[str]
    lines: list[LineOut]


def _sheet(view: inventory.SheetView) -> SheetOut:
    s = view.sheet
    return SheetOut(
        id=s.id,
        title=s.title,
        scope=s.scope,
        scope_label=inventory.SCOPE_LABELS[s.scope],
        site_id=s.site_id,
        status=s.status,
        note=s.note,
        created_at=s.created_at,
        closed_at=s.closed_at,
        expected=sum(1 for x in view.lines if x.expected),
        counted=sum(1 for x in view.lines if x.present is not None),
        missing=[x.identifier for x in view.missing],
        unregistered=[x.identifier for x in view.unregistered],
        lines=[
            LineOut(
                id=x.id,
                identifier=x.identifier,
                label=x.label,
                category=x.category,
                vehicle_id=x.vehicle_id,
                expected=x.expected,
                present=x.present,
                note=x.note,
                follow_up=x.follow_up,
                counted_at=x.counted_at,
            )
            for x in view.lines
        ],
    )


class SheetIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new count sheet."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scope: Literal["in_plant", "nrmm", "all"] = "all"
    site_id: uuid.UUID | None = None
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


@get("/compliance/inventories", operation_id="ListInventories")
async def list_inventories(
    session: NamedDependency[AsyncSession], limit: FromQuery[Limit] = 50, offset: FromQuery[Offset] = 0
) -> Page[dict[str, Any]]:
    """Count sheets, newest first."""
    async with session.begin():
        rows, total = await inventory.list_sheets(session, limit, offset)
    items = [
        {
            "id": str(s.id),
            "title": s.title,
            "scope": s.scope,
            "status": s.status,
            "created_at": s.created_at.isoformat(),
        }
        for s in rows
    ]
    return Page(items, total, limit, offset)


@post("/compliance/inventories", operation_id="CreateInventory")
async def create_inventory(
    data: JSONBody[SheetIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> SheetOut:
    """Open a count sheet of the in-plant vehicles and/or machinery the ledger lists."""
    async with session.begin():
        view = await inventory.create(session, principal, data.title, data.scope, data.site_id, data.note)
    return _sheet(view)


@get("/compliance/inventories/{inventory_id:uuid}", operation_id="GetInventory")
async def get_inventory(inventory_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> SheetOut:
    """A count sheet with its lines and differences."""
    async with session.begin():
        view = await inventory.get(session, inventory_id)
    return _sheet(view)


@get("/compliance/inventories/{inventory_id:uuid}/sheet", operation_id="ExportInventorySheet", media_type="text/csv")
async def export_sheet(inventory_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> Response[bytes]:
    """The printable count sheet (CSV, UTF-8 with BOM for Excel)."""
    async with session.begin():
        view = await inventory.get(session, inventory_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["编号", "名称", "类别", "台账内", "盘点结果", "备注", "处理措施"])
    for line in view.lines:
        present = "" if line.present is None else ("在场" if line.present else "未找到")
        writer.writerow(
            [
                line.identifier,
                line.label,
                line.category or "",
                "是" if line.expected else "否",
                present,
                line.note,
                line.follow_up or "",
            ]
        )
    headers = {"Content-Disposition": f'attachment; filename="inventory-{inventory_id}.csv"'}
    return Response(content=("\ufeff" + out.getvalue()).encode(), media_type="text/csv; charset=utf-8", headers=headers)


class CountIn(msgspec.Struct, forbid_unknown_fields=True):
    """One observation."""

    identifier: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    present: bool
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class CountsIn(msgspec.Struct, forbid_unknown_fields=True):
    """Observations from the floor."""

    items: Annotated[list[CountIn], msgspec.Meta(min_length=1, max_length=5000)]


@post("/compliance/inventories/{inventory_id:uuid}/counts", operation_id="RecordInventoryCounts", status_code=200)
async def record_counts(
    inventory_id: FromPath[uuid.UUID],
    data: JSONBody[CountsIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> SheetOut:
    """Record what was found (present or missing); unknown identifiers become unexpected lines."""
    counts = [inventory.Count(c.identifier, c.present, c.note) for c in data.items]
    async with session.begin():
        view = await inventory.record_counts(session, principal, inventory_id, counts)
    return _sheet(view)


class CloseIn(msgspec.Struct, forbid_unknown_fields=True):
    """Follow-up (整改措施) per differing identifier."""

    follow_ups: Annotated[
        dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=200)]],
        msgspec.Meta(max_length=5000),
    ] = {}


@post(
    "/compliance/inventories/{inventory_id:uuid}/close", operation_id="CloseInventory", opt=REVIEWERS, status_code=200
)
async def close_inventory(
    inventory_id: FromPath[uuid.UUID],
    data: JSONBody[CloseIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> SheetOut:
    """Close the sheet: every line counted, every difference with its follow-up."""
    async with session.begin():
        view = await inventory.close(session, principal, inventory_id, dict(data.follow_ups))
    return _sheet(view)


# Audit samples -----------------------------------------------------------------------------------


class PhotoOut(msgspec.Struct):
    """A photo, fetched from ``/api/v1/blobs/{sha256}``."""

    role: str
    sha256: str
    url: str


class SampleRecordOut(msgspec.Struct, kw_only=True):
    """A sampled pass with its photos, the vehicle's ledger entry and documents, and open flags."""

    pass_id: uuid.UUID
    occurred_at: dt.datetime
    direction: str
    plate: str
    decision: str
    trigger: str
    cargo_name: str | None
    photos: list[PhotoOut]
    vehicle: dict[str, Any] | None
    documents: list[PhotoOut]
    open_flags: list[str]


class SampleOut(msgspec.Struct, kw_only=True):
    """An audit sample (§1.5): records, and normal vs emergency days with their in/out counts."""

    id: uuid.UUID | None
    quarter: str
    seed: str
    size: int
    population: int
    records: list[SampleRecordOut]
    days: list[dict[str, Any]]


def _photo(role: str, sha: str) -> PhotoOut:
    return PhotoOut(role, sha, f"/api/v1/blobs/{sha}")


def _vehicle(v: m.VehicleVersion | None) -> dict[str, Any] | None:
    if v is None:
        return None
    data = {k: (x.isoformat() if isinstance(x, dt.date) else x) for k, x in vehicles.version_data(v).items()}
    return {
        "vehicle_id": str(v.vehicle_id),
        "version": v.version,
        "review": v.review,
        **data,
        "labels": vehicles.labels(v),
    }


def _sample(sample: sampling.Sample) -> SampleOut:
    records = []
    for r in sample.records:
        e = r.event
        photos = [_photo(role, sha) for role, sha in (("scene", e.scene_sha256), ("plate", e.plate_sha256)) if sha]
        records.append(
            SampleRecordOut(
                pass_id=e.id,
                occurred_at=e.occurred_at,
                direction=e.direction,
                plate=e.plate,
                decision=e.decision,
                trigger=e.trigger,
                cargo_name=e.cargo_name,
                photos=photos,
                vehicle=_vehicle(r.vehicle),
                documents=[_photo(d.kind, d.blob_sha256) for d in r.documents],
                open_flags=r.open_flags,
            )
        )
    return SampleOut(
        id=sample.saved.id if sample.saved else None,
        quarter=sample.quarter,
        seed=sample.seed,
        size=sample.size,
        population=sample.population,
        records=records,
        days=sample.days,
    )


class SampleIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Draw and keep a quarter's sample."""

    quarter: Annotated[str, msgspec.Meta(pattern=r"^\d{4}Q[1-4]$")] | None = None
    size: Annotated[int, msgspec.Meta(ge=1, le=sampling.MAX_SIZE)] = sampling.DEFAULT_SIZE
    seed: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


@post("/compliance/audit-samples", operation_id="CreateAuditSample")
async def create_sample(
    data: JSONBody[SampleIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> SampleOut:
    """Draw and keep the quarterly audit sample (default: this quarter, 10 records)."""
    async with session.begin():
        sample = await sampling.save(
            session, principal, data.quarter or sampling.current_quarter(), data.seed, data.size
        )
    return _sample(sample)


@get("/compliance/audit-samples", operation_id="ListAuditSamples")
async def list_samples(
    session: NamedDependency[AsyncSession], limit: FromQuery[Limit] = 50, offset: FromQuery[Offset] = 0
) -> Page[dict[str, Any]]:
    """Saved samples, newest first."""
    async with session.begin():
        rows, total = await sampling.list_saved(session, limit, offset)
    items = [
        {
            "id": str(s.id),
            "quarter": s.quarter,
            "seed": s.seed,
            "size": len(s.pass_ids),
            "created_at": s.created_at.isoformat(),
        }
        for s in rows
    ]
    return Page(items, total, limit, offset)


@get("/compliance/audit-samples/{sample_id:uuid}", operation_id="GetAuditSample")
async def get_sample(sample_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> SampleOut:
    """A saved sample with its records, photos and documents."""
    async with session.begin():
        sample = await sampling.load(session, sample_id)
    return _sample(sample)


@get("/enterprises/{tenant_id:uuid}/audit-sample", operation_id="DrawAuditSample")
async def draw_sample(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    quarter: Annotated[str, QueryParameter(pattern=r"^\d{4}Q[1-4]$", description="季度，如 2026Q4")],
    seed: Annotated[str, QueryParameter(min_length=1, max_length=64, description="随机种子（同一种子结果相同）")],
    size: FromQuery[Annotated[int, QueryParameter(ge=1, le=sampling.MAX_SIZE)]] = sampling.DEFAULT_SIZE,
) -> SampleOut:
    """An inspector's own draw (regulators too): the same quarter and seed always give the same records."""
    async with session.begin():
        await service.enterprise(session, principal, tenant_id)
        sample = await sampling.draw(session, tenant_id, quarter, seed, size)
    return _sample(sample)


HANDLERS = [
    list_blacklist,
    add_blacklist,
    revoke_blacklist,
    import_blacklist,
    import_vehicles,
    read_qr,
    apply_qr,
    list_inventories,
    create_inventory,
    get_inventory,
    export_sheet,
    record_counts,
    close_inventory,
    create_sample,
    list_samples,
    get_sample,
    draw_sample,
]
