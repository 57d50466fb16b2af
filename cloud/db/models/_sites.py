"""Sites (厂区), gates (出入口) and lanes (道闸, one direction each)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class Site(TenantOwned, Base):
    """A plant site of a tenant; one agent serves one site."""

    __tablename__ = "site"

    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = utcnow_column()


class Gate(TenantOwned, Base):
    """An entrance/exit (出入口) of a site."""

    __tablename__ = "gate"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["site.tenant_id", "site.id"]),
        UniqueConstraint("tenant_id", "site_id", "code"),
    )

    site_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(32))  # 出入口编号
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = utcnow_column()


class Lane(TenantOwned, Base):
    """A barrier lane (道闸) of a gate, in one direction."""

    __tablename__ = "lane"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "gate_id"], ["gate.tenant_id", "gate.id"]),
        UniqueConstraint("tenant_id", "gate_id", "code"),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
    )

    gate_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(32))  # 道闸编号
    name: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = utcnow_column()
