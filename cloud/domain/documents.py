"""Vehicle document photos and the tenant-scoped blob read path.

Bytes go to the content-addressed blob store first, then the tenant's ``blob`` row (idempotent on
sha256) and the ``vehicle_document`` row commit with the audit row: a stored object without a row is
harmless, a row without its bytes never happens. Reading a blob needs the caller's tenant to hold a
``blob`` row for that digest (row-level security), so knowing a digest grants nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Final

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import blobs
from cloud.blobs import Blobs
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import require_tenant
from cloud.domain.vehicles import DOCUMENT_KINDS
from cloud.lib.problems import FieldError, ProblemError, not_found
from tenants.context import Principal

#: Accepted upload types and the leading bytes each must start with.
CONTENT_TYPES: Final[dict[str, tuple[bytes, ...]]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the controller received it."""

    filename: str
    content_type: str
    data: bytes


def _sniff_ok(content_type: str, data: bytes) -> bool:
    if not any(data.startswith(magic) for magic in CONTENT_TYPES[content_type]):
        return False
    return content_type != "image/webp" or data[8:12] == b"WEBP"


def check_upload(upload: Upload, max_bytes: int) -> str:
    """Validate an upload's type and size; return its normalised content type.

    Raises:
        ProblemError: 415 for a type other than JPEG/PNG/WebP/PDF, 413 above ``max_bytes``, 422 for an
            empty file or bytes that do not match the declared type.
    """
    content_type = upload.content_type.split(";", 1)[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise ProblemError(
            415,
            "unsupported_media_type",
            "文件类型不支持",
            f"不支持的文件类型“{content_type or '未知'}”，只接受 JPEG、PNG、WebP 图片或 PDF",
            [FieldError(field="file", code="file.content_type", message="只接受 JPEG、PNG、WebP 图片或 PDF")],
        )
    if len(upload.data) > max_bytes:
        limit = f"{max_bytes / (1024 * 1024):.1f} MB"
        raise ProblemError(
            413,
            "file_too_large",
            "文件过大",
            f"文件大小 {len(upload.data)} 字节，超过上限 {limit}",
            [FieldError(field="file", code="file.too_large", message=f"文件不能超过 {limit}")],
        )
    if not upload.data:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            "上传的文件为空",
            [FieldError(field="file", code="file.empty", message="上传的文件为空")],
        )
    if not _sniff_ok(content_type, upload.data):
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            f"文件内容与声明的类型“{content_type}”不符",
            [FieldError(field="file", code="file.content_mismatch", message="文件内容与声明的类型不符")],
        )
    return content_type


async def add_document(
    session: AsyncSession,
    principal: Principal,
    store: Blobs,
    vehicle_id: uuid.UUID,
    kind: str,
    upload: Upload,
    max_bytes: int,
) -> m.VehicleDocument:
    """Attach a document photo to a vehicle of the caller's tenant.

    Raises:
        ProblemError: 404 for a vehicle outside the tenant, or the errors of :func:`check_upload`.
    """
    tenant_id = require_tenant(principal)
    if kind not in DOCUMENT_KINDS:  # the controller's Literal already refuses this; keep the domain honest
        raise ProblemError(422, "validation_failed", "数据校验未通过", f"未知的证件类型“{kind}”")
    content_type = check_upload(upload, max_bytes)
    vehicle = await session.get(m.Vehicle, (tenant_id, vehicle_id))
    if vehicle is None:
        raise not_found("车辆")
    digest = await anyio.to_thread.run_sync(store.put, upload.data)
    await blobs.record(session, tenant_id, digest, len(upload.data), content_type)
    document = m.VehicleDocument(
        tenant_id=tenant_id, vehicle_id=vehicle_id, kind=kind, blob_sha256=digest, created_by=principal.user_id
    )
    session.add(document)
    await session.flush()
    audit.record(
        session,
        principal,
        "vehicle.document_added",
        "vehicle",
        vehicle_id,
        {"kind": kind, "sha256": digest, "size": len(upload.data), "filename": upload.filename[:100]},
    )
    return document


async def read_blob(session: AsyncSession, store: Blobs, sha256: str) -> tuple[bytes, str]:
    """The bytes and content type of a blob the caller's tenant holds; 404 otherwise."""
    if not _SHA256.match(sha256):
        raise not_found("文件")
    blob = await session.scalar(select(m.Blob).where(m.Blob.sha256 == sha256).limit(1))
    if blob is None:
        raise not_found("文件")
    try:
        data = await anyio.to_thread.run_sync(store.get, sha256)
    except FileNotFoundError:
        raise not_found("文件") from None
    return data, blob.content_type
