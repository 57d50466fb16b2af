"""Edge agents (one per site) and their devices (cameras, barriers, weighbridges, displays, inputs)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, ForeignKeyConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class Agent(TenantOwned, Base):
    """An enrolled edge agent bound to (tenant, site)."""

    __tablename__ = "agent"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["site.tenant_id", "site.id"]),
        CheckConstraint("status IN ('pending', 'active', 'revoked')", name="status"),
    )

    site_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    credential_hash: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    health: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = utcnow_column()


class Device(TenantOwned, Base):
    """A device attached to an agent, optionally bound to a lane."""

    __tablename__ = "device"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"]),
        ForeignKeyConstraint(["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"]),
        CheckConstraint("kind IN ('camera', 'barrier', 'weighbridge', 'display', 'input')", name="kind"),
    )

    agent_id: Mapped[uuid.UUID]
    lane_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = utcnow_column()
