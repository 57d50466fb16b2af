"""Retention of evidence (issue 21, migration 0017): settings, legal holds, purge records (all append-only)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class RetentionSetting(TenantOwned, Base):
    """A tenant's retention periods (months, never below the legal floors); the newest row wins."""

    __tablename__ = "retention_setting"
    __table_args__ = (
        CheckConstraint("photo_months >= 24 AND photo_months <= 240", name="photo"),
        CheckConstraint("video_months >= 12 AND video_months <= 240", name="video"),
    )

    photo_months: Mapped[int] = mapped_column(Integer)
    video_months: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = utcnow_column()


class LegalHold(TenantOwned, Base):
    """A legal hold started (``active``) or lifted; while the newest row is active nothing is purged."""

    __tablename__ = "legal_hold"

    active: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(200))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[dt.datetime] = utcnow_column()


class RetentionPurge(TenantOwned, Base):
    """One object whose bytes a tenant's retention removed: what, of which pass, under which cutoff, why."""

    __tablename__ = "retention_purge"
    __table_args__ = (
        CheckConstraint("kind IN ('photo', 'video', 'export')", name="kind"),
        UniqueConstraint("tenant_id", "sha256"),
    )

    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    pass_event_id: Mapped[uuid.UUID | None]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    cutoff: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(200))
    purged_at: Mapped[dt.datetime] = utcnow_column()


class RetentionMove(TenantOwned, Base):
    """One object a tenant's retention moved to a colder storage class past the hot period (migration 0021)."""

    __tablename__ = "retention_move"
    __table_args__ = (
        CheckConstraint("kind IN ('photo', 'video')", name="kind"),
        UniqueConstraint("tenant_id", "sha256", "storage_class", name="uq_retention_move_tenant_id_sha256_class"),
    )

    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    pass_event_id: Mapped[uuid.UUID | None]
    storage_class: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    cutoff: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    moved_at: Mapped[dt.datetime] = utcnow_column()
