"""Content-addressed blob store (photos, document scans) on the local filesystem.

Objects are stored under their sha256 (``ab/cd/abcd…``); writing is atomic (temp file, fsync,
rename), so a crash never leaves a partial object under a valid name. An S3-compatible store can
replace this class by configuration later (ARCHITECTURE.md "Data model").
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


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
