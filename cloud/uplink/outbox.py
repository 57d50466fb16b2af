"""The transactional uplink outbox: rows written with the record, re-sends (补传), upload KPIs.

:func:`enqueue_from` is part of the statement that inserts pass events (the ledger's write path), so
a record is queued for the regulator if and only if it is in the ledger. Tenants without an enabled
platform queue nothing; :func:`resend_period` queues (again) every record of a period — the back-fill
after a platform is configured and the 补传 a regulator asks for.
"""

# ruff: noqa: S608 - SQL here is assembled from module constants only; every value is a bound parameter.

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.uplink.states import HELD, sql_list


def enqueue_from(relation: str, tenant_param: str = "t") -> str:
    """The statement that queues the records of ``relation`` (columns ``id``, ``occurred_at``).

    Used as a data-modifying CTE of the ledger's insert (``cloud.ledger.passes``), over the rows it
    actually inserted, so a record is queued in the transaction that stores it, exactly when it is new,
    and only when the tenant reports to an enabled platform. ``relation`` and ``tenant_param`` are the
    caller's constants (a CTE name and a bound parameter's name), never user input.
    """
    return f"""INSERT INTO uplink_outbox (tenant_id, id, occurred_at)
    SELECT :{tenant_param}, x.id, x.occurred_at FROM {relation} x
    WHERE EXISTS (SELECT 1 FROM uplink_platform p WHERE p.tenant_id = :{tenant_param} AND p.enabled)
    ON CONFLICT (tenant_id, id) DO NOTHING"""


#: Every send of every record and the platform's answer, as one relation (columns ``tenant_id, id, outbox_id,
#: at, outcome, code, message, duration_ms``): the ``uplink_attempt`` rows and the answers to deliveries on the
#: first send, which the outbox row keeps instead of an attempt row (``first_*``, docs/adr/0042; such an
#: answer's id is the outbox row's). Read the upload history from this, never from ``uplink_attempt`` alone.
ATTEMPTS = """(
    SELECT a.tenant_id, a.id, a.outbox_id, a.at, a.outcome, a.code, a.message, a.duration_ms FROM uplink_attempt a
    UNION ALL
    SELECT f.tenant_id, f.id, f.id AS outbox_id, f.first_answered_at AS at, f.first_outcome AS outcome,
           f.first_code AS code, f.first_message AS message, f.first_duration_ms AS duration_ms
    FROM uplink_outbox f WHERE f.first_answered_at IS NOT NULL
)"""

_ATTEMPTS_OF = f"""
SELECT s.id, s.outbox_id, s.at, s.outcome, s.code, s.message, s.duration_ms FROM {ATTEMPTS} s
WHERE s.outbox_id = :outbox_id
ORDER BY s.at DESC, s.id DESC LIMIT :limit OFFSET :offset
"""


async def attempts_of(session: AsyncSession, outbox_id: uuid.UUID, limit: int, offset: int = 0) -> list[Any]:
    """The sends of one record and the platform's answers, newest first (rows of :data:`ATTEMPTS`; the
    session's tenant binding scopes them)."""
    params = {"outbox_id": outbox_id, "limit": limit, "offset": offset}
    return list(await session.execute(text(_ATTEMPTS_OF), params))


_RESEND = """
INSERT INTO uplink_outbox (tenant_id, id, occurred_at)
SELECT e.tenant_id, e.id, e.occurred_at FROM pass_event e
WHERE e.tenant_id = :tenant_id AND e.occurred_at >= :start AND e.occurred_at < :end
ON CONFLICT (tenant_id, id) DO UPDATE
SET state = 'pending', next_attempt_at = now(), delivered_at = NULL, photo_attempts = 0
WHERE uplink_outbox.state <> 'pending'
"""


async def resend_period(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime) -> int:
    """补传: queue every record of ``[start, end)`` again (delivered ones too); returns the rows queued."""
    result = await session.execute(text(_RESEND), {"tenant_id": tenant_id, "start": start, "end": end})
    return int(getattr(result, "rowcount", 0) or 0)


_BACKFILL = """
INSERT INTO uplink_outbox (tenant_id, id, occurred_at)
SELECT e.tenant_id, e.id, e.occurred_at FROM pass_event e
WHERE e.tenant_id = :tenant_id AND e.occurred_at >= :start AND e.occurred_at < :end
ON CONFLICT (tenant_id, id) DO NOTHING
"""


async def backfill(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime) -> int:
    """Queue the records of ``[start, end)`` that were never queued (a platform configured later)."""
    result = await session.execute(text(_BACKFILL), {"tenant_id": tenant_id, "start": start, "end": end})
    return int(getattr(result, "rowcount", 0) or 0)


#: A record counts as timely when the platform held it within this many seconds of the pass [I].
TIMELY_SECONDS = 600

_HELD = sql_list(HELD)
#: Records of the period old enough to be due at the platform (a younger one cannot be late yet).
_DUE = f"CAST(:end AS timestamptz) - interval '{TIMELY_SECONDS} seconds'"

