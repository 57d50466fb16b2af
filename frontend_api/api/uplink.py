"""The enterprise's regulator uplink (issue 8): platform settings, upload KPIs and alarms, 补传, attempts.

Credentials are write-only: they are encrypted at rest and never returned. Alarms (cloud/uplink/alarms.py):
the upload rate of the last 7 days under the tenant's threshold (report settings, default 95 %), the
oldest record not yet delivered older than a day, records refused by the platform. ``alarms`` are the
ones in force now (with ``since``, the raise the workers recorded); ``alarm_history`` is the recent
raised/cleared transitions the workers wrote.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from litestar import get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.entitlements import Action, require
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant, time_range
from cloud.lib.problems import ProblemError, not_found
from cloud.uplink import alarms as uplink_alarms
from cloud.uplink import outbox, platforms
from cloud.uplink.adapters import PROFILES
from frontend_api.api.schemas import From, Limit, Offset, Page, To
from tenants.context import Principal, Role

ADMINS = {"roles": frozenset({Role.TENANT_ADMIN})}
MANAGERS = {"roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER})}
#: Transitions listed in ``alarm_history``.
ALARM_HISTORY = 20
_PROFILE_LABELS = {
    "transport_control": "河南 transportControl 协议族",
    "transport_serial": "开封 /transport 协议族（平台发放流水号）",
    "tianjin": "天津（SM2 签名）",
    "hengshui": "衡水（TCP 长连接）",
}


class PlatformIn(msgspec.Struct, forbid_unknown_fields=True):
    """The regulator platform the enterprise reports to (credentials are stored encrypted, never shown)."""

    base_url: Annotated[str, msgspec.Meta(min_length=8, max_length=300, pattern=r"^(https?|tcp)://")]
    enterprise_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    profile: str = "transport_control"
    enterprise_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    photo_max_bytes: Annotated[int, msgspec.Meta(ge=20_000, le=5_000_000)] = 300_000
    enabled: bool = True


class PlatformOut(msgspec.Struct):
    """The platform settings without secrets."""

    profile: str
    profile_label: str
    base_url: str
    enterprise_code: str
    enterprise_name: str
    photo_max_bytes: int
    enabled: bool
    updated_at: dt.datetime


class Alarm(msgspec.Struct):
    """An uplink alarm in force: machine code, a sentence for people, since when (None = not yet recorded)."""

    code: str
    message: str
    since: dt.datetime | None = None


class AlarmEvent(msgspec.Struct):
    """A raised or cleared transition of an alarm, as the uplink workers recorded it."""

    code: str
    raised: bool
    message: str
    at: dt.datetime


class UplinkStatusOut(msgspec.Struct):
    """Upload KPIs over the period and the alarms in force."""

    configured: bool
    total: int = 0
    held: int = 0  # records the platform holds: delivered + photo_pending + photo_refused (upload_rate's numerator)
    delivered: int = 0  # record and every photo held
    photo_pending: int = 0  # record held, a photo still to send
    photo_refused: int = 0  # record held, a photo refused by the platform
    rejected: int = 0  # record refused (review queue)
    pending: int = 0  # not held yet
    upload_rate: str | None = None
    #: The rate over the records already due (older than 10 minutes): what the rate alarm judges.
    due_upload_rate: str | None = None
    timeliness: str | None = None
    oldest_pending_s: float | None = None
    threshold: str | None = None
    alarms: list[Alarm] = []
    alarm_history: list[AlarmEvent] = []


class ResendIn(msgspec.Struct, forbid_unknown_fields=True):
    """补传: queue every record of the period again (China dates or ISO times)."""

    start: Annotated[str, msgspec.Meta(max_length=40)] = msgspec.field(name="from")
    end: Annotated[str, msgspec.Meta(max_length=40)] = msgspec.field(name="to")
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "补传"


class ResendOut(msgspec.Struct):
    """How many records were queued."""

    queued: int


class AttemptOut(msgspec.Struct):
    """One send of a record and the platform's answer."""

    id: uuid.UUID
    record_id: uuid.UUID
    at: dt.datetime
    outcome: str  # delivered, duplicate, retry or rejected
    code: str | None
    message: str
    duration_ms: int


def _platform(row: m.UplinkPlatform) -> PlatformOut:
    return PlatformOut(
        row.profile,
        _PROFILE_LABELS.get(row.profile, row.profile),
        row.base_url,
        row.enterprise_code,
        row.enterprise_name,
        row.photo_max_bytes,
        row.enabled,
        row.updated_at,
    )


@get("/uplink/platform", operation_id="GetUplinkPlatform", opt=MANAGERS)
async def get_platform(session: NamedDependency[AsyncSession]) -> PlatformOut:
    """The enterprise's regulator platform (404 when none is set)."""
    async with session.begin():
        row = await session.scalar(select(m.UplinkPlatform))
    if row is None:
        raise not_found("监管平台配置")
    return _platform(row)


