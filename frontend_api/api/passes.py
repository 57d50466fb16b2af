"""Pass events (进出记录) and weighings: filtered, paginated reads."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import passes
from cloud.ledger import corrections as pass_corrections
from frontend_api.api.schemas import From, Limit, Offset, Page, PlateQuery, To
from tenants.context import Principal

Cursor = Annotated[str | None, QueryParameter(max_length=200, description="上一页返回的 next_cursor")]


class PassOut(msgspec.Struct):
    """A pass event: one vehicle crossing one lane once."""

    id: uuid.UUID
    site_id: uuid.UUID
    lane_id: uuid.UUID
    agent_id: uuid.UUID
    seq: int
    direction: str
    occurred_at: dt.datetime
    received_at: dt.datetime
    plate: str
    plate_colour: str
    confidence: float
    vehicle_id: uuid.UUID | None
    decision: str
    reason_codes: list[str]
    trigger: str
    operator: str | None
    manual_reason: str | None
    scene_sha256: str | None
    plate_sha256: str | None
    cargo_name: str | None
    anomaly_flags: list[str]
    prev_hash: str
    hash: str


class WeighingOut(msgspec.Struct):
    """A stable weighbridge reading."""

    id: uuid.UUID
    site_id: uuid.UUID
    pass_event_id: uuid.UUID | None
    occurred_at: dt.datetime
    received_at: dt.datetime
    weight_kg: Decimal
    indicator: str
    cargo_name: str | None


class CorrectionOut(msgspec.Struct):
    """A correction of a pass event: the fields it restates (null = unchanged), or a void, with who and why."""

    id: uuid.UUID
    pass_event_id: uuid.UUID
    plate: str | None
    plate_colour: str | None
    vehicle_id: uuid.UUID | None
    direction: str | None
    cargo_name: str | None
    net_kg: Decimal | None
    void: bool
    reason: str
    created_by: uuid.UUID
    created_by_login: str
    created_at: dt.datetime


class PassCorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Correct a pass event (更正): give the reason and at least one field, or ``void``.

    The newest correction of a pass is the one in force, so restate every field that should stay changed.
    """

    reason: Annotated[str, msgspec.Meta(max_length=200, description="更正原因（必填）")]
    plate: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    plate_colour: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    vehicle_id: uuid.UUID | None = None
    direction: Literal["in", "out"] | None = None
    cargo_name: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    net_kg: Annotated[str, msgspec.Meta(max_length=16)] | int | float | None = None
    void: bool = False


class ClipOut(msgspec.Struct):
    """A video clip of the pass (motion JPEG); the bytes are at ``/api/v1/blobs/{sha256}``."""

    sha256: str
    start: dt.datetime
    end: dt.datetime
    size: int
    mime: str
    late: bool  # true: cut after the pass, covering before and after it (ADR 0020); false: sealed in the event


class PassDetailOut(msgspec.Struct):
    """A pass event with the agent's payload, its weighings, corrections (oldest first) and video clips."""

    event: PassOut
    payload: dict[str, Any]
    weighings: list[WeighingOut]
    corrections: list[CorrectionOut] = []
    clips: list[ClipOut] = []


