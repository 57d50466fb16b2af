"""Ledger reads for the portal's pages (issue 19 items 6 and 7): one pass record, weights, the plate search.

The enterprise's and the regulator's pass pages show the same record the same way (one template,
``pass.html``): photos with zoom, the clip before and after the pass (ADR 0020), decision and reasons,
the vehicle snapshot, the weight as stored since issue 15 (late ``weighing`` rows), open flags, the
corrections timeline. They differ only in the way back, the read-only mark and the correction form
(enterprise correctors). Reads run in the caller's session: the enterprise's under its tenant RLS, the
regulator's under the region policies.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import flags
from cloud.db import models as m
from cloud.ledger.corrections import list_corrections

__all__ = ["PARTIAL_PLATE_DAYS", "matching_plates", "pass_record", "plate_filter", "search_plate", "weights"]

#: A partial plate is searched in this many recent days (a whole plate uses the plate index, all time).
PARTIAL_PLATE_DAYS = 90


#: Distinct plates of a tenant walked on the ``(tenant, plate, time)`` index, one probe each (a loose index scan):
#: a partial plate is matched against them, then the passes are read by equality on the same index.
_PLATES_LIKE = text(
    "WITH RECURSIVE p AS ("
    " (SELECT plate FROM pass_event WHERE tenant_id = :t ORDER BY plate LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT e.plate FROM pass_event e WHERE e.tenant_id = :t AND e.plate > p.plate ORDER BY e.plate LIMIT 1)"
    " FROM p WHERE p.plate IS NOT NULL"
    ") SELECT plate FROM p WHERE plate LIKE :pattern LIMIT :cap"
)
_PLATES_CAP = 200


async def matching_plates(session: AsyncSession, tenant_id: uuid.UUID, part: str) -> list[str] | None:
    """The tenant's plates containing ``part`` (None when more than a page of them match)."""
    escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await session.execute(_PLATES_LIKE, {"t": tenant_id, "pattern": f"%{escaped}%", "cap": _PLATES_CAP + 1})
    plates = [str(r.plate) for r in rows]
    return None if len(plates) > _PLATES_CAP else plates


def plate_filter(query: Any, raw: str, *, day_given: bool, plates: list[str] | None = None) -> tuple[Any, str]:
    """The ledger's plate search: a whole plate by equality (the ``(tenant, plate, time)`` index, all time); a part
    of one by substring within the last :data:`PARTIAL_PLATE_DAYS` days unless a day is chosen (a substring cannot
    use an index, and a year of a large plant is a million passes). Returns the query and a note for the page."""
    from hj1321.errors import InvalidValueError  # noqa: PLC0415
    from hj1321.plates import canonical_plate, parse_plate  # noqa: PLC0415

    text = canonical_plate(raw.strip())
    if not text:
        return query, ""
    try:
        return query.where(m.PassEvent.plate == parse_plate(text).number), ""
    except InvalidValueError:
        if plates is not None:  # the plates containing the part, found on the plate index
            return query.where(m.PassEvent.plate.in_(plates)), ""
        query = query.where(m.PassEvent.plate.contains(text, autoescape=True))
    if day_given:
        return query, ""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=PARTIAL_PLATE_DAYS)
    return query.where(
        m.PassEvent.occurred_at >= since
    ), f"按部分车牌查询近 {PARTIAL_PLATE_DAYS} 天；输入完整车牌可查询全部记录。"


async def search_plate(
    session: AsyncSession, tenant_id: uuid.UUID | None, query: Any, raw: str, *, day_given: bool
) -> tuple[Any, str]:
    """:func:`plate_filter` with a partial plate first matched against the tenant's plates (index probes)."""
    from hj1321.errors import InvalidValueError  # noqa: PLC0415
    from hj1321.plates import canonical_plate, parse_plate  # noqa: PLC0415

    text_ = canonical_plate(raw.strip())
    plates = None
    if text_ and tenant_id is not None:
        try:
            parse_plate(text_)
        except InvalidValueError:
            plates = await matching_plates(session, tenant_id, text_)
    return plate_filter(query, raw, day_given=day_given, plates=plates)


def _number(value: Decimal | None) -> int | float | None:
    return None if value is None else (int(value) if value == value.to_integral_value() else float(value))


async def weights(session: AsyncSession, tenant_id: uuid.UUID, pass_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The weight of each pass as stored since issue 15 (late ``weighing`` rows, not the sealed event).

    The rule of the reports (cloud/reports/facts.py): the newest row carrying a trip's net, else the newest
    row (an entry weighing is the gross weight).
    """
    if not pass_ids:
        return {}
    rows = await session.scalars(
        select(m.Weighing)
        .where(m.Weighing.tenant_id == tenant_id, m.Weighing.pass_event_id.in_(pass_ids))
        .order_by(m.Weighing.received_at, m.Weighing.id)
    )
    out: dict[uuid.UUID, Any] = {}
    for w in rows:
        assert w.pass_event_id is not None
        held = out.get(w.pass_event_id)
        if held is None or w.net_kg is not None or held["net_kg"] is None:
            out[w.pass_event_id] = {
                "gross_kg": _number(w.gross_kg if w.gross_kg is not None else w.weight_kg),
                "tare_kg": _number(w.tare_kg),
                "net_kg": _number(w.net_kg),
            }
    return out


def sealed_weighing(event: m.PassEvent) -> Any:
    """The weight an agent before issue 15 sealed into the event itself."""
    return (event.payload.get("weighing") if isinstance(event.payload, dict) else None) or {}


async def pass_record(session: AsyncSession, tenant_id: uuid.UUID, pass_id: uuid.UUID) -> dict[str, Any] | None:
    """The template context of one pass of ``tenant_id`` (None when the session cannot see it: 404)."""
    tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
    event = await session.scalar(
        select(m.PassEvent).where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == pass_id)
    )
    if tenant is None or event is None:
        return None
    lane = await session.scalar(select(m.Lane.name).where(m.Lane.tenant_id == tenant_id, m.Lane.id == event.lane_id))
    clips = (
        await session.scalars(
            select(m.PassClip)
            .where(m.PassClip.tenant_id == tenant_id, m.PassClip.pass_event_id == event.id)
            .order_by(m.PassClip.start)
        )
    ).all()  # ADR 0020: the clip before and after the pass, cut on the agent after the barrier command
    payload = event.payload if isinstance(event.payload, dict) else {}
    return {
        "tenant": tenant,
        "event": event,
        "lane": lane or "—",
        "vehicle": payload.get("vehicle") or {},
        "weighing": (await weights(session, tenant_id, [event.id])).get(event.id) or sealed_weighing(event),
        "corrections": await list_corrections(session, event.id),
        "open_flags": (await flags.open_by_pass(session, [event.id])).get(event.id, []),
        "late_clips": clips,
    }
