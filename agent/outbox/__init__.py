"""Durable outbox of pass events and their media (SQLite WAL, synchronous=FULL, fsync'd blobs)."""

from __future__ import annotations

from agent.outbox.blobs import BlobStore, sha256_hex
from agent.outbox.store import (
    Alarm,
    AppendResult,
    AttachmentStatus,
    ClipData,
    LateClip,
    Outbox,
    OutboxError,
    OutboxFullError,
    OutboxSettings,
    OutboxStats,
    PhotoData,
    SpaceState,
    Status,
)
from agent.outbox.weighings import StoredWeighing, WeighingStatus

__all__ = [
    "Alarm",
    "AppendResult",
    "AttachmentStatus",
    "BlobStore",
    "ClipData",
    "LateClip",
    "Outbox",
    "OutboxError",
    "OutboxFullError",
    "OutboxSettings",
    "OutboxStats",
    "PhotoData",
    "SpaceState",
    "Status",
    "StoredWeighing",
    "WeighingStatus",
    "sha256_hex",
]
