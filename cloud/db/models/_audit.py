"""The audit log: one append-only row per change, with who, what and when."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class AuditLog(TenantOwned, Base):
    """A change made in a tenant (append-only: the application may only insert and read)."""

    __tablename__ = "audit_log"

    at: Mapped[dt.datetime] = utcnow_column()
    actor_id: Mapped[uuid.UUID | None]
    actor_login: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
