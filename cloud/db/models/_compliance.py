"""Compliance (issue 6): policies, region alerts, emergency responses, blacklist, maker-checker reviews,
logic-check flags and their resolutions, inventories, audit samples, the cloud chain and chain anchors.

Every record a person or a check makes here is append-only unless it is a working document (an open
inventory sheet, the check watermark): a resolution, a review or a revocation is a new row that
references the one it concerns (ARCHITECTURE.md "Data model essentials"). ``region_alert`` is the
one platform-level table: it has no tenant and is written only through the audited platform-admin
path (docs/adr/0005-compliance-records-and-chains.md). Every new chained row is sealed into the tenant's
cloud chain inside the transaction that writes it by the session hooks of ``cloud.db.sealing``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column
from tenants.ids import new_id

ALERT_LEVELS = ("yellow", "orange", "red")


class PolicyVersion(TenantOwned, Base):
    """One version of a tenant's gate control policy (``hj1321.rules.ControlPolicy`` as JSON).

    A version without a window is a base policy; one with ``effective_from``/``effective_until`` is a
    scheduled policy that takes precedence while its window is open (Asia/Shanghai for display).
    """

    __tablename__ = "policy_version"
    __table_args__ = (
        UniqueConstraint("tenant_id", "version"),
        CheckConstraint(
            "effective_until IS NULL OR effective_from IS NULL OR effective_until > effective_from", name="window"
        ),
    )

    version: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, object]] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(String(200))
    effective_from: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    effective_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class RegionAlert(Base):
    """A heavy-pollution warning declared for a region (platform level, no tenant; REGULATION.md §4.3)."""

    __tablename__ = "region_alert"
    __table_args__ = (
        CheckConstraint("level IN ('yellow', 'orange', 'red')", name="level"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_region_alert_region_time", "region_code", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    level: Mapped[str] = mapped_column(String(8))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="platform")
    declared_by: Mapped[uuid.UUID | None]
    declared_at: Mapped[dt.datetime] = utcnow_column()
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[uuid.UUID | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class EmergencyResponse(TenantOwned, Base):
    """An emergency-response record of one tenant: an alert period that applies to it, or its end."""

    __tablename__ = "emergency_response"
    __table_args__ = (
        CheckConstraint("level IN ('yellow', 'orange', 'red')", name="level"),
        CheckConstraint("event IN ('declared', 'cancelled')", name="event"),
        Index("ix_emergency_response_tenant_start", "tenant_id", "starts_at"),
    )

    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("region_alert.id"))
    event: Mapped[str] = mapped_column(String(10))
    level: Mapped[str] = mapped_column(String(8))
    region_code: Mapped[str] = mapped_column(String(6))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(200))
    agents_notified: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class BlacklistEntry(TenantOwned, Base):
    """A plate refused at every gate of the tenant (regulator over-emission list or the plant's own)."""

    __tablename__ = "blacklist_entry"
    __table_args__ = (
        CheckConstraint("source IN ('regulator', 'enterprise')", name="source"),
        Index("ix_blacklist_entry_tenant_plate", "tenant_id", "plate"),
    )

    plate: Mapped[str] = mapped_column(String(10))
    plate_colour: Mapped[str | None] = mapped_column(String(12))
    vin: Mapped[str | None] = mapped_column(String(17))
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    list_name: Mapped[str | None] = mapped_column(String(100))
    valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    import_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class BlacklistRevocation(TenantOwned, Base):
    """The removal of a blacklist entry (append-only; the entry itself is never deleted)."""

    __tablename__ = "blacklist_revocation"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "entry_id"], ["blacklist_entry.tenant_id", "blacklist_entry.id"]),
        UniqueConstraint("tenant_id", "entry_id"),
    )

    entry_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class VehicleReview(TenantOwned, Base):
    """A second person's verdict on a vehicle version (maker-checker): verified or rejected."""

    __tablename__ = "vehicle_review"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),
        ForeignKeyConstraint(["tenant_id", "version_id"], ["vehicle_version.tenant_id", "vehicle_version.id"]),
        CheckConstraint("decision IN ('verified', 'rejected')", name="decision"),
        UniqueConstraint("tenant_id", "version_id"),
    )

    vehicle_id: Mapped[uuid.UUID]
    version_id: Mapped[uuid.UUID]
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(200))
    reviewed_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = utcnow_column()


