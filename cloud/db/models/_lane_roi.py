"""Lane recognition regions (ROI) set from the portal over a camera snapshot (issue 9)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class LaneRoi(TenantOwned, Base):
    """One saved ROI of a lane (append-only: the newest row per lane is in force), with who and when."""

    __tablename__ = "lane_roi"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"]),
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"]),
        CheckConstraint("x1 >= 0 AND y1 >= 0 AND x2 > x1 AND y2 > y1", name="box"),
        Index("ix_lane_roi_tenant_lane_created", "tenant_id", "lane_id", "created_at"),
    )

    lane_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    x2: Mapped[int] = mapped_column(Integer)
    y2: Mapped[int] = mapped_column(Integer)
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    command_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    created_by_login: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = utcnow_column()
