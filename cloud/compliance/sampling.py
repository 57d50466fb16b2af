"""Quarterly audit sampling, the way an inspector samples (REGULATION.md §1.5 "Verification method").

A sample of a quarter (China time) is drawn from the tenant's pass records with a seeded generator,
so the same (enterprise, quarter, seed) always gives the same records and an inspector can re-draw
it independently. Each sampled record comes with its photos, the vehicle's ledger entry and document
photos (随车清单/行驶证 — ledger checks 1–2) and its open check flags; the sample also lists three
random normal days and the days under an emergency response with their in/out counts (checks 3–4).
A saved sample is an append-only ``audit_sample`` row (sealed in the cloud chain).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import CHINA_TZ, require_tenant
from cloud.lib.problems import FieldError, ProblemError, not_found
from tenants.context import Principal

_QUARTER: Final = re.compile(r"^(\d{4})Q([1-4])$")
DEFAULT_SIZE: Final = 10
MAX_SIZE: Final = 50
NORMAL_DAYS: Final = 3


def quarter_bounds(quarter: str) -> tuple[dt.datetime, dt.datetime]:
    """``2026Q4`` → [start, end) in China time.

    Raises:
        ProblemError: 422 for a malformed quarter.
    """
    match = _QUARTER.match(quarter.strip().upper())
    if match is None:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            f"季度“{quarter}”格式错误，应为如 2026Q4",
            [FieldError(field="quarter", code="quarter.format", message="季度格式应为 YYYYQn")],
        )
    year, q = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, 3 * q - 2, 1, tzinfo=CHINA_TZ)
    end = dt.datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=CHINA_TZ)
    return start, end


def current_quarter(now: dt.datetime | None = None) -> str:
    """The China-time quarter of ``now``."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(CHINA_TZ)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


@dataclass
class SampledRecord:
    """One sampled pass record with everything an inspector looks at."""

    event: m.PassEvent
    vehicle: m.VehicleVersion | None
    documents: list[m.VehicleDocument]
    open_flags: list[str]


@dataclass
class Sample:
    """A drawn sample."""

    tenant_id: uuid.UUID
    quarter: str
    seed: str
    size: int
    population: int
    records: list[SampledRecord] = field(default_factory=list)
    days: list[dict[str, Any]] = field(default_factory=list)
    saved: m.AuditSample | None = None


def _rng(tenant_id: uuid.UUID, quarter: str, seed: str) -> random.Random:
    digest = hashlib.sha256(f"ecogate.sample.v1|{tenant_id}|{quarter}|{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


async def draw(
    session: AsyncSession, tenant_id: uuid.UUID, quarter: str, seed: str, size: int = DEFAULT_SIZE
) -> Sample:
    """Draw (without saving) the sample of a quarter; the same inputs give the same records."""
    start, end = quarter_bounds(quarter)
    size = max(1, min(size, MAX_SIZE))
    ids = list(
        await session.scalars(
            select(m.PassEvent.id)
            .where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.occurred_at >= start, m.PassEvent.occurred_at < end)
            .order_by(m.PassEvent.id)
        )
    )
    rng = _rng(tenant_id, quarter.upper(), seed)
    chosen = rng.sample(ids, min(size, len(ids)))
    sample = Sample(tenant_id, quarter.upper(), seed, size, len(ids))
    sample.records = await _records(session, tenant_id, chosen)
    sample.days = await _days(session, tenant_id, start, end, _rng(tenant_id, quarter.upper(), f"{seed}|days"))
    return sample


async def _records(session: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[SampledRecord]:
    if not ids:
        return []
    events = {
        e.id: e
        for e in await session.scalars(
            select(m.PassEvent).where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.id.in_(ids))
        )
    }
    out = []
    for pid in ids:
        event = events.get(pid)
        if event is None:
            continue  # a record deleted since the sample was saved shows up in chain verification
        version = await _vehicle_at(session, tenant_id, event)
        documents: list[m.VehicleDocument] = []
        if version is not None:
            documents = list(
                await session.scalars(
                    select(m.VehicleDocument)
                    .where(m.VehicleDocument.tenant_id == tenant_id, m.VehicleDocument.vehicle_id == version.vehicle_id)
                    .order_by(m.VehicleDocument.created_at)
                )
            )
        flags = await session.execute(
            text(
                "SELECT f.code FROM check_flag f WHERE f.tenant_id = :t AND f.pass_event_id = :p AND NOT EXISTS ("
                "SELECT 1 FROM check_resolution r WHERE r.tenant_id = f.tenant_id AND r.flag_id = f.id "
                "AND r.outcome IN ('resolved', 'dismissed') AND NOT EXISTS (SELECT 1 FROM check_resolution r2 "
                "WHERE r2.tenant_id = r.tenant_id AND r2.flag_id = r.flag_id AND r2.created_at > r.created_at))"
            ),
            {"t": tenant_id, "p": pid},
        )
        out.append(SampledRecord(event, version, documents, [str(c) for (c,) in flags]))
    return out


