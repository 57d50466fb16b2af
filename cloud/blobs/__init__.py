"""Blob storage (photos, clips, document scans, export files) behind one interface (issue 20).

:class:`Blobs` is the interface; the backend is chosen by configuration (``ECOGATE_BLOB_URL``, see
:func:`open_store`): the filesystem (:class:`FileBlobStore`, the embedded default, rooted at
``ECOGATE_BLOB_ROOT``) or an S3-compatible bucket (:class:`S3BlobStore`: AWS S3, Alibaba Cloud OSS). The
application builds one store at start (``app.state.blobs``, the ``blob_store`` dependency) and every user of
blobs takes that one; nothing else constructs a store from settings.

``BlobStore`` stays the name of the filesystem class (``BlobStore(root)``) for the tools and tests that
build one on a folder of their own.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.blobs.base import STANDARD, Blobs
from cloud.blobs.fs import COLD_DIR, FileBlobStore
from cloud.blobs.s3 import S3BlobStore, S3Location
from cloud.db import models as m
from cloud.settings import BlobSettings

__all__ = [
    "COLD_DIR",
    "STANDARD",
    "BlobConfigError",
    "BlobCopyError",
    "BlobStore",
    "Blobs",
    "FileBlobStore",
    "S3BlobStore",
    "S3Location",
    "copy_missing",
    "from_state",
    "open_store",
    "parse_url",
    "record",
]

#: The filesystem backend under its historical name.
BlobStore = FileBlobStore


class BlobConfigError(ValueError):
    """``ECOGATE_BLOB_URL`` cannot be understood (the message says why, in Chinese)."""


class BlobCopyError(RuntimeError):
    """An object read for a copy does not hash to its name (the message says which, in Chinese)."""


def copy_missing(source: Blobs, target: Blobs) -> tuple[int, int]:
    """Copy every object of ``source`` that ``target`` lacks, through the interface; returns (copied, present).

    Incremental by name (content-addressed: a present object is the same bytes). Each object is read whole,
    re-hashed and written with the target's own ``put`` (the filesystem store writes atomically, fsynced).
    ``ecogate backup run`` copies an S3-compatible store into the backup folder this way.

    Raises:
        BlobCopyError: an object's bytes do not hash to its name (nothing is written for it).
    """
    copied = present = 0
    for digest in source.digests():
        if target.has(digest):
            present += 1
            continue
        try:
            data = source.get(digest)
        except FileNotFoundError:  # deleted since the listing (retention): nothing to keep
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobCopyError(f"对象 {digest} 的内容与其 SHA-256 不符，未复制")
        target.put(data)
        copied += 1
    return copied, present


def parse_url(url: str) -> S3Location | Path | None:
    """``ECOGATE_BLOB_URL``: None (empty: the filesystem root), a folder (``file:///…``) or an S3 location.

    ``s3://bucket/prefix?endpoint=https://oss-cn-hangzhou.aliyuncs.com&region=cn-hangzhou&addressing=virtual``
    ``&cold_class=IA``; ``endpoint`` is omitted for AWS itself.

    Raises:
        BlobConfigError: an unknown scheme, a missing bucket or an unknown addressing style.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(parts.path)
    if parts.scheme != "s3":
        raise BlobConfigError(f"ECOGATE_BLOB_URL 只支持 s3:// 或 file://，而不是 {parts.scheme!r}")
    if not parts.netloc:
        raise BlobConfigError("ECOGATE_BLOB_URL 缺少存储桶名称（s3://存储桶/前缀）")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    addressing = query.get("addressing", "auto")
    if addressing not in {"auto", "path", "virtual"}:
        raise BlobConfigError(f"ECOGATE_BLOB_URL 的 addressing 只能是 auto、path 或 virtual，而不是 {addressing!r}")
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Location(
        bucket=parts.netloc,
        prefix=prefix,
        endpoint_url=query.get("endpoint") or None,
        region=query.get("region") or None,
        addressing=addressing,
        cold_class=query.get("cold_class", "STANDARD_IA"),
    )


def open_store(settings: BlobSettings) -> Blobs:
    """The configured blob store (one per process; thread-safe)."""
    where = parse_url(settings.url)
    if isinstance(where, S3Location):
        return S3BlobStore(where)
    return FileBlobStore(where if where is not None else settings.root)


def from_state(state: Any) -> Blobs:
    """The application's store (``app.state.blobs``, made by ``create_app``)."""
    blobs: Blobs = state.blobs
    return blobs


async def record(session: AsyncSession, tenant_id: uuid.UUID, sha256: str, size_bytes: int, content_type: str) -> None:
    """Record that the tenant stored an object (the ``blob`` row; once per tenant and digest, append-only).

    The one writer of ``blob`` rows: the hub (photos and clips from agents), vehicle documents and the
    background jobs' result files call it, after the bytes are in the store.
    """
    await session.execute(
        insert(m.Blob)
        .values(tenant_id=tenant_id, sha256=sha256, size_bytes=size_bytes, content_type=content_type)
        .on_conflict_do_nothing(index_elements=[m.Blob.tenant_id, m.Blob.sha256])
    )
