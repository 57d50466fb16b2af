"""The filesystem blob backend (the embedded default): content-addressed files under a root folder.

Objects are stored under their sha256 (``ab/cd/abcd…``); writing is atomic (temp file, fsync, rename), so a
crash never leaves a partial object under a valid name. Storage classes are two tiers of folders: the hot
tier at the root and a ``cold/`` tier beside it (``cold/ab/cd/abcd…``) that the retention job moves media
into past a tenant's hot period (a mount of cheaper disks can sit there); reads find an object in either.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from cloud.blobs.base import STANDARD, is_digest

#: The folder of the cold tier, inside the root (never a valid two-hex-digit fan-out folder).
COLD_DIR: Final = "cold"


class FileBlobStore:
    """Filesystem blob store rooted at ``root`` (:class:`cloud.blobs.Blobs`)."""

    def __init__(self, root: Path, *, cold_class: str = COLD_DIR) -> None:
        self.root = root
        #: The class name the retention job asks for (``ECOGATE_BLOB_URL``'s ``cold_class``; default ``cold``).
        self.cold_class = cold_class

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"

    def path_for(self, sha256: str) -> Path:
        """Where the object with this digest lives in the hot tier."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def cold_path_for(self, sha256: str) -> Path:
        """Where the object lives once moved to the cold tier."""
        return self.root / COLD_DIR / sha256[:2] / sha256[2:4] / sha256

    def _existing(self, sha256: str) -> Path | None:
        for path in (self.path_for(sha256), self.cold_path_for(sha256)):
            if path.exists():
                return path
        return None

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 (idempotent; an object in the cold tier stays there)."""
        digest = hashlib.sha256(data).hexdigest()
        if self._existing(digest) is not None:
            return digest
        _write_atomic(self.path_for(digest), data)
        return digest

    def has(self, sha256: str) -> bool:
        """Whether the object is stored (either tier)."""
        return self._existing(sha256) is not None

    def get(self, sha256: str) -> bytes:
        """Read an object (FileNotFoundError when absent)."""
        path = self._existing(sha256)
        if path is None:
            raise FileNotFoundError(sha256)
        return path.read_bytes()

    def delete(self, sha256: str) -> bool:
        """Remove an object's bytes from both tiers (retention); False when it was not there."""
        removed = False
        for path in (self.path_for(sha256), self.cold_path_for(sha256)):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed = True
        return removed

    def digests(self) -> Iterator[str]:
        """Every object's digest, both tiers (an object caught mid-move may be named twice)."""
        for base in (self.root, self.root / COLD_DIR):
            for path in base.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"):
                if is_digest(path.name) and path.is_file():
                    yield path.name

    def storage_class(self, sha256: str) -> str | None:
        """``STANDARD`` (hot tier), the cold class, or None when absent."""
        if self.path_for(sha256).exists():
            return STANDARD
        if self.cold_path_for(sha256).exists():
            return self.cold_class
        return None

    def set_storage_class(self, sha256: str, storage_class: str) -> bool:
        """Move the object to the cold tier (any class but ``STANDARD``) or back; True when it moved.

        Raises:
            FileNotFoundError: the object is not stored.
        """
        hot, cold = self.path_for(sha256), self.cold_path_for(sha256)
        source, target = (cold, hot) if storage_class == STANDARD else (hot, cold)
        if target.exists():
            source.unlink(missing_ok=True)
            return False
        if not source.exists():
            raise FileNotFoundError(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)  # same file system: an atomic rename
        return True


def _write_atomic(target: Path, data: bytes) -> None:
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
