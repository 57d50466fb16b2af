"""Background jobs (exports, imports) claimed by any cloud replica with a lease (issue 20, ADR 0031).

The runner is ``cloud.jobs``; the result file lives in the blob store under ``result_sha256``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column

JOB_STATUSES = ("queued", "running", "done", "failed", "expired")


class BackgroundJob(TenantOwned, Base):
    """One job: kind and parameters, status and progress, the claim and lease, and the result's digest."""

    __tablename__ = "background_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'expired')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_background_job_tenant_created", "tenant_id", "created_at"),
        Index(
            "ix_background_job_due",
            "tenant_id",
            "created_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(8), default="queued", server_default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_by: Mapped[uuid.UUID | None]
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    result_filename: Mapped[str | None] = mapped_column(String(200))
    result_content_type: Mapped[str | None] = mapped_column(String(100))
    result_rows: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
