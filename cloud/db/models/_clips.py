"""Late clips of pass events (issue 4, ADR 0020): a video clip cut on the agent after the pass.

The sealed pass event keeps the clip cut when the barrier was commanded (often short with early
plate emission); the agent sends the full clip [pass − clip_before_s, pass + clip_after_s] later as
an attachment. Rows are append-only and stored once per attachment id (UUIDv7 made on the agent).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class PassClip(TenantOwned, Base):
    """A late clip attachment of one pass event; the bytes are the blob ``sha256``."""

    __tablename__ = "pass_clip"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "pass_event_id"], ["pass_event.tenant_id", "pass_event.id"]),
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"]),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("size_bytes >= 0", name="size"),
        CheckConstraint('"start" <= "end"', name="span"),
        Index("ix_pass_clip_tenant_pass", "tenant_id", "pass_event_id"),
    )

    pass_event_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    mime: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = utcnow_column()
