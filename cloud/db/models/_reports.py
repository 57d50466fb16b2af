"""Reports: daily aggregates of the pass ledger, non-road transport records and export jobs (issue 7).

The aggregates are a cache: every figure they hold is the output of the raw per-pass query in
``cloud.reports.facts`` for whole China days, rebuilt for the days whose source rows changed since
the tenant's watermark (docs/reports.md). Non-road transport records (rail, waterway, pipeline,
tubular belt, belt gallery) are append-only; a correction is a new record that supersedes one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column

NON_ROAD_MODES = ("rail", "water", "pipeline", "tubular_belt", "belt_gallery")


class _Measures:
    """The measures every aggregate keeps (definitions in cloud.reports.facts)."""

    passes: Mapped[int] = mapped_column(Integer)
    weighed: Mapped[int] = mapped_column(Integer)
    net_kg: Mapped[Decimal] = mapped_column(Numeric(16, 1))
    complete: Mapped[int] = mapped_column(Integer)
    timely: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[int] = mapped_column(Integer)
    cargo_unweighed: Mapped[int] = mapped_column(Integer)
    manual_with_reason: Mapped[int] = mapped_column(Integer)


class ReportDaily(_Measures, TenantOwned, Base):
    """Pass counts and tonnage of one China day by direction, decision, trigger, vehicle and warning level."""

    __tablename__ = "report_daily"
    __table_args__ = (Index("ix_report_daily_tenant_day", "tenant_id", "day"),)

    day: Mapped[dt.date] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(3))
    decision: Mapped[str] = mapped_column(String(6))
    trigger: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(10))
    fuel: Mapped[str | None] = mapped_column(String(12))
    stage: Mapped[str | None] = mapped_column(String(12))
    heavy: Mapped[bool | None] = mapped_column(Boolean)
    emergency_level: Mapped[str] = mapped_column(String(16))


class _CarrierGroups:
    """The groups of the carrier aggregates (per day and per month): direction, decision, vehicle, carrier."""

    direction: Mapped[str] = mapped_column(String(3))
    decision: Mapped[str] = mapped_column(String(6))
    category: Mapped[str | None] = mapped_column(String(10))
    fuel: Mapped[str | None] = mapped_column(String(12))
    stage: Mapped[str | None] = mapped_column(String(12))
    heavy: Mapped[bool | None] = mapped_column(Boolean)
    carrier: Mapped[str | None] = mapped_column(String(100))


class ReportDailyCarrier(_CarrierGroups, _Measures, TenantOwned, Base):
    """The same measures per carrier (车队名称) and vehicle, for the carrier ranking."""

    __tablename__ = "report_daily_carrier"
    __table_args__ = (Index("ix_report_daily_carrier_tenant_day", "tenant_id", "day"),)

    day: Mapped[dt.date] = mapped_column(Date)


class ReportMonthlyCarrier(_CarrierGroups, _Measures, TenantOwned, Base):
    """``report_daily_carrier`` summed per calendar month (``month``: its first day), for a year's carrier ranking."""

    __tablename__ = "report_monthly_carrier"
    __table_args__ = (Index("ix_report_monthly_carrier_tenant_month", "tenant_id", "month"),)

    month: Mapped[dt.date] = mapped_column(Date)


class ReportDailyHour(_Measures, TenantOwned, Base):
    """The same measures per China hour of the day (peak hours)."""

    __tablename__ = "report_daily_hour"
    __table_args__ = (Index("ix_report_daily_hour_tenant_day", "tenant_id", "day"),)

    day: Mapped[dt.date] = mapped_column(Date)
    hour: Mapped[int] = mapped_column(SmallInteger)
    direction: Mapped[str] = mapped_column(String(3))
    decision: Mapped[str] = mapped_column(String(6))


class ReportDailyReason(TenantOwned, Base):
    """Refused passes of one China day per reason code (a pass with two reasons counts under both)."""

    __tablename__ = "report_daily_reason"
    __table_args__ = (Index("ix_report_daily_reason_tenant_day", "tenant_id", "day"),)

    day: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    passes: Mapped[int] = mapped_column(Integer)


class ReportRefreshState(TenantOwned, Base):
    """How far a tenant's aggregates are built: source rows received before ``watermark`` are folded in."""

    __tablename__ = "report_refresh_state"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    watermark: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[dt.datetime] = utcnow_column()
    #: Source rows stamped within the safety lag before ``watermark``, as counted when it was taken (migration
    #: 0023): the same count at the next refresh means no late commit landed there (cloud.reports.facts).
    lag_rows: Mapped[int | None] = mapped_column(BigInteger)


class NonRoadTransport(TenantOwned, Base):
    """Tonnage moved by a clean non-road mode on one China day (清洁运输方式), entered by the enterprise."""

    __tablename__ = "non_road_transport"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "supersedes_id"], ["non_road_transport.tenant_id", "non_road_transport.id"]),
        CheckConstraint(
            "mode IN ('rail', 'water', 'pipeline', 'tubular_belt', 'belt_gallery')",
            name="mode",
        ),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint("tonnage_t >= 0 AND trips >= 0", name="non_negative"),
        Index("ix_non_road_transport_tenant_day", "tenant_id", "day"),
    )

    day: Mapped[dt.date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(3))
    cargo_name: Mapped[str] = mapped_column(String(64))
    tonnage_t: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    trips: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")
    supersedes_id: Mapped[uuid.UUID | None]
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class ExportJob(TenantOwned, Base):
    """A report export running in the background, with its progress and, when done, the file."""

    __tablename__ = "report_export_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("format IN ('xlsx', 'pdf', 'csv')", name="format"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        Index("ix_report_export_job_tenant_created", "tenant_id", "created_at"),
    )

    report: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(4))
    params: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(8), default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    rows: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()
