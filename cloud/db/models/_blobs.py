"""Blob metadata: photos and document scans, stored content-addressed by sha256."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, utcnow_column


class Blob(Base):
    """A stored object; the bytes live in the blob store under their sha256."""

    __tablename__ = "blob"
    __tenant_owned__: ClassVar[bool] = True
    __table_args__ = (CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = utcnow_column()