_STATUS = f"""
SELECT count(*) AS total,
       count(*) FILTER (WHERE o.state IN {_HELD}) AS held,
       count(*) FILTER (WHERE o.state = 'delivered') AS delivered,
       count(*) FILTER (WHERE o.state = 'photo_pending') AS photo_pending,
       count(*) FILTER (WHERE o.state = 'photo_refused') AS photo_refused,
       count(*) FILTER (WHERE o.state = 'rejected') AS rejected,
       count(*) FILTER (WHERE o.state = 'pending') AS pending,
       count(*) FILTER (WHERE o.state IN {_HELD}
                        AND o.delivered_at - o.occurred_at <= interval '{TIMELY_SECONDS} seconds') AS timely,
       count(*) FILTER (WHERE o.occurred_at < {_DUE}) AS due,
       count(*) FILTER (WHERE o.state IN {_HELD} AND o.occurred_at < {_DUE}) AS due_held,
       extract(epoch FROM now() - min(o.occurred_at) FILTER (WHERE o.state = 'pending')) AS oldest_pending_s
FROM uplink_outbox o
WHERE o.tenant_id = :tenant_id AND o.occurred_at >= :start AND o.occurred_at < :end
"""


def percent(num: int, den: int) -> str | None:
    """``num`` as a percentage of ``den`` with two decimals (half up); None when ``den`` is 0."""
    if not den:
        return None
    return str((Decimal(num) * 100 / Decimal(den)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def upload_status(
    session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *, platform_visible: bool = True
) -> dict[str, Any] | None:
    """Upload KPIs of the records of ``[start, end)``; None when the tenant has no platform.

    ``upload_rate`` = records the platform holds / queued (REGULATION.md §4: ≥ 95 % required) — held
    are ``delivered`` plus the records it stored whose photo is still pending or was refused
    (``photo_pending``, ``photo_refused``; cloud/uplink/states.py, issue 16 finding 5); ``delivered``
    keeps its meaning "record and photos held". ``timeliness`` = held within :data:`TIMELY_SECONDS` /
    held; ``due_upload_rate`` = the same rate over the records older than :data:`TIMELY_SECONDS` before
    ``end`` (the alarm's: a record recorded a minute ago and not yet sent is not late);
    ``rejected`` = records refused, waiting in the review queue. ``platform_visible=False`` (the
    regulator role, which may not read ``uplink_platform``): None when nothing of the period was queued.
    """
    if platform_visible:
        has = await session.scalar(text("SELECT 1 FROM uplink_platform WHERE tenant_id = :t"), {"t": tenant_id})
        if not has:
            return None
    row = (await session.execute(text(_STATUS), {"tenant_id": tenant_id, "start": start, "end": end})).one()
    if not platform_visible and not row.total:  # regulators cannot read uplink_platform (migration 0015)
        return None
    return {
        "total": int(row.total),
        "held": int(row.held),
        "delivered": int(row.delivered),
        "photo_pending": int(row.photo_pending),
        "photo_refused": int(row.photo_refused),
        "rejected": int(row.rejected),
        "pending": int(row.pending),
        "upload_rate": percent(int(row.held), int(row.total)),
        "due_upload_rate": percent(int(row.due_held), int(row.due)),
        "timeliness": percent(int(row.timely), int(row.held)),
        "oldest_pending_s": None if row.oldest_pending_s is None else float(row.oldest_pending_s),
    }


# The portal's 数据上传状态 page (issue 19): the rate per day, the records the platform refused, 补传 of chosen records.

_DAILY = f"""
SELECT date_trunc('day', o.occurred_at AT TIME ZONE 'Asia/Shanghai') AS day,
       count(*) AS total,
       count(*) FILTER (WHERE o.state IN {_HELD}) AS held,
       count(*) FILTER (WHERE o.state = 'rejected') AS rejected
FROM uplink_outbox o
WHERE o.tenant_id = :tenant_id AND o.occurred_at >= :start AND o.occurred_at < :end
GROUP BY 1 ORDER BY 1
"""

_FAILED = """
SELECT o.id, o.occurred_at, o.state, o.attempts, o.last_code, o.last_message, o.next_attempt_at, e.plate
FROM uplink_outbox o JOIN pass_event e ON e.tenant_id = o.tenant_id AND e.id = o.id
WHERE o.tenant_id = :tenant_id AND (o.state IN ('rejected', 'photo_refused')
      OR (o.state = 'pending' AND o.attempts > 0))
ORDER BY o.occurred_at DESC LIMIT :limit
"""

_RESEND_IDS = """
UPDATE uplink_outbox SET state = 'pending', next_attempt_at = now(), delivered_at = NULL, photo_attempts = 0
WHERE tenant_id = :tenant_id AND id = ANY(CAST(:ids AS uuid[])) AND state <> 'pending'
"""


async def daily_rates(
    session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Queued, held and refused records per China day of ``[start, end)`` with the day's upload rate."""
    rows = await session.execute(text(_DAILY), {"tenant_id": tenant_id, "start": start, "end": end})
    return [
        {
            "day": r.day.date(),
            "total": int(r.total),
            "held": int(r.held),
            "rejected": int(r.rejected),
            "upload_rate": percent(int(r.held), int(r.total)),
        }
        for r in rows
    ]


async def failed_records(session: AsyncSession, tenant_id: uuid.UUID, limit: int = 100) -> list[Any]:
    """Records the platform refused (record or photo) or that failed at least once, with its last answer."""
    return list(await session.execute(text(_FAILED), {"tenant_id": tenant_id, "limit": limit}))


async def resend_records(session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> int:
    """补传 of chosen records: queue them again at once (those not already waiting); returns the rows queued."""
    if not ids:
        return 0
    result = await session.execute(text(_RESEND_IDS), {"tenant_id": tenant_id, "ids": list(ids)})
    return int(getattr(result, "rowcount", 0) or 0)
