"""The review queue: check flags, their state, and the resolutions people record (append-only).

A flag is open (red) until its newest resolution is ``resolved`` (处理完毕) or ``dismissed``
(误报); ``reopened`` makes it red again. Every resolution names the person and the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance.checks import REASONS
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant, time_range
from cloud.lib.problems import FieldError, ProblemError, not_found
from tenants.context import Principal

OUTCOMES: Final = {"resolved": "已处理", "dismissed": "误报", "reopened": "重新打开"}
STATUS_LABELS: Final = {"open": "待处理", "closed": "已关闭"}


@dataclass(frozen=True)
class FlagFilter:
    """Queue criteria; all optional."""

    status: str | None = "open"
    code: str | None = None
    pass_event_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    plate: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class FlagView:
    """A flag with its current state and resolution history (oldest first)."""

    flag: m.CheckFlag
    status: str
    history: list[m.CheckResolution]

    @property
    def title(self) -> str:
        """The reason's Chinese title."""
        return REASONS.get(self.flag.code, (self.flag.code, ""))[0]

    @property
    def explanation(self) -> str:
        """The reason's Chinese explanation."""
        return REASONS.get(self.flag.code, ("", ""))[1]


def _latest() -> Select[tuple[uuid.UUID, str]]:
    ranked = select(
        m.CheckResolution.flag_id,
        m.CheckResolution.outcome,
        func.row_number()
        .over(
            partition_by=m.CheckResolution.flag_id,
            order_by=(m.CheckResolution.created_at.desc(), m.CheckResolution.id.desc()),
        )
        .label("rank"),
    ).subquery()
    return select(ranked.c.flag_id, ranked.c.outcome).where(ranked.c.rank == 1)


async def list_flags(
    session: AsyncSession, criteria: FlagFilter, limit: int, offset: int
) -> tuple[list[FlagView], int]:
    """Flags matching ``criteria``, newest record first, with the total count.

    Raises:
        ProblemError: 422 for a bad time bound or an unknown reason code.
    """
    errors = FieldErrors()
    window = time_range(errors, criteria.start, criteria.end)
    if criteria.code and criteria.code not in REASONS:
        errors.add("code", "code.unknown", f"未知的校验原因代码“{criteria.code}”")
    errors.raise_if_any()
    latest = _latest().subquery()
    closed = latest.c.outcome.in_(("resolved", "dismissed"))
    query = select(m.CheckFlag).outerjoin(latest, latest.c.flag_id == m.CheckFlag.id)
    if criteria.status == "open":
        query = query.where(~closed | latest.c.outcome.is_(None))
    elif criteria.status == "closed":
        query = query.where(closed)
    for column, value in (
        (m.CheckFlag.code, criteria.code),
        (m.CheckFlag.pass_event_id, criteria.pass_event_id),
        (m.CheckFlag.vehicle_id, criteria.vehicle_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if criteria.plate:
        query = query.where(m.CheckFlag.plate.contains("".join(criteria.plate.split()).upper(), autoescape=True))
    stamp = func.coalesce(m.CheckFlag.occurred_at, m.CheckFlag.created_at)
    if window.start is not None:
        query = query.where(stamp >= window.start)
    if window.end is not None:
        query = query.where(stamp < window.end)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(await session.scalars(query.order_by(stamp.desc(), m.CheckFlag.id.desc()).limit(limit).offset(offset)))
    return await _views(session, rows), total


async def _views(session: AsyncSession, rows: list[m.CheckFlag]) -> list[FlagView]:
    if not rows:
        return []
    history: dict[uuid.UUID, list[m.CheckResolution]] = {}
    for res in await session.scalars(
        select(m.CheckResolution)
        .where(and_(m.CheckResolution.flag_id.in_([r.id for r in rows])))
        .order_by(m.CheckResolution.created_at, m.CheckResolution.id)
    ):
        history.setdefault(res.flag_id, []).append(res)
    out = []
    for row in rows:
        items = history.get(row.id, [])
        status = "closed" if items and items[-1].outcome in {"resolved", "dismissed"} else "open"
        out.append(FlagView(row, status, items))
    return out


async def get_flag(session: AsyncSession, flag_id: uuid.UUID) -> FlagView:
    """One flag with its history; 404 when it is not the caller's to see."""
    row = await session.scalar(select(m.CheckFlag).where(m.CheckFlag.id == flag_id))
    if row is None:
        raise not_found("校验标记")
    return (await _views(session, [row]))[0]


async def resolve(
    session: AsyncSession, principal: Principal, flag_id: uuid.UUID, outcome: str, reason: str
) -> FlagView:
    """Record a person's resolution (or reopening) of a flag, with the reason.

    Raises:
        ProblemError: 404 unknown flag, 409 ``flag_closed``/``flag_open`` when the outcome does not
            fit the state, 422 empty reason or unknown outcome.
    """
    tenant_id = require_tenant(principal)
    text = reason.strip()
    errors = FieldErrors()
    if outcome not in OUTCOMES:
        errors.add(
            "outcome", "outcome.unknown", "处理结论应为 resolved（已处理）、dismissed（误报）或 reopened（重新打开）"
        )
    if not text:
        errors.add("reason", "reason.empty", "必须填写处理原因")
    errors.raise_if_any()
    # Flags are append-only (no UPDATE grant, so no FOR UPDATE): serialise resolutions of one flag instead.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"flag:{flag_id}", 0))))
    row = await session.scalar(select(m.CheckFlag).where(m.CheckFlag.id == flag_id))
    if row is None:
        raise not_found("校验标记")
    view = (await _views(session, [row]))[0]
    if outcome == "reopened" and view.status == "open":
        raise ProblemError(409, "flag_open", "标记尚未关闭", "只有已关闭的标记才能重新打开")
    if outcome != "reopened" and view.status == "closed":
        raise ProblemError(
            409,
            "flag_closed",
            "标记已关闭",
            "该标记已处理，如需更改请先重新打开",
            [FieldError(field="outcome", code="flag.closed", message="标记已关闭")],
        )
    session.add(
        m.CheckResolution(
            tenant_id=tenant_id, flag_id=row.id, outcome=outcome, reason=text, resolved_by=principal.user_id
        )
    )
    await session.flush()
    audit.record(session, principal, f"check_flag.{outcome}", "check_flag", row.id, {"code": row.code, "reason": text})
    return await get_flag(session, row.id)


async def summary(session: AsyncSession) -> dict[str, int]:
    """Open flags per reason code (the queue's badge counts)."""
    latest = _latest().subquery()
    closed = latest.c.outcome.in_(("resolved", "dismissed"))
    rows = await session.execute(
        select(m.CheckFlag.code, func.count())
        .outerjoin(latest, latest.c.flag_id == m.CheckFlag.id)
        .where(~closed | latest.c.outcome.is_(None))
        .group_by(m.CheckFlag.code)
    )
    return {str(code): int(n) for code, n in rows}
