"""Non-road transport records (rail, waterway, pipeline, tubular belt, belt gallery): list and append.

Records are append-only: a correction is a new record that supersedes one (``supersedes_id``), a
cancellation a superseding record marked ``voided``. Only the newest record of a chain counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import audit
from cloud.lib.problems import ProblemError, not_found
from cloud.reports.periods import china_today
from tenants.context import Principal

MAX_TONNAGE = Decimal(10_000_000)


@dataclass(frozen=True)
class NewRecord:
    """A record as entered."""

    day: dt.date
    mode: str
    direction: str
    cargo_name: str
    tonnage_t: Decimal
    trips: int
    note: str
    supersedes_id: uuid.UUID | None
    voided: bool


async def list_records(
    session: AsyncSession, tenant_id: uuid.UUID, first: dt.date | None, last: dt.date | None
) -> tuple[list[m.NonRoadTransport], set[uuid.UUID]]:
    """Records of the tenant (every version), newest day first, and the ids that were superseded."""
    query = select(m.NonRoadTransport).where(m.NonRoadTransport.tenant_id == tenant_id)
    if first is not None:
        query = query.where(m.NonRoadTransport.day >= first)
    if last is not None:
        query = query.where(m.NonRoadTransport.day <= last)
    rows = list(await session.scalars(query.order_by(m.NonRoadTransport.day.desc(), m.NonRoadTransport.id)))
    superseded = set(
        await session.scalars(
            select(m.NonRoadTransport.supersedes_id).where(
                m.NonRoadTransport.tenant_id == tenant_id, m.NonRoadTransport.supersedes_id.is_not(None)
            )
        )
    )
    return rows, {s for s in superseded if s is not None}


async def add_record(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, data: NewRecord
) -> m.NonRoadTransport:
    """Append a record (audited).

    Raises:
        ProblemError: 422 for a day in the future or before 2000, a tonnage out of range or finer than
            a kilogram; 404 for an unknown superseded record; 409 when it was already superseded.
    """
    if data.day > china_today() or data.day.year < 2000:
        raise ProblemError(422, "validation_failed", "数据校验未通过", "日期不能晚于今天或早于 2000 年")
    exponent = data.tonnage_t.as_tuple().exponent
    if not Decimal(0) <= data.tonnage_t <= MAX_TONNAGE or (isinstance(exponent, int) and exponent < -3):
        raise ProblemError(422, "validation_failed", "数据校验未通过", "运输量应在 0–10,000,000 吨之间，最多 3 位小数")
    if data.supersedes_id is not None:
        target = await session.scalar(select(m.NonRoadTransport).where(m.NonRoadTransport.id == data.supersedes_id))
        if target is None:
            raise not_found("非道路运输记录")
        taken = await session.scalar(
            select(m.NonRoadTransport.id).where(m.NonRoadTransport.supersedes_id == data.supersedes_id)
        )
        if taken is not None:
            raise ProblemError(409, "conflict", "数据冲突", "该记录已被更正，请更正最新的记录")
    row = m.NonRoadTransport(
        tenant_id=tenant_id,
        day=data.day,
        mode=data.mode,
        direction=data.direction,
        cargo_name=data.cargo_name,
        tonnage_t=data.tonnage_t,
        trips=data.trips,
        note=data.note,
        supersedes_id=data.supersedes_id,
        voided=data.voided,
        created_by=principal.user_id,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal,
        "non_road_transport.created",
        "non_road_transport",
        row.id,
        {"mode": data.mode, "tonnage_t": str(data.tonnage_t), "supersedes_id": str(data.supersedes_id or "")},
    )
    await session.refresh(row)
    return row
