"""What a regional regulator reads: the enterprises of its region with their figures (issue 8).

Every query runs in the regulator's own pool under its region policy (RLS), so the region is never a
parameter here: a 武汉市 account sees the enterprises under 4201 and nothing else, whatever it asks.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain.common import CHINA_TZ
from cloud.lib.problems import not_found
from cloud.uplink import outbox

#: Stages a heavy diesel truck may not have during an orange or red alert (REGULATION.md §4.3, §4.4).
ALERT_REFUSED_STAGES = ("0", "1", "2", "3", "4")

_FIGURES = """
SELECT p.tenant_id,
       count(*) FILTER (WHERE p.occurred_at >= :today) AS passes_today,
       count(*) FILTER (WHERE p.occurred_at >= :today AND p.decision = 'refuse') AS refused_today,
       count(*) AS passes_30d,
       count(*) FILTER (WHERE p.decision = 'refuse') AS refused_30d,
       count(*) FILTER (WHERE p.trigger = 'manual_release') AS manual_30d,
       max(p.received_at) AS last_received_at
FROM pass_event p
WHERE p.occurred_at >= :since
GROUP BY p.tenant_id
"""

_UPLOAD = """
SELECT o.tenant_id, count(*) AS queued,
       count(*) FILTER (WHERE o.state IN ('photo_pending', 'photo_refused', 'delivered')) AS delivered,  -- held
       count(*) FILTER (WHERE o.state = 'rejected') AS rejected,
       extract(epoch FROM now() - min(o.occurred_at) FILTER (WHERE o.state = 'pending')) AS oldest_pending_s
FROM uplink_outbox o
WHERE o.occurred_at >= :since
GROUP BY o.tenant_id
"""


@dataclass(frozen=True)
class EnterpriseFigures:
    """One enterprise of the region with its recent figures."""

    tenant: m.Tenant
    passes_today: int
    refused_today: int
    passes_30d: int
    refused_30d: int
    manual_30d: int
    last_received_at: dt.datetime | None
    upload: dict[str, Any] | None


def china_midnight(now: dt.datetime | None = None) -> dt.datetime:
    """Today's midnight in China time."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(CHINA_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def region_enterprises(session: AsyncSession) -> list[EnterpriseFigures]:
    """Every enterprise the regulator may see, ordered by region and name, with 30-day figures."""
    today = china_midnight()
    since = today - dt.timedelta(days=29)
    tenants = list(await session.scalars(select(m.Tenant).order_by(m.Tenant.region_code, m.Tenant.name)))
    figures = {r.tenant_id: r for r in await session.execute(text(_FIGURES), {"today": today, "since": since})}
    uploads = {r.tenant_id: r for r in await session.execute(text(_UPLOAD), {"since": since})}
    out = []
    for tenant in tenants:
        f = figures.get(tenant.id)
        u = uploads.get(tenant.id)
        upload = None
        if u is not None:
            upload = {
                "queued": int(u.queued),
                "delivered": int(u.delivered),
                "rejected": int(u.rejected),
                "upload_rate": outbox.percent(int(u.delivered), int(u.queued)),
                "oldest_pending_s": None if u.oldest_pending_s is None else float(u.oldest_pending_s),
            }
        out.append(
            EnterpriseFigures(
                tenant=tenant,
                passes_today=int(f.passes_today) if f else 0,
                refused_today=int(f.refused_today) if f else 0,
                passes_30d=int(f.passes_30d) if f else 0,
                refused_30d=int(f.refused_30d) if f else 0,
                manual_30d=int(f.manual_30d) if f else 0,
                last_received_at=f.last_received_at if f else None,
                upload=upload,
            )
        )
    return out


async def enterprise(session: AsyncSession, tenant_id: uuid.UUID) -> m.Tenant:
    """The enterprise if the regulator may see it; 404 otherwise (never says whether it exists)."""
    tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
    if tenant is None:
        raise not_found("企业")
    return tenant


async def should_have_been_refused(
    session: AsyncSession, tenant: m.Tenant, start: dt.datetime, end: dt.datetime, limit: int, offset: int
) -> tuple[list[m.PassEvent], int]:
    """Entries allowed during an orange or red alert of the enterprise's region that the rules refuse.

    Heavy diesel trucks of 国四 or below (the agent's own vehicle snapshot, ``payload.vehicle``) entering
    while an alert covering the enterprise's region was in force; a cancellation ends the window.
    """
    alerts = (
        await session.execute(
            text(
                "SELECT starts_at, LEAST(ends_at, COALESCE(cancelled_at, ends_at)) AS ends_at FROM region_alert "
                "WHERE :code LIKE region_code || '%' AND level IN ('orange', 'red') AND ends_at > :start "
                "AND starts_at < :end"
            ),
            {"code": tenant.region_code, "start": start, "end": end},
        )
    ).all()
    if not alerts:
        return [], 0
    windows = " OR ".join(f"(p.occurred_at >= :s{i} AND p.occurred_at < :e{i})" for i in range(len(alerts)))
    params: dict[str, Any] = {"t": tenant.id, "start": start, "end": end, "stages": list(ALERT_REFUSED_STAGES)}
    for i, (s, e) in enumerate(alerts):
        params[f"s{i}"], params[f"e{i}"] = s, e
    where = (
        "p.tenant_id = :t AND p.decision = 'allow' AND p.direction = 'in' AND p.occurred_at >= :start "
        "AND p.occurred_at < :end AND p.payload #>> '{vehicle,fuel}' = 'B' "
        "AND p.payload #>> '{vehicle,emission_stage}' = ANY(:stages) "
        f"AND (p.payload #>> '{{vehicle,heavy}}')::boolean AND ({windows})"
    )
    total = int(await session.scalar(text(f"SELECT count(*) FROM pass_event p WHERE {where}"), params) or 0)  # noqa: S608
    ids = [
        r[0]
        for r in await session.execute(
            text(f"SELECT p.id FROM pass_event p WHERE {where} ORDER BY p.occurred_at DESC LIMIT :l OFFSET :o"),  # noqa: S608
            {**params, "l": limit, "o": offset},
        )
    ]
    if not ids:
        return [], total
    rows = await session.scalars(
        select(m.PassEvent)
        .where(m.PassEvent.tenant_id == tenant.id, m.PassEvent.id.in_(ids))
        .order_by(m.PassEvent.occurred_at.desc())
    )
    return list(rows), total
