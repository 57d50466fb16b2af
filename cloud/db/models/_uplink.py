"""Regulator uplink: platform configuration, the transactional outbox and its attempt log (issue 8)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class UplinkPlatform(TenantOwned, Base):
    """The regulator platform a tenant reports to (credentials encrypted: cloud/uplink/platforms.py)."""

    __tablename__ = "uplink_platform"
    __table_args__ = (UniqueConstraint("tenant_id"),)  # one regulator platform per tenant (migration 0007)

    profile: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(300))
    enterprise_code: Mapped[str] = mapped_column(String(64))
    enterprise_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    credentials_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: The master key wrapping ``credentials_dek`` (envelope encryption, migration 0015; "legacy" = none).
    credentials_key_id: Mapped[str] = mapped_column(String(32), default="legacy", server_default="legacy")
    credentials_dek: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    photo_max_bytes: Mapped[int] = mapped_column(default=300_000, server_default="300000")
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0, server_default="10")
    heartbeat_s: Mapped[int | None] = mapped_column()  # None = the profile's default, 0 = off
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()


class UplinkOutbox(TenantOwned, Base):
    """One record to deliver (id = the pass event's id); states and their names: cloud/uplink/states.py.

    ``claimed_by``/``lease_until``: the worker whose claim holds the row until then (docs/adr/0027); no index
    holds either, so a claim is a HOT update (migration 0025 leaves 20 % of each page free: ``fillfactor``).
    ``first_*``: the platform's answer when the record was delivered on its first send — that send has no
    ``uplink_attempt`` row; every other send has one (docs/adr/0042, ``cloud.uplink.outbox.ATTEMPTS``).
    """

    __tablename__ = "uplink_outbox"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "id"], ["pass_event.tenant_id", "pass_event.id"]),
        CheckConstraint(
            "state IN ('pending', 'photo_pending', 'photo_refused', 'delivered', 'rejected')", name="state"
        ),
        # The claim and ``uplink_due_tenants()`` both read this partial index (migration 0025 dropped the
        # (state, next_attempt_at) one it made redundant).
        Index(
            "ix_uplink_outbox_tenant_due",
            "tenant_id",
            "next_attempt_at",
            "occurred_at",  # the claim's order: it reads its batch in order instead of sorting the backlog
            postgresql_where=text("state IN ('pending', 'photo_pending', 'photo_refused')"),
        ),
        Index("ix_uplink_outbox_tenant_occurred", "tenant_id", "occurred_at"),
        # A pre-pass serial is used by one record only (cloud/uplink/adapters/registry.py; migration 0016).
        Index(
            "ix_uplink_outbox_platform_serial",
            "tenant_id",
            "platform_serial",
            postgresql_where=text("platform_serial IS NOT NULL"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(16), default="pass", server_default="pass")
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    photo_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = utcnow_column()
    claimed_by: Mapped[uuid.UUID | None] = mapped_column()
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    platform_serial: Mapped[str | None] = mapped_column(String(64))
    last_code: Mapped[str | None] = mapped_column(String(32))
    last_message: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = utcnow_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    first_answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    first_outcome: Mapped[str | None] = mapped_column(String(16))
    first_code: Mapped[str | None] = mapped_column(String(32))
    first_message: Mapped[str | None] = mapped_column(String(400))
    first_duration_ms: Mapped[int | None] = mapped_column()


class UplinkAttempt(TenantOwned, Base):
    """One send of one record and the platform's answer (append-only), except a delivery on the first send,
    which the outbox row keeps (``UplinkOutbox.first_*``, docs/adr/0042). ``outbox_id`` names the outbox row
    without a foreign key (migration 0025: the check cost a lookup per attempt; outbox rows are not deleted)."""

    __tablename__ = "uplink_attempt"
    __table_args__ = (Index("ix_uplink_attempt_tenant_outbox", "tenant_id", "outbox_id", "at"),)

    outbox_id: Mapped[uuid.UUID]
    at: Mapped[dt.datetime] = utcnow_column()
    outcome: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(400), default="", server_default="")
    duration_ms: Mapped[int] = mapped_column()


class UplinkDailyReport(TenantOwned, Base):
    """The daily per-gate record counts of one China date for the platform (天津日上报), until delivered."""

    __tablename__ = "uplink_daily_report"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered')", name="state"),
        UniqueConstraint(
            "tenant_id", "record_date", name="uq_uplink_daily_report_tenant_id"
        ),  # as migration 0010 named it
    )

    record_date: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = utcnow_column()
    rows: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    last_code: Mapped[str | None] = mapped_column(String(32))
    last_message: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = utcnow_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UplinkAlarm(TenantOwned, Base):
    """One raised or cleared transition of an uplink alarm (append-only)."""

    __tablename__ = "uplink_alarm"
    __table_args__ = (Index("ix_uplink_alarm_tenant_code_at", "tenant_id", "code", "at"),)

    code: Mapped[str] = mapped_column(String(32))
    raised: Mapped[bool] = mapped_column()
    message: Mapped[str] = mapped_column(String(400), default="", server_default="")
    at: Mapped[dt.datetime] = utcnow_column()
