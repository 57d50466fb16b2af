"""Pass events (进出记录) and weighings: filtered reads, and the append-only insert path.

Events are born on the agent and never updated; the cloud only inserts and reads them. Lists are
ordered by ``occurred_at`` descending with the id as tie-breaker, and page either by offset or by
an opaque keyset cursor (stable while new events arrive).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain.common import FieldErrors, decode_cursor, encode_cursor, time_range
from cloud.lib.problems import FieldError, ProblemError, not_found
from cloud.uplink import outbox as uplink_outbox
from hj1321.plates import canonical_plate


@dataclass(frozen=True)
class PassFilter:
    """Pass-event criteria; all optional, combined with AND. ``start``/``end`` are raw query text."""

    plate: str | None = None
    start: str | None = None
    end: str | None = None
    site_id: uuid.UUID | None = None
    lane_id: uuid.UUID | None = None
    direction: str | None = None
    decision: str | None = None
    trigger: str | None = None
    vehicle_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PassPage:
    """One page of pass events."""

    items: list[m.PassEvent]
    total: int
    next_cursor: str | None


def _pass_query(criteria: PassFilter) -> Select[m.PassEvent]:
    errors = FieldErrors()
    window = time_range(errors, criteria.start, criteria.end)
    errors.raise_if_any()
    query = select(m.PassEvent)
    if criteria.plate:
        query = query.where(m.PassEvent.plate.contains(canonical_plate(criteria.plate), autoescape=True))
    if window.start is not None:
        query = query.where(m.PassEvent.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(m.PassEvent.occurred_at < window.end)
    for column, value in (
        (m.PassEvent.site_id, criteria.site_id),
        (m.PassEvent.lane_id, criteria.lane_id),
        (m.PassEvent.direction, criteria.direction),
        (m.PassEvent.decision, criteria.decision),
        (m.PassEvent.trigger, criteria.trigger),
        (m.PassEvent.vehicle_id, criteria.vehicle_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


async def list_passes(
    session: AsyncSession, criteria: PassFilter, limit: int, offset: int, cursor: str | None
) -> PassPage:
    """Pass events matching ``criteria``, newest first.

    Raises:
        ProblemError: 422 for a bad time bound, 400 for a bad cursor or a cursor combined with an offset.
    """
    query = _pass_query(criteria)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if cursor:
        if offset:
            raise ProblemError(
                400,
                "request_invalid",
                "请求参数不合法",
                "cursor 与 offset 不能同时使用",
                [FieldError(field="offset", code="offset.with_cursor", message="使用游标分页时不能指定 offset")],
            )
        at, oid = decode_cursor(cursor)
        query = query.where(tuple_(m.PassEvent.occurred_at, m.PassEvent.id) < tuple_(at, oid))
    rows = list(
        await session.scalars(
            query.order_by(m.PassEvent.occurred_at.desc(), m.PassEvent.id.desc()).limit(limit + 1).offset(offset)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].occurred_at, rows[-1].id) if more and rows else None
    return PassPage(rows, total, next_cursor)


async def get_pass(session: AsyncSession, pass_id: uuid.UUID) -> tuple[m.PassEvent, list[m.Weighing]]:
    """A pass event with its weighings; 404 when it is not the caller's to see."""
    event = await session.scalar(select(m.PassEvent).where(m.PassEvent.id == pass_id))
    if event is None:
        raise not_found("通行记录")
    weighings = list(
        await session.scalars(
            select(m.Weighing)
            .where(m.Weighing.tenant_id == event.tenant_id, m.Weighing.pass_event_id == event.id)
            .order_by(m.Weighing.occurred_at)
        )
    )
    return event, weighings


@dataclass(frozen=True)
class WeighingFilter:
    """Weighing criteria; all optional."""

    start: str | None = None
    end: str | None = None
    site_id: uuid.UUID | None = None
    pass_event_id: uuid.UUID | None = None
    cargo_name: str | None = None


