"""The review queue: check flags, their state, and the resolutions people record (append-only).

A flag is open (red) until its newest resolution is ``resolved`` (处理完毕) or ``dismissed``
(误报); ``reopened`` makes it red again. Every resolution names the person and the reason.

**The one definition of an open flag** (issue 15; docs/reports.md "Open flags"), used by the portal
home, the reports page and statistics, the grading indicator ``open_flags``, ``GET /compliance/flags``
(status ``open``) and its summary: a ``check_flag`` row — logic check, weighing check, platform
rejection — whose newest resolution is none or ``reopened``, unless its pass has been voided by a
correction. It is counted per flag; a period counts the flags whose record time (the pass time, else
when the flag was raised) falls in it. :func:`open_condition` is that predicate; nothing else counts
open flags. The agent's anomaly codes on a pass are evidence shown with the pass; the ones that need a
person become check flags through the logic checks (``clock_skew``, ``unknown_internal``, …).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance.checks import REASONS
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant, time_range
from cloud.lib.problems import FieldError, ProblemError, not_found
from tenants.context import Principal

OUTCOMES: Final = {"resolved": "已处理", "dismissed": "误报", "reopened": "重新打开"}
STATUS_LABELS: Final = {"open": "待处理", "closed": "已关闭"}
#: Chinese names of the anomaly codes agents put on pass events (agent/decision/engine.py, agent/runtime,
#: agent/devices/weighing.py, agent/outbox); pages and exports show these, never the code.
ANOMALY_LABELS: Final = {
    "needs_review": "识别结果待人工复核",
    "low_confidence": "车牌识别置信度低",
    "manual_release": "人工放行",
    "manual_entry": "人工录入车牌",
    "regulator_allowed": "监管平台核验放行",
    "regulator_refused": "监管平台核验拒绝",
    "regulator_timeout": "监管平台核验超时",
    "regulator_error": "监管平台核验失败",
    "regulator_unavailable": "监管平台核验不可用",
    "weighing_missing": "缺少称重记录",
    "stage_unknown": "排放阶段未知",
    "unknown_internal": "未登记的厂内车辆或机械",
    "unknown_vehicle_allowed": "未登记车辆按规则放行",
    "exempted": "豁免车辆",
    "exit_not_enforced": "出厂方向未执行管控",
    "clock_skew": "时钟偏差",
    "cargo_missing": "缺少货物名称",
    "exit_before_entry": "出场时间早于入场时间",
    "trip_too_long": "运输时长异常",
    "tare_mismatch": "皮重与登记不符",
    "media_dropped_disk_full": "磁盘已满，照片视频未保存",
}


def anomaly_label(code: str) -> str:
    """The Chinese name of an agent anomaly code (a check reason's title, else the code itself)."""
    return ANOMALY_LABELS.get(code) or REASONS.get(code, (code, ""))[0]


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


def _voided(flag: type[m.CheckFlag]) -> Any:
    """True when the flag's pass is voided by its newest correction."""
    newest = (
        select(m.PassCorrection.void)
        .where(
            m.PassCorrection.tenant_id == flag.tenant_id,
            m.PassCorrection.pass_event_id == flag.pass_event_id,
        )
        .order_by(m.PassCorrection.created_at.desc(), m.PassCorrection.id.desc())
        .limit(1)
        .correlate(flag)
        .scalar_subquery()
    )
    return func.coalesce(newest, False)


def _newest_outcome(flag: type[m.CheckFlag]) -> Any:
    """The newest resolution's outcome of the flag (NULL: never resolved)."""
    return (
        select(m.CheckResolution.outcome)
        .where(m.CheckResolution.tenant_id == flag.tenant_id, m.CheckResolution.flag_id == flag.id)
        .order_by(m.CheckResolution.created_at.desc(), m.CheckResolution.id.desc())
        .limit(1)
        .correlate(flag)
        .scalar_subquery()
    )


def open_condition() -> Any:
    """The SQL predicate "this ``check_flag`` is open" (the module docstring's one definition)."""
    outcome = _newest_outcome(m.CheckFlag)
    return and_(
        func.coalesce(outcome, "reopened") == "reopened",
        m.CheckFlag.pass_event_id.is_(None) | ~_voided(m.CheckFlag),
    )


async def open_by_pass(session: AsyncSession, pass_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The Chinese titles of the open flags (:func:`open_condition`) of each of ``pass_ids`` (issue 19: red rows)."""
    if not pass_ids:
        return {}
    rows = await session.execute(
        select(m.CheckFlag.pass_event_id, m.CheckFlag.code)
        .where(m.CheckFlag.pass_event_id.in_(pass_ids), open_condition())
        .order_by(m.CheckFlag.created_at)
    )
    found: dict[uuid.UUID, list[str]] = {}
    for pass_id, code in rows:
        if pass_id is not None:  # the filter names passes; the column is nullable (vehicle flags)
            found.setdefault(pass_id, []).append(REASONS.get(code, ("待复核异常", ""))[0])
    return found


def record_time() -> Any:
    """When the flagged record happened: the pass time, else when the flag was raised."""
    return func.coalesce(m.CheckFlag.occurred_at, m.CheckFlag.created_at)


async def count_open(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> int:
    """Open flags of the tenant (record time in ``[start, end)`` when given) — the one count of open flags."""
    query = select(func.count()).select_from(m.CheckFlag).where(m.CheckFlag.tenant_id == tenant_id, open_condition())
    if start is not None:
        query = query.where(record_time() >= start)
    if end is not None:
        query = query.where(record_time() < end)
    return int(await session.scalar(query) or 0)


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
    query = select(m.CheckFlag)
    if criteria.status == "open":
        query = query.where(open_condition())
    elif criteria.status == "closed":
        query = query.where(~open_condition())
    for column, value in (
        (m.CheckFlag.code, criteria.code),
        (m.CheckFlag.pass_event_id, criteria.pass_event_id),
        (m.CheckFlag.vehicle_id, criteria.vehicle_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if criteria.plate:
        query = query.where(m.CheckFlag.plate.contains("".join(criteria.plate.split()).upper(), autoescape=True))
    stamp = record_time()
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
    open_ids = set(
        await session.scalars(select(m.CheckFlag.id).where(m.CheckFlag.id.in_([r.id for r in rows]), open_condition()))
    )
    out = []
    for row in rows:
        items = history.get(row.id, [])
        status = "open" if row.id in open_ids else "closed"
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
    """Open flags per reason code (the queue's badge counts; the same definition as :func:`count_open`)."""
    rows = await session.execute(
        select(m.CheckFlag.code, func.count()).where(open_condition()).group_by(m.CheckFlag.code)
    )
    return {str(code): int(n) for code, n in rows}
