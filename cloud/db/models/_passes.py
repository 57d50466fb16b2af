"""Pass events (进出记录) and weighings: append-only records born on the agent.

A pass event is never updated in place; corrections and review outcomes are new rows that reference
it (ARCHITECTURE.md "Data model"). Each event carries the agent's hash chain: the hash of its
canonical form and the previous event's hash (per agent).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class PassEvent(TenantOwned, Base):
    """One vehicle crossing one lane once (id = UUIDv7 made on the agent)."""

    __tablename__ = "pass_event"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["site.tenant_id", "site.id"]),
        ForeignKeyConstraint(["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"]),
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"]),
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),  # migration 0013
        ForeignKeyConstraint(["tenant_id", "vehicle_version_id"], ["vehicle_version.tenant_id", "vehicle_version.id"]),
        UniqueConstraint("tenant_id", "agent_id", "seq"),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint("decision IN ('allow', 'refuse')", name="decision"),
        CheckConstraint("trigger IN ('auto', 'manual_release', 'manual_entry')", name="trigger"),
        Index("ix_pass_event_tenant_time", "tenant_id", "occurred_at"),
        Index("ix_pass_event_tenant_plate_time", "tenant_id", "plate", "occurred_at"),
        Index("ix_pass_event_tenant_received", "tenant_id", "received_at"),  # migration 0002 (report refresh)
        Index("ix_pass_event_tenant_vehicle_time", "tenant_id", "vehicle_id", "occurred_at"),  # migration 0013
    )

    site_id: Mapped[uuid.UUID]
    lane_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(BigInteger)  # per-agent sequence number
    direction: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # agent clock
    received_at: Mapped[dt.datetime] = utcnow_column()  # cloud receipt
    plate: Mapped[str] = mapped_column(String(10))
    plate_colour: Mapped[str] = mapped_column(String(12))
    confidence: Mapped[float] = mapped_column(Float)
    internal_code: Mapped[str | None] = mapped_column(String(32))  # 登记编码或内部管理号牌 (in-plant vehicles)
    #: The registered vehicle and its version in force at ``occurred_at`` (set by cloud.ledger, ADR 0024):
    #: every HJ 1321 vehicle field of the pass (REGULATION.md §1.4.2 (a) 8–20, 23) is read from that version.
    vehicle_id: Mapped[uuid.UUID | None]
    vehicle_version_id: Mapped[uuid.UUID | None]
    decision: Mapped[str] = mapped_column(String(6))
    reason_codes: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    trigger: Mapped[str] = mapped_column(String(16), default="auto")
    operator: Mapped[str | None] = mapped_column(String(64))  # manual actions: the operator's account
    operator_name: Mapped[str | None] = mapped_column(String(64))  # ... and display name (issue 15)
    manual_reason: Mapped[str | None] = mapped_column(String(200))
    manual_photo_sha256: Mapped[str | None] = mapped_column(String(64))  # the lane's frame at a manual release
    release_channel: Mapped[str | None] = mapped_column(String(8))  # booth / remote
    plate_source: Mapped[str | None] = mapped_column(String(10))  # confirmed / typed / none
    related_event_id: Mapped[uuid.UUID | None]  # e.g. the refused pass a manual release overrides
    emergency_level: Mapped[str] = mapped_column(String(16), default="none", server_default="none")  # migration 0013
    scene_sha256: Mapped[str | None] = mapped_column(String(64))
    plate_sha256: Mapped[str | None] = mapped_column(String(64))
    cargo_name: Mapped[str | None] = mapped_column(String(64))
    anomaly_flags: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)  # the event as the agent sent it


class Weighing(TenantOwned, Base):
    """A stable weighbridge reading, linked to the pass it belongs to."""

    __tablename__ = "weighing"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["site.tenant_id", "site.id"]),
        ForeignKeyConstraint(["tenant_id", "pass_event_id"], ["pass_event.tenant_id", "pass_event.id"]),
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"]),
        ForeignKeyConstraint(["tenant_id", "assigned_from_id"], ["weighing.tenant_id", "weighing.id"]),
        CheckConstraint("weight_kg >= -100000 AND weight_kg <= 200000", name="weight_range"),
        CheckConstraint("source IN ('agent', 'connector', 'manual')", name="source"),  # migration 0012
        CheckConstraint("direction IS NULL OR direction IN ('in', 'out')", name="direction"),
        CheckConstraint(  # migration 0012
            "(gross_kg IS NULL OR (gross_kg >= 0 AND gross_kg <= 200000))"
            " AND (tare_kg IS NULL OR (tare_kg >= 0 AND tare_kg <= 200000))"
            " AND (net_kg IS NULL OR (net_kg >= -200000 AND net_kg <= 200000))",
            name="trip_range",
        ),
        Index("ix_weighing_tenant_time", "tenant_id", "occurred_at"),
        Index("ix_weighing_tenant_pass", "tenant_id", "pass_event_id"),
        # migration 0012: a connector's record is stored once per (source, external_ref); an unattributed
        # row is assigned to a pass at most once (the assignment is a new row naming it).
        Index(
            "uq_weighing_tenant_source_ref",
            "tenant_id",
            "source",
            "external_ref",
            unique=True,
            postgresql_where=text("external_ref IS NOT NULL"),
        ),
        Index(
            "uq_weighing_tenant_assigned_from",
            "tenant_id",
            "assigned_from_id",
            unique=True,
            postgresql_where=text("assigned_from_id IS NOT NULL"),
        ),
        # migration 0016: reports re-read the days whose passes got a weight since their watermark.
        Index("ix_weighing_tenant_received", "tenant_id", "received_at"),
    )

    site_id: Mapped[uuid.UUID]
    pass_event_id: Mapped[uuid.UUID | None]  # NULL: not attributed to a pass (listed for review)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = utcnow_column()
    weight_kg: Mapped[Decimal] = mapped_column(Numeric(10, 1))
    indicator: Mapped[str] = mapped_column(String(32), default="")
    cargo_name: Mapped[str | None] = mapped_column(String(64))
    # migration 0012 (issue 15): who sent it, the trip's gross/tare/net on the exit pass, review links
    source: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    agent_id: Mapped[uuid.UUID | None]
    direction: Mapped[str | None] = mapped_column(String(3))
    plate: Mapped[str | None] = mapped_column(String(10))
    gross_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    tare_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    net_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    external_ref: Mapped[str | None] = mapped_column(String(64))  # the weighbridge software's record number
    assigned_from_id: Mapped[uuid.UUID | None]  # the unattributed row a person assigned to a pass
    created_by_login: Mapped[str | None] = mapped_column(String(64))


class PassCorrection(TenantOwned, Base):
    """A person's correction of a pass event, with who and why (the event itself never changes).

    A null field keeps the event's value; the newest correction of a pass wins as a whole (so a later
    correction restates every field it means to keep changed). ``void`` takes the pass out of the
    ledger figures (a phantom or duplicate read) while the event stays on record.
    """

    __tablename__ = "pass_correction"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "pass_event_id"], ["pass_event.tenant_id", "pass_event.id"]),
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),
        CheckConstraint("direction IS NULL OR direction IN ('in', 'out')", name="direction"),
        CheckConstraint("net_kg IS NULL OR (net_kg >= 0 AND net_kg <= 200000)", name="net_range"),
        CheckConstraint("btrim(reason) <> ''", name="reason"),
        Index("ix_pass_correction_tenant_pass", "tenant_id", "pass_event_id", "created_at"),
        Index("ix_pass_correction_tenant_created", "tenant_id", "created_at"),
    )

    pass_event_id: Mapped[uuid.UUID]
    plate: Mapped[str | None] = mapped_column(String(10))
    plate_colour: Mapped[str | None] = mapped_column(String(12))
    vehicle_id: Mapped[uuid.UUID | None]
    direction: Mapped[str | None] = mapped_column(String(3))
    cargo_name: Mapped[str | None] = mapped_column(String(64))
    net_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    void: Mapped[bool] = mapped_column(default=False, server_default=false())  # migration 0009
    reason: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID]
    created_by_login: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = utcnow_column()
