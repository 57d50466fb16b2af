"""The vehicle ledger (three categories), its version history, document photos and blobs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.blobs import Blobs
from cloud.domain import documents, vehicles
from cloud.lib import sniff
from frontend_api.api.schemas import Limit, Offset, Page, PlateQuery, Reason
from tenants.context import Principal

if TYPE_CHECKING:
    from cloud.db import models as m

Category = Literal["transport", "in_plant", "nrmm"]
DocumentKind = Literal["env_list", "driving_license", "vehicle_nameplate", "engine_nameplate", "env_label", "other"]
NetworkStatus = Literal["connected", "disconnected", "unknown"]
FieldName = Literal[
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
]


Mass = Annotated[int, msgspec.Meta(ge=0, le=200_000)]
ExtraKey = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
ExtraValue = Annotated[str, msgspec.Meta(max_length=200)]
Extra = Annotated[dict[ExtraKey, ExtraValue], msgspec.Meta(max_length=20, description="地方扩展字段（如天津编码）")]


class VehicleFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every HJ 1321 ledger field; which apply and which are required depends on the category.

    Codes may be given as the code or the Chinese name (``B`` or ``柴油``); they are stored as codes.
    """

    plate: Annotated[str, msgspec.Meta(max_length=16, description="车牌号码（机械为环保号牌）")] | None = None
    plate_colour: Annotated[str, msgspec.Meta(max_length=12, description="号牌颜色 blue/yellow/…或中文")] | None = None
    plate_type: Annotated[str, msgspec.Meta(max_length=16, description="号牌种类（01/大型汽车…）")] | None = None
    vin: Annotated[str, msgspec.Meta(max_length=24, description="车辆识别代号（17 位）")] | None = None
    env_reg_code: Annotated[str, msgspec.Meta(max_length=32, description="环保登记编码")] | None = None
    internal_code: Annotated[str, msgspec.Meta(max_length=32, description="内部管理号牌")] | None = None
    pin: Annotated[str, msgspec.Meta(max_length=64, description="机械环保代码/产品识别码")] | None = None
    local_code: Annotated[str, msgspec.Meta(max_length=32, description="地方登记编码（如天津编码）")] | None = None
    vehicle_type: Annotated[str, msgspec.Meta(max_length=16, description="车辆类型 GA/T 16.4")] | None = None
    machine_kind: Annotated[str, msgspec.Meta(max_length=16, description="机械种类")] | None = None
    brand_model: Annotated[str, msgspec.Meta(max_length=64, description="品牌型号")] | None = None
    register_date: dt.date | None = None
    production_date: dt.date | None = None
    engine_model: Annotated[str, msgspec.Meta(max_length=64, description="发动机型号")] | None = None
    engine_maker: Annotated[str, msgspec.Meta(max_length=100, description="发动机生产厂")] | None = None
    engine_no: Annotated[str, msgspec.Meta(max_length=32, description="发动机编号")] | None = None
    fuel_type: Annotated[str, msgspec.Meta(max_length=12, description="燃料类型")] | None = None
    emission_stage: Annotated[str, msgspec.Meta(max_length=12, description="排放阶段")] | None = None
    use_nature: Annotated[str, msgspec.Meta(max_length=12, description="使用性质")] | None = None
    network_status: NetworkStatus | None = None
    env_list_no: Annotated[str, msgspec.Meta(max_length=32, description="随车清单信息公开编号")] | None = None
    fleet_name: Annotated[str, msgspec.Meta(max_length=100, description="车队名称")] | None = None
    owner_name: Annotated[str, msgspec.Meta(max_length=100, description="车辆所有人（单位）")] | None = None
    owner_address: Annotated[str, msgspec.Meta(max_length=200, description="车辆所有人地址")] | None = None
    total_mass_kg: Mass | None = None
    rated_load_kg: Mass | None = None
    extra: Extra | None = None


class VehicleCreate(VehicleFields, kw_only=True):
    """A new vehicle of one ledger category."""

    category: Category
    reason: Reason = "新建"