async def list_weighings(
    session: AsyncSession, criteria: WeighingFilter, limit: int, offset: int
) -> tuple[list[m.Weighing], int]:
    """Weighings matching ``criteria``, newest first, with the total count."""
    errors = FieldErrors()
    window = time_range(errors, criteria.start, criteria.end)
    errors.raise_if_any()
    query = select(m.Weighing)
    if window.start is not None:
        query = query.where(m.Weighing.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(m.Weighing.occurred_at < window.end)
    if criteria.site_id is not None:
        query = query.where(m.Weighing.site_id == criteria.site_id)
    if criteria.pass_event_id is not None:
        query = query.where(m.Weighing.pass_event_id == criteria.pass_event_id)
    if criteria.cargo_name:
        query = query.where(m.Weighing.cargo_name.contains(criteria.cargo_name.strip(), autoescape=True))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(m.Weighing.occurred_at.desc(), m.Weighing.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


# The append-only insert path (the agent hub's ingest builds on it) ---------------------------------


@dataclass(frozen=True)
class NewPassEvent:
    """A pass event as an agent reports it (ids are UUIDv7 made on the agent)."""

    id: uuid.UUID
    site_id: uuid.UUID
    lane_id: uuid.UUID
    agent_id: uuid.UUID
    seq: int
    direction: str
    occurred_at: dt.datetime
    plate: str
    plate_colour: str
    confidence: float
    decision: str
    prev_hash: str
    hash: str
    trigger: str = "auto"
    reason_codes: list[str] = field(default_factory=list)
    vehicle_id: uuid.UUID | None = None
    operator: str | None = None
    manual_reason: str | None = None
    scene_sha256: str | None = None
    plate_sha256: str | None = None
    cargo_name: str | None = None
    anomaly_flags: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)


async def insert_pass_event(session: AsyncSession, tenant_id: uuid.UUID, event: NewPassEvent) -> m.PassEvent:
    """Insert one pass event for ``tenant_id`` (the session's tenant; RLS refuses any other)."""
    row = m.PassEvent(
        tenant_id=tenant_id,
        id=event.id,
        site_id=event.site_id,
        lane_id=event.lane_id,
        agent_id=event.agent_id,
        seq=event.seq,
        direction=event.direction,
        occurred_at=event.occurred_at,
        plate=canonical_plate(event.plate),
        plate_colour=event.plate_colour,
        confidence=event.confidence,
        vehicle_id=event.vehicle_id,
        decision=event.decision,
        reason_codes=list(event.reason_codes),
        trigger=event.trigger,
        operator=event.operator,
        manual_reason=event.manual_reason,
        scene_sha256=event.scene_sha256,
        plate_sha256=event.plate_sha256,
        cargo_name=event.cargo_name,
        anomaly_flags=list(event.anomaly_flags),
        prev_hash=event.prev_hash,
        hash=event.hash,
        payload=dict(event.payload),
    )
    session.add(row)
    await session.flush()
    # Issue 8: queued for the regulator platform in the same transaction (nothing without a platform).
    await uplink_outbox.enqueue(session, tenant_id, [(row.id, row.occurred_at)])
    return row


async def insert_weighing(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    site_id: uuid.UUID,
    occurred_at: dt.datetime,
    weight_kg: Decimal,
    pass_event_id: uuid.UUID | None = None,
    indicator: str = "",
    cargo_name: str | None = None,
    weighing_id: uuid.UUID | None = None,
) -> m.Weighing:
    """Insert one stable weighbridge reading for ``tenant_id``."""
    row = m.Weighing(
        tenant_id=tenant_id,
        site_id=site_id,
        pass_event_id=pass_event_id,
        occurred_at=occurred_at,
        weight_kg=weight_kg,
        indicator=indicator,
        cargo_name=cargo_name,
    )
    if weighing_id is not None:
        row.id = weighing_id
    session.add(row)
    await session.flush()
    return row
