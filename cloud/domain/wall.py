"""The regulator's wall screen figures (issue 19 item 5), read in the regulator's own session (region RLS).

Plants online (an active agent heard within the health window, :mod:`cloud.hub.health`), today's passes and
refusals and each plant's upload rate over 30 days (:func:`cloud.domain.regulator.region_enterprises`), the
alerts in force anywhere in the region (a district's included) and a grid of the districts. Values are
JSON-ready with Chinese labels; the portal renders them and serves them to the page's poll.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance.emergency import LEVEL_LABELS, LEVEL_RANK
from cloud.db import models as m
from cloud.domain.common import CHINA_TZ
from cloud.domain.regulator import region_enterprises
from cloud.hub import health
from tenants.context import Principal
from tenants.models import Region

__all__ = ["wall_data"]


async def _alerts(session: AsyncSession, prefix: str, now: dt.datetime) -> list[m.RegionAlert]:
    """Alerts in force covering the region or any part of it, highest level first."""
    rows = await session.scalars(
        select(m.RegionAlert).where(
            m.RegionAlert.cancelled_at.is_(None), m.RegionAlert.starts_at <= now, m.RegionAlert.ends_at > now
        )
    )
    found = [a for a in rows if a.region_code.startswith(prefix) or prefix.startswith(a.region_code)]
    return sorted(found, key=lambda a: (-LEVEL_RANK[a.level], a.region_code))


def _rate(upload: dict[str, Any] | None) -> float | None:
    rate = upload.get("upload_rate") if upload else None
    return float(rate) if rate is not None else None


async def wall_data(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Every figure of the wall screen."""
    now = dt.datetime.now(dt.UTC)
    prefix = principal.region_code or ""
    overview = await region_enterprises(session)
    online: dict[uuid.UUID, int] = {}
    total_agents: dict[uuid.UUID, int] = {}
    for agent in await session.scalars(select(m.Agent).where(m.Agent.status == "active")):
        total_agents[agent.tenant_id] = total_agents.get(agent.tenant_id, 0) + 1
        if health.assess(agent, now).online:
            online[agent.tenant_id] = online.get(agent.tenant_id, 0) + 1
    alerts = await _alerts(session, prefix, now)
    codes = {o.tenant.region_code for o in overview} | {a.region_code for a in alerts} | {prefix}
    names = {
        r.code: r.name for r in await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    }
    plants = []
    districts: dict[str, dict[str, Any]] = {}
    for row in overview:
        tenant = row.tenant
        level = next((a.level for a in alerts if tenant.region_code.startswith(a.region_code)), "none")
        plants.append(
            {
                "name": tenant.name,
                "district": names.get(tenant.region_code, "—"),
                "online": online.get(tenant.id, 0) > 0,
                "agents": total_agents.get(tenant.id, 0),
                "today": row.passes_today,
                "refused": row.refused_today,
                "upload_rate": _rate(row.upload),
                "level": LEVEL_LABELS[level],
                "level_code": level,
            }
        )
        cell = districts.setdefault(
            tenant.region_code,
            {
                "name": names.get(tenant.region_code, "—"),
                "plants": 0,
                "online": 0,
                "today": 0,
                "refused": 0,
                "level": LEVEL_LABELS[level],
                "level_code": level,
            },
        )
        cell["plants"] += 1
        cell["online"] += 1 if online.get(tenant.id) else 0
        cell["today"] += row.passes_today
        cell["refused"] += row.refused_today
    plants.sort(key=lambda p: (p["upload_rate"] is None, p["upload_rate"] or 0.0, p["name"]))
    rates = [p["upload_rate"] for p in plants if p["upload_rate"] is not None]
    return {
        "region": names.get(prefix, prefix),
        "updated": now.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        "totals": {
            "plants": len(plants),
            "online": sum(1 for p in plants if p["online"]),
            "today": sum(p["today"] for p in plants),
            "refused": sum(p["refused"] for p in plants),
            "alerts": len(alerts),
            "upload_rate": round(sum(rates) / len(rates), 2) if rates else None,
        },
        "alerts": [
            {
                "level": LEVEL_LABELS[a.level],
                "level_code": a.level,
                "area": names.get(a.region_code, "辖区"),
                "until": a.ends_at.astimezone(CHINA_TZ).strftime("%m-%d %H:%M"),
                "reason": a.reason,
            }
            for a in alerts
        ],
        "plants": plants,
        "districts": sorted(districts.values(), key=lambda d: d["name"]),
    }