async def _vehicle_at(session: AsyncSession, tenant_id: uuid.UUID, event: m.PassEvent) -> m.VehicleVersion | None:
    """The ledger version of the vehicle as it stood when the pass happened (by id, else plate)."""
    query = select(m.VehicleVersion).where(
        m.VehicleVersion.tenant_id == tenant_id,
        m.VehicleVersion.created_at <= max(event.occurred_at, event.received_at),
    )
    if event.vehicle_id is not None:
        query = query.where(m.VehicleVersion.vehicle_id == event.vehicle_id)
    elif event.plate:
        query = query.where(m.VehicleVersion.plate == event.plate)
    else:
        return None
    return await session.scalar(
        query.order_by(m.VehicleVersion.created_at.desc(), m.VehicleVersion.version.desc()).limit(1)
    )


async def _days(
    session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime, rng: random.Random
) -> list[dict[str, Any]]:
    counts = {
        day: (int(i), int(o))
        for day, i, o in await session.execute(
            text(
                "SELECT (occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day, "
                "count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out') "
                "FROM pass_event WHERE tenant_id = :t AND occurred_at >= :s AND occurred_at < :e GROUP BY 1"
            ),
            {"t": tenant_id, "s": start, "e": end},
        )
    }
    alert_days: set[dt.date] = set()
    for row in await session.scalars(
        select(m.EmergencyResponse).where(
            m.EmergencyResponse.tenant_id == tenant_id,
            m.EmergencyResponse.event == "declared",
            m.EmergencyResponse.starts_at < end,
            m.EmergencyResponse.ends_at > start,
        )
    ):
        day = max(row.starts_at, start).astimezone(CHINA_TZ).date()
        last = min(row.ends_at, end).astimezone(CHINA_TZ).date()
        while day <= last:
            alert_days.add(day)
            day += dt.timedelta(days=1)
    normal = sorted(d for d in counts if d not in alert_days)
    picked = sorted(rng.sample(normal, min(NORMAL_DAYS, len(normal))))
    out = [{"day": d.isoformat(), "kind": "normal", "in": counts[d][0], "out": counts[d][1]} for d in picked]
    out += [
        {"day": d.isoformat(), "kind": "emergency", "in": counts.get(d, (0, 0))[0], "out": counts.get(d, (0, 0))[1]}
        for d in sorted(alert_days)
        if start.astimezone(CHINA_TZ).date() <= d < end.astimezone(CHINA_TZ).date()
    ]
    return out


async def save(session: AsyncSession, principal: Principal, quarter: str, seed: str | None, size: int) -> Sample:
    """Draw and keep the quarter's sample (append-only record, sealed in the cloud chain)."""
    tenant_id = require_tenant(principal)
    seed = seed or uuid.uuid4().hex[:16]
    sample = await draw(session, tenant_id, quarter, seed, size)
    row = m.AuditSample(
        tenant_id=tenant_id,
        quarter=sample.quarter,
        seed=seed[:64],
        size=sample.size,
        pass_ids=[r.event.id for r in sample.records],
        created_by=principal.user_id,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal,
        "audit_sample.created",
        "audit_sample",
        row.id,
        {"quarter": sample.quarter, "size": len(row.pass_ids)},
    )
    sample.saved = row
    return sample


async def load(session: AsyncSession, sample_id: uuid.UUID) -> Sample:
    """A saved sample with its records as they are now."""
    row = await session.scalar(select(m.AuditSample).where(m.AuditSample.id == sample_id))
    if row is None:
        raise not_found("抽查样本")
    start, end = quarter_bounds(row.quarter)
    sample = Sample(row.tenant_id, row.quarter, row.seed, row.size, len(row.pass_ids), saved=row)
    sample.records = await _records(session, row.tenant_id, list(row.pass_ids))
    sample.days = await _days(session, row.tenant_id, start, end, _rng(row.tenant_id, row.quarter, f"{row.seed}|days"))
    return sample


async def list_saved(session: AsyncSession, limit: int, offset: int) -> tuple[list[m.AuditSample], int]:
    """Saved samples, newest first."""
    rows = list(
        await session.scalars(select(m.AuditSample).order_by(m.AuditSample.created_at.desc(), m.AuditSample.id.desc()))
    )
    return rows[offset : offset + limit], len(rows)