class PassPageOut(msgspec.Struct):
    """A page of pass events; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[PassOut]
    total: int
    limit: int
    offset: int
    next_cursor: str | None


def _pass(e: m.PassEvent) -> PassOut:
    return PassOut(
        e.id,
        e.site_id,
        e.lane_id,
        e.agent_id,
        e.seq,
        e.direction,
        e.occurred_at,
        e.received_at,
        e.plate,
        e.plate_colour,
        e.confidence,
        e.vehicle_id,
        e.decision,
        list(e.reason_codes),
        e.trigger,
        e.operator,
        e.manual_reason,
        e.scene_sha256,
        e.plate_sha256,
        e.cargo_name,
        list(e.anomaly_flags),
        e.prev_hash,
        e.hash,
    )


def _weighing(w: m.Weighing) -> WeighingOut:
    return WeighingOut(
        w.id, w.site_id, w.pass_event_id, w.occurred_at, w.received_at, w.weight_kg, w.indicator, w.cargo_name
    )


@get("/passes", operation_id="ListPasses")
async def list_passes(
    session: NamedDependency[AsyncSession],
    plate: PlateQuery = None,
    start: From = None,
    end: To = None,
    site_id: FromQuery[uuid.UUID | None] = None,
    lane_id: FromQuery[uuid.UUID | None] = None,
    direction: FromQuery[Literal["in", "out"] | None] = None,
    decision: FromQuery[Literal["allow", "refuse"] | None] = None,
    trigger: FromQuery[Literal["auto", "manual_release", "manual_entry"] | None] = None,
    vehicle_id: FromQuery[uuid.UUID | None] = None,
    cursor: Cursor = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> PassPageOut:
    """Pass events, newest first; filter by plate, time (China dates or ISO times), lane, direction…"""
    criteria = passes.PassFilter(plate, start, end, site_id, lane_id, direction, decision, trigger, vehicle_id)
    async with session.begin():
        page = await passes.list_passes(session, criteria, limit, offset, cursor)
    return PassPageOut([_pass(e) for e in page.items], page.total, limit, offset, page.next_cursor)


def _correction(c: m.PassCorrection) -> CorrectionOut:
    return CorrectionOut(
        c.id,
        c.pass_event_id,
        c.plate,
        c.plate_colour,
        c.vehicle_id,
        c.direction,
        c.cargo_name,
        c.net_kg,
        c.void,
        c.reason,
        c.created_by,
        c.created_by_login,
        c.created_at,
    )


@get("/passes/{pass_id:uuid}", operation_id="GetPass")
async def get_pass(pass_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> PassDetailOut:
    """A pass event with its weighings and corrections."""
    async with session.begin():
        event, weighings = await passes.get_pass(session, pass_id)
        corrections = await pass_corrections.list_corrections(session, event.id)
        late = (
            await session.scalars(
                select(m.PassClip).where(m.PassClip.pass_event_id == event.id).order_by(m.PassClip.start, m.PassClip.id)
            )
        ).all()
    return PassDetailOut(
        _pass(event),
        dict(event.payload),
        [_weighing(w) for w in weighings],
        [_correction(c) for c in corrections],
        _clips(event.payload, late),
    )


def _clips(payload: dict[str, Any], late: Sequence[m.PassClip]) -> list[ClipOut]:
    """The clip sealed in the event (if any), then the late clips (the full span around the pass)."""
    out: list[ClipOut] = []
    evidence = payload.get("evidence")
    sealed = evidence.get("clip") if isinstance(evidence, dict) else None
    if isinstance(sealed, dict):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            out.append(
                ClipOut(
                    str(sealed["sha256"]),
                    dt.datetime.fromisoformat(str(sealed["start"])),
                    dt.datetime.fromisoformat(str(sealed["end"])),
                    int(sealed["size"]),
                    str(sealed.get("mime", "video/x-motion-jpeg")),
                    late=False,
                )
            )
    out.extend(ClipOut(c.sha256, c.start, c.end, c.size_bytes, c.mime, late=True) for c in late)
    return out


@post("/passes/{pass_id:uuid}/corrections", operation_id="CorrectPass")
async def correct_pass(
    pass_id: FromPath[uuid.UUID],
    data: JSONBody[PassCorrectionIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> CorrectionOut:
    """Correct a pass event or void it: a new correction row recording who and why (the event never changes)."""
    request = pass_corrections.CorrectionInput(
        reason=data.reason,
        plate=data.plate,
        plate_colour=data.plate_colour,
        vehicle_id=data.vehicle_id,
        direction=data.direction,
        cargo_name=data.cargo_name,
        net_kg=data.net_kg,
        void=data.void,
    )
    async with session.begin():
        correction = await pass_corrections.correct_pass(session, principal, pass_id, request)
    return _correction(correction)


@get("/weighings", operation_id="ListWeighings")
async def list_weighings(
    session: NamedDependency[AsyncSession],
    start: From = None,
    end: To = None,
    site_id: FromQuery[uuid.UUID | None] = None,
    pass_event_id: FromQuery[uuid.UUID | None] = None,
    cargo_name: Annotated[str | None, QueryParameter(max_length=64)] = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[WeighingOut]:
    """Weighings, newest first; filter by time, site, pass event or cargo."""
    criteria = passes.WeighingFilter(start, end, site_id, pass_event_id, cargo_name)
    async with session.begin():
        rows, total = await passes.list_weighings(session, criteria, limit, offset)
    return Page([_weighing(w) for w in rows], total, limit, offset)


HANDLERS = [list_passes, get_pass, correct_pass, list_weighings]