class VehicleCorrection(msgspec.Struct, forbid_unknown_fields=True):
    """A correction: the fields to change, the fields to clear, and why (a new version is written)."""

    reason: Reason
    changes: VehicleFields = msgspec.field(default_factory=VehicleFields)
    clear: list[FieldName] = msgspec.field(default_factory=list)


class VehicleRetire(msgspec.Struct, forbid_unknown_fields=True):
    """Retire (注销) a vehicle."""

    reason: Reason


class VersionOut(msgspec.Struct, kw_only=True):
    """One immutable version of a vehicle's ledger data."""

    id: uuid.UUID
    version: int
    status: str
    review: str
    reason: str
    created_by: uuid.UUID | None
    created_at: dt.datetime
    plate: str | None
    plate_colour: str | None
    plate_type: str | None
    vin: str | None
    env_reg_code: str | None
    internal_code: str | None
    pin: str | None
    local_code: str | None
    vehicle_type: str | None
    machine_kind: str | None
    brand_model: str | None
    register_date: dt.date | None
    production_date: dt.date | None
    engine_model: str | None
    engine_maker: str | None
    engine_no: str | None
    fuel_type: str | None
    emission_stage: str | None
    use_nature: str | None
    network_status: str | None
    env_list_no: str | None
    fleet_name: str | None
    owner_name: str | None
    owner_address: str | None
    total_mass_kg: int | None
    rated_load_kg: int | None
    extra: dict[str, Any]
    labels: dict[str, str]


class VehicleOut(msgspec.Struct):
    """A vehicle and its current version."""

    id: uuid.UUID
    category: str
    created_at: dt.datetime
    current: VersionOut


class DocumentOut(msgspec.Struct):
    """A document photo of a vehicle; the bytes are at ``/api/v1/blobs/{sha256}``."""

    id: uuid.UUID
    kind: str
    kind_label: str
    sha256: str
    created_by: uuid.UUID | None
    created_at: dt.datetime


class VehicleDetailOut(msgspec.Struct):
    """A vehicle with its whole version history and its documents."""

    id: uuid.UUID
    category: str
    created_at: dt.datetime
    current: VersionOut
    versions: list[VersionOut]
    documents: list[DocumentOut]
    missing_documents: list[str]


def _version(v: m.VehicleVersion) -> VersionOut:
    data = vehicles.version_data(v)
    return VersionOut(
        id=v.id,
        version=v.version,
        status=v.status,
        review=v.review,
        reason=v.reason,
        created_by=v.created_by,
        created_at=v.created_at,
        labels=vehicles.labels(v),
        **data,
    )


def _document(d: m.VehicleDocument) -> DocumentOut:
    return DocumentOut(d.id, d.kind, vehicles.DOCUMENT_KINDS[d.kind], d.blob_sha256, d.created_by, d.created_at)


def _detail(detail: vehicles.VehicleDetail) -> VehicleDetailOut:
    v = detail.vehicle
    return VehicleDetailOut(
        v.id,
        v.category,
        v.created_at,
        _version(detail.current),
        [_version(x) for x in detail.versions],
        [_document(d) for d in detail.documents],
        detail.missing_documents,
    )


def _fields(data: VehicleFields) -> dict[str, Any]:
    return {f: getattr(data, f) for f in vehicles.DATA_FIELDS if getattr(data, f) is not None}


