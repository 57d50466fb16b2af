"""Content-addressed blob files (photos, clips) written durably: fsync the file, then its folder.

A blob lives at ``<root>/<aa>/<sha256>`` where ``aa`` are the first two hex digits. A write goes
to a temporary file in ``<root>/tmp``, is fsync'd, renamed into place and the folder fsync'd, so a
crash leaves either no file or the whole file, never a torn one. Orphans (blob written, event row
never committed) are harmless and collected by :meth:`BlobStore.collect_orphans`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["BlobStore", "sha256_hex"]


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Blob files under one root folder, named by their SHA-256."""

    def __init__(self, root: Path) -> None:
        """Create the folders if needed."""
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (whether or not it exists)."""
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        """Tell whether the blob file is present."""
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes | None:
        """The blob's bytes, or None when absent (never written, or dropped under disk pressure)."""
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store ``data`` durably and return its hash (stored once however often it is put).

        Raises:
            OSError: when the disk refuses the write (ENOSPC and the like); nothing is left behind.
        """
        digest = sha256 or sha256_hex(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        self.replace(digest, data)
        return digest

    def replace(self, sha256: str, data: bytes) -> int:
        """Write ``data`` under the name ``sha256`` durably (also used to store a downsampled copy).

        Returns the number of bytes written.
        """
        target = self.path(sha256)
        target.parent.mkdir(exist_ok=True)
        tmp = self._tmp / f"{sha256}.{os.getpid()}.part"
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return len(data)

    def delete(self, sha256: str) -> int:
        """Remove a blob file; return the bytes freed (0 when it was absent)."""
        target = self.path(sha256)
        try:
            size = target.stat().st_size
            target.unlink()
        except FileNotFoundError:
            return 0
        return size

    def collect_orphans(self, known: set[str]) -> int:
        """Delete blob files not in ``known`` and leftover temporary files; return bytes freed."""
        freed = 0
        for part in self._tmp.iterdir():
            freed += part.stat().st_size
            part.unlink(missing_ok=True)
        for sub in self.root.iterdir():
            if sub == self._tmp or not sub.is_dir():
                continue
            for blob in sub.iterdir():
                if blob.name not in known:
                    freed += blob.stat().st_size
                    blob.unlink(missing_ok=True)
        return freed