@put("/uplink/platform", operation_id="SetUplinkPlatform", opt=ADMINS)
async def set_platform(
    data: JSONBody[PlatformIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> PlatformOut:
    """Set the platform; records not yet queued (the back-fill) are queued for it."""
    if data.profile not in PROFILES:
        errors = FieldErrors()
        errors.add("profile", "profile.unknown", f"未支持的平台协议，可选：{'、'.join(PROFILES)}")
        errors.raise_if_any()
    tenant_id = require_tenant(principal)
    async with session.begin():
        # Replaces the tenant's one platform: never refused (issue 22, ADR 0033); an extra profile would be.
        await require(session, principal, Action.REGULATOR_PROFILE, profile=data.profile)
        row = await platforms.configure(
            session,
            tenant_id,
            profile=data.profile,
            base_url=data.base_url,
            enterprise_code=data.enterprise_code,
            enterprise_name=data.enterprise_name,
            credentials={"username": data.username, "password": data.password},
            photo_max_bytes=data.photo_max_bytes,
            enabled=data.enabled,
        )
        row.updated_at = dt.datetime.now(dt.UTC)
        now = dt.datetime.now(dt.UTC)
        queued = await outbox.backfill(session, tenant_id, now - dt.timedelta(days=366), now + dt.timedelta(days=1))
        audit.record(
            session,
            principal,
            "uplink.platform_set",
            "uplink_platform",
            row.id,
            {
                "profile": data.profile,
                "base_url": data.base_url,
                "enterprise_code": data.enterprise_code,
                "queued": queued,
            },
        )
    return _platform(row)


@get("/uplink/status", operation_id="GetUplinkStatus", opt=MANAGERS)
async def get_status(
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    start: From = None,
    end: To = None,
) -> UplinkStatusOut:
    """Upload rate, timeliness and the alarms (default period: the last 7 days)."""
    tenant_id = require_tenant(principal)
    first, last = _period(start, end, 7)
    async with session.begin():
        status = await outbox.upload_status(session, tenant_id, first, last)
        threshold = await uplink_alarms.threshold_of(session, tenant_id)
        recorded = await uplink_alarms.last_transitions(session, tenant_id)
        history = list(
            await session.scalars(
                select(m.UplinkAlarm).order_by(m.UplinkAlarm.at.desc(), m.UplinkAlarm.id.desc()).limit(ALARM_HISTORY)
            )
        )
    if status is None or threshold is None:
        return UplinkStatusOut(configured=False)
    in_force = [
        Alarm(a.code, a.message, recorded[a.code][1] if recorded.get(a.code, (False, None))[0] else None)
        for a in uplink_alarms.current(status, threshold)
    ]
    return UplinkStatusOut(
        configured=True,
        threshold=str(threshold),
        alarms=in_force,
        alarm_history=[AlarmEvent(h.code, h.raised, h.message, h.at) for h in history],
        **status,
    )


@post("/uplink/resend", operation_id="ResendUplinkPeriod", opt=MANAGERS, status_code=200)
async def resend(
    data: JSONBody[ResendIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> ResendOut:
    """补传: queue every record of the period again, delivered ones included (the platform de-duplicates)."""
    tenant_id = require_tenant(principal)
    errors = FieldErrors()
    span = time_range(errors, data.start, data.end)
    errors.raise_if_any()
    if span.start is None or span.end is None or span.end - span.start > dt.timedelta(days=92):
        raise ProblemError(422, "period_too_long", "补传时段无效", "补传时段须给出起止日期，且不超过 92 天")
    async with session.begin():
        if await session.scalar(select(m.UplinkPlatform.id)) is None:
            raise ProblemError(409, "uplink_not_configured", "尚未配置监管平台", "请先配置监管平台再补传")
        queued = await outbox.resend_period(session, tenant_id, span.start, span.end)
        audit.record(
            session,
            principal,
            "uplink.resend",
            "uplink_outbox",
            None,
            {"from": data.start, "to": data.end, "reason": data.reason, "queued": queued},
        )
    return ResendOut(queued)


@get("/uplink/records/{pass_id:uuid}/attempts", operation_id="ListUplinkAttempts", opt=MANAGERS)
async def list_attempts(
    pass_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[AttemptOut]:
    """Every send of one record (a pass event) and the platform's answers, newest first."""
    async with session.begin():  # first-try deliveries are kept on the outbox row (docs/adr/0042)
        rows = await outbox.attempts_of(session, pass_id, limit, offset)
    items = [AttemptOut(a.id, a.outbox_id, a.at, a.outcome, a.code, a.message, a.duration_ms) for a in rows]
    return Page(items, len(items) + offset, limit, offset)


def _period(start: str | None, end: str | None, days: int) -> tuple[dt.datetime, dt.datetime]:
    errors = FieldErrors()
    span = time_range(errors, start, end)
    errors.raise_if_any()
    now = dt.datetime.now(dt.UTC)
    return span.start or now - dt.timedelta(days=days), span.end or now + dt.timedelta(minutes=1)


HANDLERS = [get_platform, set_platform, get_status, resend, list_attempts]
