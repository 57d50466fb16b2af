"""Small service helpers the compliance API needs (scope checks, the emergency view, anchor echo)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import emergency, push
from cloud.db import models as m
from cloud.lib.problems import not_found
from tenants.context import Principal


async def enterprise(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID) -> m.Tenant:
    """The enterprise named in a path: one's own, or (regulators) one of the region; else 404."""
    if not principal.is_regulator and principal.tenant_id != tenant_id:
        raise not_found("企业")
    tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
    if tenant is None:
        raise not_found("企业")
    return tenant


async def emergency_alerts(session: AsyncSession, tenant_id: uuid.UUID) -> list[m.RegionAlert]:
    """Alerts in force for the enterprise's region, highest level first."""
    tenant = await session.get_one(m.Tenant, tenant_id)
    return await emergency.alerts_for(session, tenant.region_code)


async def echo_anchor(session: AsyncSession, tenant_id: uuid.UUID, anchor: dict[str, Any]) -> None:
    """Send each agent its anchored head, so the anchor also lives on the agents."""
    for agent_id, head in (anchor["heads"].get("agents") or {}).items():
        await push.notify_agents(
            session,
            tenant_id,
            "chain_anchor",
            {
                "anchor_hash": anchor["anchor_hash"],
                "anchored_at": anchor["anchored_at"],
                "seq": head["seq"],
                "hash": head["hash"],
            },
            [uuid.UUID(agent_id)],
        )
