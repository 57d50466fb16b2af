"""Reconcile our uplink states with what the platform holds (issue 16 finding 5; ``ecogate uplink reconcile``).

Where a platform family has a query message for records, reconciliation asks it record by record. **None
of the families we speak documents one** (REGULATION.md §2): transportControl (§2.4) lists token, vehicle
check, pass record, photo, heartbeat, gate status and policy messages; ``/transport/*`` (§2.5) login,
check, pass and cargo; Tianjin's message list is not public (§2.1.2 — its per-record 认证状态 comes back
with the upload answer, which the worker already keeps); Hengshui (§2.2) only names TCP, JSON and
heartbeats. For these the command says so and compares nothing, unless it is pointed at the simulator's
inspection API (``--inspect URL``, ``POST /_sim/holds``; tests and the demo), which answers for every
family. Add the family's query to :data:`QUERY_API` and :func:`_platform_holds` when a spec brings one.

With ``fix``: a record we count as held that the platform does not hold goes back to ``pending`` (it is
sent again under the same serial); a record the platform holds that we do not count as held becomes
``photo_pending`` (the next send's record answer is "exists" and the photos follow) — rows under a live
lease are left to their worker. Each direction is one short transaction.
"""

# ruff: noqa: S608 - SQL here is assembled from module constants only; every value is a bound parameter.

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

import aiohttp
from sqlalchemy import text

from cloud.db.engine import Database
from cloud.uplink import platforms
from cloud.uplink.states import HELD, sql_list
from tenants.context import Principal, Role

#: The platform's own query message per family (None: the family has none; REGULATION.md section).
QUERY_API: Final[dict[str, str | None]] = {
    "transport_control": None,
    "transport_serial": None,
    "tianjin": None,
    "hengshui": None,
}
NO_QUERY: Final[dict[str, str]] = {
    "transport_control": "REGULATION.md §2.4：该协议族无记录查询报文",
    "transport_serial": "REGULATION.md §2.5：该协议族无记录查询报文",
    "tianjin": "REGULATION.md §2.1.2：规范报文目录未公开，无查询报文",
    "hengshui": "REGULATION.md §2.2：规范仅说明 TCP/JSON/心跳，无查询报文",
}
CHUNK: Final = 1000
SAMPLE: Final = 20

_OURS = """
SELECT id, state FROM uplink_outbox
WHERE tenant_id = :t AND occurred_at >= :start AND occurred_at < :end AND kind = 'pass'
ORDER BY occurred_at, id
"""

_TO_PENDING = f"""
UPDATE uplink_outbox SET state = 'pending', next_attempt_at = now(), delivered_at = NULL, photo_attempts = 0,
       last_message = '对账：平台未查到该记录，重新上传'
WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[])) AND state IN {sql_list(HELD)}
  AND (lease_until IS NULL OR lease_until < now())
"""

_TO_HELD = """
UPDATE uplink_outbox SET state = 'photo_pending', next_attempt_at = now(), photo_attempts = 0,
       delivered_at = COALESCE(delivered_at, now()), last_message = '对账：平台已有该记录，补传照片'
WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[])) AND state IN ('pending', 'rejected')
  AND (lease_until IS NULL OR lease_until < now())
"""


def _actor(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="uplink-reconcile")


async def _platform_holds(inspect_url: str, serials: list[str]) -> set[str]:
    """The serials the simulator's inspection API says it holds."""
    held: set[str] = set()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for i in range(0, len(serials), CHUNK):
            async with http.post(
                inspect_url.rstrip("/") + "/_sim/holds", json={"serials": serials[i : i + CHUNK]}
            ) as r:
                r.raise_for_status()
                held.update(str(s) for s in (await r.json())["held"])
    return held


async def reconcile(
    database: Database,
    tenant_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    *,
    inspect_url: str | None = None,
    fix: bool = False,
) -> dict[str, Any]:
    """Compare the period's outbox states with the platform; the report (and the rows fixed with ``fix``)."""
    actor = _actor(tenant_id)
    async with database.session(actor) as session, session.begin():
        config = await platforms.load(session, tenant_id)
        if config is None:
            raise LookupError("该企业尚未配置监管平台")
        ours = {
            row.id: str(row.state)
            for row in await session.execute(text(_OURS), {"t": tenant_id, "start": start, "end": end})
        }
    counts: dict[str, int] = {}
    for state in ours.values():
        counts[state] = counts.get(state, 0) + 1
    report: dict[str, Any] = {
        "tenant": str(tenant_id),
        "profile": config.profile,
        "records": len(ours),
        "ours": counts,
        "query_api": QUERY_API.get(config.profile),
    }
    if inspect_url is None and QUERY_API.get(config.profile) is None:
        report["compared"] = False
        report["reason"] = NO_QUERY.get(config.profile, "该协议族无记录查询报文")
        return report
    assert inspect_url is not None  # no family has its own query yet (QUERY_API)
    platform = await _platform_holds(inspect_url, [i.hex for i in ours])
    held_states = {s.value for s in HELD}
    lost = [i for i, s in ours.items() if s in held_states and i.hex not in platform]
    unknown = [i for i, s in ours.items() if s not in held_states and i.hex in platform]
    report.update(
        compared=True,
        source="simulator inspection (/_sim/holds)",
        platform_holds=len(platform),
        ours_held=sum(1 for s in ours.values() if s in held_states),
        agree=len(ours) - len(lost) - len(unknown),
        held_by_us_not_by_platform=[str(i) for i in lost[:SAMPLE]],
        held_by_platform_not_by_us=[str(i) for i in unknown[:SAMPLE]],
        mismatches=len(lost) + len(unknown),
    )
    if fix:
        fixed = 0
        async with database.session(actor) as session, session.begin():
            if lost:
                result = await session.execute(text(_TO_PENDING), {"t": tenant_id, "ids": lost})
                fixed += int(getattr(result, "rowcount", 0) or 0)
        async with database.session(actor) as session, session.begin():
            if unknown:
                result = await session.execute(text(_TO_HELD), {"t": tenant_id, "ids": unknown})
                fixed += int(getattr(result, "rowcount", 0) or 0)
        report["fixed"] = fixed
    return report
