"""Uplink alarms (issue 8, Deliver 3): evaluated periodically by the workers, transitions kept append-only.

An alarm is raised when a tenant's upload rate over the last :data:`WINDOW_DAYS` days falls under its
threshold (report settings, default 95 %; REGULATION.md §4), when its oldest record not yet delivered is
older than :data:`OLDEST_PENDING_LIMIT_S`, or while records refused by the platform wait in the review
queue. :func:`evaluate` compares the alarms in force with the last transition of each code in
``uplink_alarm`` and writes a ``raised``/``cleared`` row for each change (and logs it), so the history
of an alarm is kept and the portal shows since when it is on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.reports.settings import read_settings
from cloud.uplink import outbox

log = structlog.get_logger(__name__)

#: An undelivered record older than this raises the alarm (a day: platforms want records the same day [I]).
OLDEST_PENDING_LIMIT_S: Final = 24 * 3600
#: The upload rate is judged over this many days back from now.
WINDOW_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm in force: machine code and a sentence for people."""

    code: str
    message: str


def current(status: dict[str, Any], threshold: Decimal) -> list[Alarm]:
    """The alarms an upload status raises."""
    out = []
    # Judged on the records already due (``outbox.upload_status``): just-recorded passes on their way to
    # the platform raised and cleared the alarm at every quiet hour's first truck.
    rate = status.get("due_upload_rate", status.get("upload_rate"))
    if rate is not None and Decimal(rate) < threshold:
        out.append(Alarm("upload_rate_low", f"数据上传率 {rate}% 低于要求的 {threshold}%"))
    oldest = status.get("oldest_pending_s")
    if oldest is not None and oldest > OLDEST_PENDING_LIMIT_S:
        out.append(Alarm("upload_backlog_old", f"最早一条未上传记录已等待 {oldest / 3600:.1f} 小时"))
    if status.get("rejected"):
        out.append(Alarm("upload_rejected", f"{status['rejected']} 条记录被监管平台拒收，请在待办中处理"))
    if status.get("photo_refused"):  # the records are held (they count in the rate); their photos are not
        out.append(Alarm("upload_photo_refused", f"{status['photo_refused']} 条记录已被监管平台接收，但照片被拒收"))
    return out


async def threshold_of(session: AsyncSession, tenant_id: uuid.UUID) -> Decimal | None:
    """The tenant's upload-rate threshold (None when the tenant is not visible)."""
    tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
    if tenant is None:
        return None
    return read_settings(tenant.industry, dict(tenant.settings or {})).upload_rate_threshold


_LAST = """
SELECT DISTINCT ON (code) code, raised, at FROM uplink_alarm
WHERE tenant_id = :t ORDER BY code, at DESC, id DESC
"""


async def last_transitions(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, tuple[bool, dt.datetime]]:
    """Per alarm code: whether its last transition raised it, and when."""
    rows = await session.execute(text(_LAST), {"t": tenant_id})
    return {str(r.code): (bool(r.raised), r.at) for r in rows}


async def evaluate(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime | None = None) -> list[m.UplinkAlarm]:
    """Write the raised/cleared transitions since the last evaluation (inside the caller's transaction).

    A transaction-scoped advisory lock per tenant keeps two workers from writing the same transition.
    Returns the rows written (none when nothing changed or the tenant has no platform).
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('uplink_alarm:' || :t))"), {"t": str(tenant_id)})
    now = now or dt.datetime.now(dt.UTC)
    status = await outbox.upload_status(session, tenant_id, now - dt.timedelta(days=WINDOW_DAYS), now)
    threshold = await threshold_of(session, tenant_id)
    if status is None or threshold is None:
        return []
    in_force = {a.code: a for a in current(status, threshold)}
    last = await last_transitions(session, tenant_id)
    written = []
    for code in sorted(set(in_force) | {c for c, (raised, _) in last.items() if raised}):
        was_raised = last.get(code, (False, None))[0]
        alarm = in_force.get(code)
        if alarm is not None and not was_raised:
            row = m.UplinkAlarm(tenant_id=tenant_id, code=code, raised=True, message=alarm.message[:400], at=now)
            log.warning("uplink alarm raised", tenant_id=str(tenant_id), code=code, message=alarm.message)
        elif alarm is None and was_raised:
            row = m.UplinkAlarm(tenant_id=tenant_id, code=code, raised=False, message="已恢复", at=now)
            log.info("uplink alarm cleared", tenant_id=str(tenant_id), code=code)
        else:
            continue
        session.add(row)
        written.append(row)
    await session.flush()
    return written


async def history(session: AsyncSession, limit: int = 20) -> list[m.UplinkAlarm]:
    """The caller's tenant's latest alarm transitions (raised and cleared), newest first (the portal's page)."""
    rows = await session.scalars(
        select(m.UplinkAlarm).order_by(m.UplinkAlarm.at.desc(), m.UplinkAlarm.id.desc()).limit(limit)
    )
    return list(rows)


async def configured(session: AsyncSession) -> bool:
    """Whether the caller's tenant has a regulator platform set up (the 补传 forms need one)."""
    return await session.scalar(select(m.UplinkPlatform.id).limit(1)) is not None
