"""Regulator → enterprise data (REGULATION.md §2.7): warnings and over-emission vehicles, applied and acknowledged.

* An **over-emission vehicle** becomes a blacklist entry with source ``regulator`` (the agents refuse it
  after the next snapshot); a release (``released``) revokes the active entry of that plate.
* A **pollution warning** becomes an emergency-response record of the tenant and the command
  ``set_emergency_level`` to its agents (the window travels with the command, so agents revert on time
  even offline).

Items are applied in one transaction and acknowledged to the platform only after it committed; an item
seen again (the acknowledgement was lost) is applied idempotently: the plate is already listed, the
same warning window is already recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import blacklist, push
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import CHINA_TZ
from cloud.lib.problems import ProblemError
from cloud.uplink.adapters import DownlinkItem
from hj1321.colours import ColourScheme, colour_from_scheme
from tenants.context import Principal

log = structlog.get_logger(__name__)

_LEVELS: Final = {
    "yellow": "yellow", "黄色": "yellow", "黄色预警": "yellow", "3": "yellow",
    "orange": "orange", "橙色": "orange", "橙色预警": "orange", "2": "orange",
    "red": "red", "红色": "red", "红色预警": "red", "1": "red",
}  # fmt: skip


@dataclass
class DownlinkResult:
    """What one poll applied."""

    applied: list[str] = field(default_factory=list)  # item ids to acknowledge
    blacklisted: int = 0
    released: int = 0
    warnings: int = 0
    invalid: int = 0


def _time(value: object) -> dt.datetime | None:
    if not value:
        return None
    text = str(value).strip().replace("T", " ")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


async def apply(
    session: AsyncSession, principal: Principal, tenant: m.Tenant, items: list[DownlinkItem]
) -> DownlinkResult:
    """Apply the items inside the caller's transaction; returns the ids to acknowledge after commit."""
    result = DownlinkResult()
    for item in items:
        try:
            if item.kind == "over_emission_vehicle":
                await _vehicle(session, principal, item.data, result)
            else:
                await _warning(session, principal, tenant, item, result)
        except _InvalidItemError as exc:
            result.invalid += 1
            log.warning("downlink item not applicable, acknowledged", item=item.item_id, reason=str(exc))
            audit.record(
                session,
                principal,
                "uplink.downlink_invalid",
                "downlink",
                None,
                {"id": item.item_id, "reason": str(exc)},
            )
        result.applied.append(item.item_id)
    return result


class _InvalidItemError(Exception):
    """An item the platform sent that cannot be applied (recorded in the audit log, acknowledged)."""


async def _vehicle(session: AsyncSession, principal: Principal, data: Any, result: DownlinkResult) -> None:
    plate = str(data.get("license") or data.get("plate") or "")
    colour_code = data.get("licenseColor")
    colour = None
    if colour_code not in (None, ""):
        try:
            colour = colour_from_scheme(str(colour_code), ColourScheme.HENAN).value
        except ValueError:
            colour = None
    if data.get("released") in (True, "1", 1, "true"):
        active = await blacklist.active_plates(session, principal.tenant_id)  # type: ignore[arg-type]
        entry = active.get(plate)
        if entry is not None:
            await blacklist.revoke(session, principal, entry.id, "监管平台解除超标排放车辆")
            result.released += 1
        return
    values = {
        "plate": plate,
        "plate_colour": colour,
        "vin": data.get("vin") or None,
        "reason": f"监管平台下发：{data.get('reason') or '超标排放车辆'}"[:200],
        "list_name": "监管平台超标排放车辆",
    }
    try:
        await blacklist.add(session, principal, values, source="regulator")
    except ProblemError as exc:
        if exc.code == "blacklist_duplicate":
            return  # already listed (an item seen again)
        raise _InvalidItemError(exc.detail) from exc
    result.blacklisted += 1


async def _warning(
    session: AsyncSession, principal: Principal, tenant: m.Tenant, item: DownlinkItem, result: DownlinkResult
) -> None:
    data = item.data
    level = _LEVELS.get(str(data.get("level") or "").strip())
    starts, ends = (
        _time(data.get("startTime") or data.get("starts_at")),
        _time(data.get("endTime") or data.get("ends_at")),
    )
    if level is None or starts is None or ends is None or ends <= starts:
        raise _InvalidItemError(
            f"预警内容不完整：级别 {data.get('level')!r}，时段 {data.get('startTime')!r}–{data.get('endTime')!r}"
        )
    reason = f"监管平台下发预警：{data.get('measures') or data.get('reason') or ''}".rstrip("：")[:200]
    seen = await session.scalar(
        select(m.EmergencyResponse.id).where(
            m.EmergencyResponse.tenant_id == tenant.id,
            m.EmergencyResponse.level == level,
            m.EmergencyResponse.starts_at == starts,
            m.EmergencyResponse.ends_at == ends,
            m.EmergencyResponse.event == "declared",
        )
    )
    if seen is not None:
        return
    agents = await push.active_agents(session, tenant.id)
    row = m.EmergencyResponse(
        tenant_id=tenant.id,
        alert_id=None,
        event="declared",
        level=level,
        region_code=tenant.region_code,
        starts_at=starts,
        ends_at=ends,
        reason=reason,
        agents_notified=len(agents),
        created_by=principal.user_id,
    )
    session.add(row)
    await session.flush()
    await push.notify_agents(
        session,
        tenant.id,
        "set_emergency_level",
        {
            "level": level,
            "starts_at": starts.astimezone(dt.UTC).isoformat(),
            "ends_at": ends.astimezone(dt.UTC).isoformat(),
            "alert_id": f"platform:{item.item_id}"[:64],
            "region_code": tenant.region_code,
        },
    )
    audit.record(
        session,
        principal,
        "emergency.platform_warning",
        "emergency_response",
        row.id,
        {"level": level, "item": item.item_id},
    )
    result.warnings += 1


def system_principal(tenant_id: uuid.UUID) -> Principal:
    """The identity downlink changes are recorded under."""
    from tenants.context import Role  # noqa: PLC0415

    return Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="regulator-platform")
