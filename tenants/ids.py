"""UUIDv7 ids, made where a record is born (ARCHITECTURE.md "Conventions")."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """Return a new time-ordered UUIDv7 as a standard :class:`uuid.UUID`."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
