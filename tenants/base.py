"""Declarative base, constraint naming convention and the TenantOwned mixin.

Every tenant table carries ``tenant_id`` as the first column of its primary key and of every foreign
key to another tenant table (Citus-ready, ARCHITECTURE.md "Processes"); see docs/adr/0002.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from sqlalchemy import DateTime, ForeignKey, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenants.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table of ours."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    #: True for tables protected by the tenant RLS policy (set by TenantOwned).
    __tenant_owned__: ClassVar[bool] = False


def utcnow_column() -> Mapped[dt.datetime]:
    """A ``timestamptz`` column defaulting to the database clock."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class TenantOwned:
    """Mixin for tenant tables: composite primary key ``(tenant_id, id)`` with a UUIDv7 id."""

    __tenant_owned__: ClassVar[bool] = True

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="RESTRICT"), primary_key=True, sort_order=-100
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-99)
