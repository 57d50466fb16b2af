"""Regulator access (issue 8): the enterprises of the regulator's region, read-only.

Region-scoped accounts (province ``42``, city ``4201``, county ``420102``) read through their own
pool and RLS policy, so an enterprise outside the region is 404 whatever the path says; every write of
the API is refused to them by the guard (403). Ledgers, photos, reports and chain verification of an
enterprise are the enterprise-named endpoints a regulator already reads (``/enterprises/{id}/…``,
``/passes``, ``/blobs``); this module adds the region overview, the enterprise's passes, the
emergency-compliance list and the upload KPIs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import regulator
from cloud.domain.common import FieldErrors, time_range
from cloud.uplink import outbox
from frontend_api.api.passes import PassOut, _pass
from frontend_api.api.schemas import From, Limit, Offset, Page, To
from tenants.context import Role

REGULATORS = {"roles": frozenset({Role.REGULATOR})}


class UploadKpis(msgspec.Struct):
    """Records queued for the regulator platform in the last 30 days and how many it holds."""

    queued: int
    delivered: int
    rejected: int
    upload_rate: str | None
    oldest_pending_s: float | None


class EnterpriseOut(msgspec.Struct):
    """An enterprise of the region with its recent figures."""

    id: uuid.UUID
    name: str
    uscc: str
    industry: str
    region_code: str
    grade: str
    passes_today: int
    refused_today: int
    passes_30d: int
    refused_30d: int
    manual_releases_30d: int
    last_received_at: dt.datetime | None
    upload: UploadKpis | None


class UploadStatusOut(msgspec.Struct):
    """Upload KPIs of an enterprise over a period (null fields: nothing queued)."""

    configured: bool
    total: int = 0
    held: int = 0  # the platform holds the record (delivered + photo_pending + photo_refused)
    delivered: int = 0
    photo_pending: int = 0
    photo_refused: int = 0
    rejected: int = 0
    pending: int = 0
    upload_rate: str | None = None
    #: The rate over the records already due (older than 10 minutes).
    due_upload_rate: str | None = None
    timeliness: str | None = None
    oldest_pending_s: float | None = None


def _enterprise(f: regulator.EnterpriseFigures) -> EnterpriseOut:
    t = f.tenant
    upload = None if f.upload is None else UploadKpis(**f.upload)
    return EnterpriseOut(
        t.id,
        t.name,
        t.uscc,
        t.industry,
        t.region_code,
        t.grade,
        f.passes_today,
        f.refused_today,
        f.passes_30d,
        f.refused_30d,
        f.manual_30d,
        f.last_received_at,
        upload,
    )


def _period(start: str | None, end: str | None, default_days: int) -> tuple[dt.datetime, dt.datetime]:
    errors = FieldErrors()
    span = time_range(errors, start, end)
    errors.raise_if_any()
    today = regulator.china_midnight()
    return (span.start or today - dt.timedelta(days=default_days - 1), span.end or today + dt.timedelta(days=1))


@get("/regulator/enterprises", operation_id="ListRegionEnterprises", opt=REGULATORS)
async def list_enterprises(session: NamedDependency[AsyncSession]) -> list[EnterpriseOut]:
    """The enterprises of the regulator's region: today's and 30-day passes, refusals, upload rate."""
    async with session.begin():
        rows = await regulator.region_enterprises(session)
    return [_enterprise(r) for r in rows]


@get("/regulator/enterprises/{tenant_id:uuid}/passes", operation_id="ListEnterprisePasses", opt=REGULATORS)
async def enterprise_passes(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    start: From = None,
    end: To = None,
    decision: FromQuery[str | None] = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[PassOut]:
    """One enterprise's passes, newest first (default: the last 30 days); ``decision=refuse`` = interceptions."""
    first, last = _period(start, end, 30)
    async with session.begin():
        await regulator.enterprise(session, tenant_id)
        where = [m.PassEvent.tenant_id == tenant_id, m.PassEvent.occurred_at >= first, m.PassEvent.occurred_at < last]
        if decision in ("allow", "refuse"):
            where.append(m.PassEvent.decision == decision)
        total = int(await session.scalar(select(func.count()).select_from(m.PassEvent).where(*where)) or 0)
        rows = await session.scalars(
            select(m.PassEvent)
            .where(*where)
            .order_by(m.PassEvent.occurred_at.desc(), m.PassEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [_pass(e) for e in rows]
    return Page(items, total, limit, offset)


@get(
    "/regulator/enterprises/{tenant_id:uuid}/emergency-compliance",
    operation_id="ListEmergencyViolations",
    opt=REGULATORS,
)
async def emergency_compliance(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    start: From = None,
    end: To = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[PassOut]:
    """Entries that should have been refused during an orange/red alert (国四 and below heavy diesel trucks)."""
    first, last = _period(start, end, 90)
    async with session.begin():
        tenant = await regulator.enterprise(session, tenant_id)
        rows, total = await regulator.should_have_been_refused(session, tenant, first, last, limit, offset)
    return Page([_pass(e) for e in rows], total, limit, offset)


@get("/regulator/enterprises/{tenant_id:uuid}/uplink", operation_id="GetEnterpriseUploadStatus", opt=REGULATORS)
async def upload_status(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    start: From = None,
    end: To = None,
) -> UploadStatusOut:
    """The enterprise's upload KPIs for the period (default: the last 30 days)."""
    first, last = _period(start, end, 30)
    async with session.begin():
        await regulator.enterprise(session, tenant_id)
        status: dict[str, Any] | None = await outbox.upload_status(
            session, tenant_id, first, last, platform_visible=False
        )
    if status is None:
        return UploadStatusOut(configured=False)
    return UploadStatusOut(configured=True, **status)


HANDLERS = [list_enterprises, enterprise_passes, emergency_compliance, upload_status]