@get("/vehicles", operation_id="ListVehicles")
async def list_vehicles(
    session: NamedDependency[AsyncSession],
    category: FromQuery[Category | None] = None,
    plate: PlateQuery = None,
    vin: Annotated[str | None, QueryParameter(max_length=24)] = None,
    emission_stage: Annotated[str | None, QueryParameter(max_length=12)] = None,
    status: FromQuery[Literal["active", "retired"] | None] = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[VehicleOut]:
    """Search the ledger by plate, VIN, category, emission stage or status (current versions)."""
    criteria = vehicles.VehicleFilter(category, plate, vin, emission_stage, status)
    async with session.begin():
        rows, total = await vehicles.search_vehicles(session, criteria, limit, offset)
    items = [VehicleOut(v.id, v.category, v.created_at, _version(cur)) for v, cur in rows]
    return Page(items, total, limit, offset)


@post("/vehicles", operation_id="CreateVehicle")
async def create_vehicle(
    data: JSONBody[VehicleCreate], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> VehicleDetailOut:
    """Add a vehicle to the ledger (version 1)."""
    async with session.begin():
        detail = await vehicles.create_vehicle(session, principal, data.category, _fields(data), data.reason)
    return _detail(detail)


@get("/vehicles/{vehicle_id:uuid}", operation_id="GetVehicle")
async def get_vehicle(vehicle_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> VehicleDetailOut:
    """Read a vehicle with its full version history and documents."""
    async with session.begin():
        detail = await vehicles.get_vehicle(session, vehicle_id)
    return _detail(detail)


@post("/vehicles/{vehicle_id:uuid}/corrections", operation_id="CorrectVehicle", status_code=200)
async def correct_vehicle(
    vehicle_id: FromPath[uuid.UUID],
    data: JSONBody[VehicleCorrection],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> VehicleDetailOut:
    """Correct a vehicle's data: writes a new version recording who and why."""
    changes: dict[str, Any] = _fields(data.changes)
    for name in data.clear:
        changes[name] = None
    async with session.begin():
        detail = await vehicles.correct_vehicle(session, principal, vehicle_id, changes, data.reason)
    return _detail(detail)


@post("/vehicles/{vehicle_id:uuid}/retire", operation_id="RetireVehicle", status_code=200)
async def retire_vehicle(
    vehicle_id: FromPath[uuid.UUID],
    data: JSONBody[VehicleRetire],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> VehicleDetailOut:
    """Retire (注销) a vehicle: writes a new version with status ``retired``."""
    async with session.begin():
        detail = await vehicles.retire_vehicle(session, principal, vehicle_id, data.reason)
    return _detail(detail)


@dataclass
class DocumentUpload:
    """A multipart upload: the document kind and the file (JPEG, PNG, WebP or PDF)."""

    kind: DocumentKind
    file: UploadFile


@post("/vehicles/{vehicle_id:uuid}/documents", operation_id="UploadVehicleDocument")
async def upload_document(
    vehicle_id: FromPath[uuid.UUID],
    data: MultipartBody[DocumentUpload],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    blob_store: NamedDependency[Blobs],
    state: State,
) -> DocumentOut:
    """Attach a document photo (随车清单, 行驶证, nameplates, environmental label) to a vehicle."""
    max_bytes: int = state.settings.blobs.max_bytes
    content = await data.file.read(max_bytes + 1)
    upload = documents.Upload(data.file.filename or "", data.file.content_type or "", content)
    async with session.begin():
        document = await documents.add_document(
            session, principal, blob_store, vehicle_id, data.kind, upload, max_bytes
        )
    return _document(document)


@get("/blobs/{sha256:str}", operation_id="GetBlob", media_type="application/octet-stream")
async def get_blob(
    sha256: FromPath[str], session: NamedDependency[AsyncSession], blob_store: NamedDependency[Blobs]
) -> Response[bytes]:
    """The bytes of a photo or scan, if the caller's tenant holds it.

    Served as an attachment with the type its bytes verify as (cloud/lib/sniff.py, issue 17).
    """
    async with session.begin():
        data, content_type = await documents.read_blob(session, blob_store, sha256)
    media = sniff.verified_type(data, content_type)
    headers = {
        "Cache-Control": "private, max-age=86400, immutable",
        "ETag": f'"{sha256}"',
        "Content-Disposition": f'attachment; filename="{sha256[:16]}.{sniff.EXTENSIONS[media]}"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content=data, media_type=media, headers=headers)


HANDLERS = [
    list_vehicles,
    create_vehicle,
    get_vehicle,
    correct_vehicle,
    retire_vehicle,
    upload_document,
    get_blob,
]
