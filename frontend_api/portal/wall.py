"""The regulator's wall screen (大屏, issue 19 item 5): a read-only region view for a control room.

``/regulator/wall`` renders the whole screen for 1920×1080 (large type, dark background, no menu
clutter) with the figures already in the HTML, then polls ``/regulator/wall/data`` (JSON, the same
figures) every :data:`POLL_SECONDS` and redraws: plants online (an active agent heard within the
health window, :mod:`cloud.hub.health`), today's passes and refusals, the alerts in force anywhere in
the region, the upload rate of each plant today (:func:`cloud.uplink.outbox.upload_status` as the
regulator sees it) and a grid of the districts with their plants, passes, refusals and alert level.
Every query runs in the regulator's own session (region-prefix RLS).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Final

from litestar import Request, Response
from litestar.params import FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance.emergency import LEVEL_LABELS, LEVEL_RANK
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub import health
from cloud.uplink import outbox
from frontend_api.portal.regulator import REGULATORS, region_overview
from frontend_api.portal.toolkit import CHINA, Me, china_day_start, page_get, render
from tenants.context import Principal
from tenants.models import Region

__all__ = ["POLL_SECONDS", "routes", "wall_data"]

POLL_SECONDS: Final = 10


async def _alerts(session: AsyncSession, prefix: str, now: dt.datetime) -> list[m.RegionAlert]:
    """Alerts in force covering the region or any part of it, highest level first."""
    rows = await session.scalars(
        select(m.RegionAlert).where(
            m.RegionAlert.cancelled_at.is_(None), m.RegionAlert.starts_at <= now, m.RegionAlert.ends_at > now
        )
    )
    found = [a for a in rows if a.region_code.startswith(prefix) or prefix.startswith(a.region_code)]
    return sorted(found, key=lambda a: (-LEVEL_RANK[a.level], a.region_code))


async def wall_data(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Every figure of the wall screen, as JSON-ready values (Chinese labels, no codes to translate)."""
    now = dt.datetime.now(dt.UTC)
    today = china_day_start(now)
    prefix = principal.region_code or ""
    overview = await region_overview(session)
    agents = list(await session.scalars(select(m.Agent).where(m.Agent.status == "active")))
    online: dict[uuid.UUID, int] = {}
    total_agents: dict[uuid.UUID, int] = {}
    for agent in agents:
        total_agents[agent.tenant_id] = total_agents.get(agent.tenant_id, 0) + 1
        if health.assess(agent, now).online:
            online[agent.tenant_id] = online.get(agent.tenant_id, 0) + 1
    alerts = await _alerts(session, prefix, now)
    codes = {o["tenant"].region_code for o in overview} | {a.region_code for a in alerts} | {prefix}
    names = {
        r.code: r.name for r in await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    }
    plants = []
    districts: dict[str, dict[str, Any]] = {}
    for row in overview:
        tenant = row["tenant"]
        status = await outbox.upload_status(
            session, tenant.id, today, today + dt.timedelta(days=1), platform_visible=False
        )
        level = next((a.level for a in alerts if tenant.region_code.startswith(a.region_code)), "none")
        plants.append(
            {
                "name": tenant.name,
                "district": names.get(tenant.region_code, "—"),
                "online": online.get(tenant.id, 0) > 0,
                "agents": total_agents.get(tenant.id, 0),
                "today": row["today"],
                "refused": row["refused"],
                "upload_rate": float(status["upload_rate"]) if status and status["upload_rate"] else None,
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
        cell["today"] += row["today"]
        cell["refused"] += row["refused"]
    plants.sort(key=lambda p: (p["upload_rate"] is None, p["upload_rate"] or 0.0, p["name"]))
    rates = [p["upload_rate"] for p in plants if p["upload_rate"] is not None]
    return {
        "region": names.get(prefix, prefix),
        "updated": now.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
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
                "until": a.ends_at.astimezone(CHINA).strftime("%m-%d %H:%M"),
                "reason": a.reason,
            }
            for a in alerts
        ],
        "plants": plants,
        "districts": sorted(districts.values(), key=lambda d: d["name"]),
    }


async def _data(request: Request[Any, Any, Any], principal: Principal) -> dict[str, Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        return await wall_data(session, principal)


@page_get("/regulator/wall", roles=REGULATORS)
async def wall_page(
    request: Request[Any, Any, Any], principal: Me, every: FromQuery[int] = POLL_SECONDS
) -> Response[Any]:
    """The wall screen with today's figures in the HTML; the page then polls the JSON every ``every`` s (2–60)."""
    data = await _data(request, principal)
    return render(
        request,
        "regulator/wall.html",
        principal=principal,
        data=data,
        data_json=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        poll_ms=max(2, min(every, 60)) * 1000,
    )


@page_get("/regulator/wall/data", roles=REGULATORS)
async def wall_json(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The wall screen's figures (polled by the page)."""
    data = await _data(request, principal)
    return Response(data, media_type="application/json", headers={"Cache-Control": "no-store"})


def routes() -> list[Any]:
    """The wall screen and its data."""
    return [wall_page, wall_json]
