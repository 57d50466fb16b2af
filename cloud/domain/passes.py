"""Pass events (进出记录) and weighings: filtered reads.

Events are born on the agent and never updated; ``cloud.ledger`` is the only writer (ADR 0024), this
module reads them. Lists are
ordered by ``occurred_at`` descending with the id as tie-breaker, and page either by offset or by
an opaque keyset cursor (stable while new events arrive).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain.common import FieldErrors, decode_cursor, encode_cursor, time_range
from cloud.lib.problems import FieldError, ProblemError, not_found
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
