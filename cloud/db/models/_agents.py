"""Edge agents (one per site) and their devices (cameras, barriers, weighbridges, displays, inputs)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    credential_rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    health_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


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


class AgentEnrollmentCode(TenantOwned, Base):
    """A one-time code that enrolls one agent for a site; only its SHA-256 is stored."""

    __tablename__ = "agent_enrollment_code"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["site.tenant_id", "site.id"]),
        UniqueConstraint("code_hash"),
    )

    site_id: Mapped[uuid.UUID]
    agent_name: Mapped[str] = mapped_column(String(100))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    agent_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class AgentCommand(TenantOwned, Base):
    """A command sent to agents (append-only); ``agent_ids`` None = every agent of the tenant."""

    __tablename__ = "agent_command"
    __table_args__ = (Index("ix_agent_command_tenant_created", "tenant_id", "created_at"),)

    agent_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid()))
    name: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()


class AgentCommandResult(TenantOwned, Base):
    """One agent's answer to a command (append-only, one per agent and command)."""

    __tablename__ = "agent_command_result"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"]),
        UniqueConstraint("tenant_id", "command_id", "agent_id"),
    )

    command_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    ok: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(String(500))
    #: The blob the answer names (``camera_snapshot``), migration 0008.
    blob_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = utcnow_column()
