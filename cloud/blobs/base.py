"""The blob store interface every backend implements (issue 20): content-addressed, synchronous calls.

Callers on the event loop run the calls in a worker thread (``asyncio.to_thread``), as they did with the
filesystem store. Digests are lowercase hex sha256 of the bytes; an object's name is its digest, so a
``put`` of the same bytes twice stores one object and objects are shared between tenants (the ``blob`` rows
say who stored what; retention deletes bytes only when no holder is left, ADR 0029).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Protocol, runtime_checkable

#: The hot storage class (S3's default; the filesystem's root tier).
STANDARD: Final = "STANDARD"
_HEX: Final = frozenset("0123456789abcdef")


def is_digest(name: str) -> bool:
    """Whether ``name`` is an object name: 64 lowercase hex characters."""
    return len(name) == 64 and set(name) <= _HEX


@runtime_checkable
class Blobs(Protocol):
    """A content-addressed blob store (filesystem: :class:`FileBlobStore`, S3-compatible: :class:`S3BlobStore`)."""

    #: The storage class the retention job moves media past the hot period into (backend specific name).
    cold_class: str

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 (idempotent)."""
        ...

    def has(self, sha256: str) -> bool:
        """Whether the object is stored."""
        ...

    def get(self, sha256: str) -> bytes:
        """The object's bytes (FileNotFoundError when absent)."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove the object's bytes; False when it was not there."""
        ...

    def storage_class(self, sha256: str) -> str | None:
        """The object's storage class (``STANDARD`` when hot), None when absent."""
        ...

    def digests(self) -> Iterator[str]:
        """Every stored object's digest, in the backend's order (backups copy through it, ``ecogate backup``)."""
        ...

    def set_storage_class(self, sha256: str, storage_class: str) -> bool:
        """Move the object to ``storage_class``; True when it moved, False when it was already there.

        Raises:
            FileNotFoundError: the object is not stored.
        """
        ...
