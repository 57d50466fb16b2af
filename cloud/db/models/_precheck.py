"""Platform serials issued in answer to pre-pass checks (migration 0016, issue 15; docs/uplink.md)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class PrecheckSerial(TenantOwned, Base):
    """The serial a platform issued when asked about a plate at a lane (``/transport/check``); append-only.

    The uplink sends the pass record of that plate and lane under this serial instead of asking again.
    """

    __tablename__ = "precheck_serial"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"]),
        Index("ix_precheck_serial_lane_plate", "tenant_id", "lane_id", "plate", "issued_at"),
    )

    lane_id: Mapped[uuid.UUID]
    plate: Mapped[str] = mapped_column(String(10))
    platform_serial: Mapped[str] = mapped_column(String(64))
    allowed: Mapped[bool] = mapped_column(Boolean)
    profile: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[dt.datetime] = utcnow_column()
