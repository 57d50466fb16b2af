"""Content-addressed blob store (photos, document scans) on the local filesystem.

Objects are stored under their sha256 (``ab/cd/abcd…``); writing is atomic (temp file, fsync,
rename), so a crash never leaves a partial object under a valid name. An S3-compatible store can
replace this class by configuration later (ARCHITECTURE.md "Data model").
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m


class BlobStore:
    """Filesystem blob store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        """Where the object with this digest lives."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 (idempotent)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def has(self, sha256: str) -> bool:
        """Whether the object is stored."""
        return self.path_for(sha256).exists()

    def get(self, sha256: str) -> bytes:
        """Read an object (FileNotFoundError when absent)."""
        return self.path_for(sha256).read_bytes()

    def delete(self, sha256: str) -> bool:
        """Remove an object's bytes (retention, cloud/retention); False when it was not there."""
        try:
            self.path_for(sha256).unlink()
        except FileNotFoundError:
            return False
        return True


async def record(session: AsyncSession, tenant_id: uuid.UUID, sha256: str, size_bytes: int, content_type: str) -> None:
    """Record that the tenant stored an object (the ``blob`` row; once per tenant and digest, append-only).

    The one writer of ``blob`` rows: the hub (photos and clips from agents) and vehicle documents call it,
    after the bytes are in the store.
    """
    await session.execute(
        insert(m.Blob)
        .values(tenant_id=tenant_id, sha256=sha256, size_bytes=size_bytes, content_type=content_type)
        .on_conflict_do_nothing(index_elements=[m.Blob.tenant_id, m.Blob.sha256])
    )