class CheckFlag(TenantOwned, Base):
    """A logic-check finding on a pass event or a vehicle (red until a resolution references it)."""

    __tablename__ = "check_flag"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "pass_event_id"], ["pass_event.tenant_id", "pass_event.id"]),
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),
        UniqueConstraint("tenant_id", "code", "subject_key"),
        Index("ix_check_flag_tenant_pass", "tenant_id", "pass_event_id"),
        Index("ix_check_flag_tenant_vehicle", "tenant_id", "vehicle_id"),
        Index("ix_check_flag_tenant_created", "tenant_id", "created_at"),
    )

    code: Mapped[str] = mapped_column(String(40))
    subject_key: Mapped[str] = mapped_column(String(80))  # dedupe key: pass id, vehicle id, vehicle/version…
    pass_event_id: Mapped[uuid.UUID | None]
    vehicle_id: Mapped[uuid.UUID | None]
    plate: Mapped[str | None] = mapped_column(String(10))
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(String(400))
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = utcnow_column()


class CheckResolution(TenantOwned, Base):
    """A person's resolution of a check flag, with the reason (the review history is these rows)."""

    __tablename__ = "check_resolution"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "flag_id"], ["check_flag.tenant_id", "check_flag.id"]),
        CheckConstraint("outcome IN ('resolved', 'dismissed', 'reopened')", name="outcome"),
        Index("ix_check_resolution_tenant_flag", "tenant_id", "flag_id", "created_at"),
    )

    flag_id: Mapped[uuid.UUID]
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200))
    resolved_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = utcnow_column()


class CheckState(TenantOwned, Base):
    """Where the tenant's logic checks have got to (a watermark; working state, not a record)."""

    __tablename__ = "check_state"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    passes_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    vehicles_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    swept_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class InventorySheet(TenantOwned, Base):
    """A 盘点 of in-plant vehicles and non-road machinery: open while counting, then closed (frozen)."""

    __tablename__ = "inventory_sheet"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["site.tenant_id", "site.id"]),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("scope IN ('in_plant', 'nrmm', 'all')", name="scope"),
    )

    title: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(10))
    site_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(8), default="open")
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()
    closed_by: Mapped[uuid.UUID | None]
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class InventoryLine(TenantOwned, Base):
    """One line of a count sheet: a ledger machine expected on site, or one found that the ledger lacks."""

    __tablename__ = "inventory_line"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "sheet_id"], ["inventory_sheet.tenant_id", "inventory_sheet.id"]),
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),
        UniqueConstraint("tenant_id", "sheet_id", "identifier"),
    )

    sheet_id: Mapped[uuid.UUID]
    vehicle_id: Mapped[uuid.UUID | None]
    category: Mapped[str | None] = mapped_column(String(10))
    identifier: Mapped[str] = mapped_column(String(64))  # env code, internal code or plate (canonical)
    label: Mapped[str] = mapped_column(String(100), default="")
    expected: Mapped[bool] = mapped_column(Boolean)
    present: Mapped[bool | None] = mapped_column(Boolean)  # None = not counted yet
    note: Mapped[str] = mapped_column(String(200), default="")
    follow_up: Mapped[str | None] = mapped_column(String(200))
    counted_by: Mapped[uuid.UUID | None]
    counted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = utcnow_column()


class AuditSample(TenantOwned, Base):
    """A quarterly random sample of pass records, as an inspector draws it (REGULATION.md §1.5)."""

    __tablename__ = "audit_sample"

    quarter: Mapped[str] = mapped_column(String(6))  # 2026Q4
    seed: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    pass_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class CloudChainEntry(TenantOwned, Base):
    """One link of the tenant's chain over records born in the cloud (docs/compliance.md)."""

    __tablename__ = "cloud_chain"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        UniqueConstraint("tenant_id", "record_type", "record_id"),
    )

    seq: Mapped[int] = mapped_column(BigInteger)
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[uuid.UUID]
    content_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = utcnow_column()


class ChainAnchor(TenantOwned, Base):
    """The heads of a tenant's agent chains and cloud chain at a moment, hashed and chained (daily / on demand)."""

    __tablename__ = "chain_anchor"
    __table_args__ = (
        CheckConstraint("kind IN ('daily', 'on_demand')", name="kind"),
        Index("ix_chain_anchor_tenant_created", "tenant_id", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    business_day: Mapped[dt.date] = mapped_column(Date)
    heads: Mapped[dict[str, object]] = mapped_column(JSONB)
    prev_anchor_hash: Mapped[str] = mapped_column(String(64))
    anchor_hash: Mapped[str] = mapped_column(String(64))
    anchored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()
