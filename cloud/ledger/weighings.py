"""Weighings (称重记录): the only code that inserts into ``weighing`` (issue 15, docs/devices.md "Weighing ↔ pass").

A weighing row is a record, append-only like a pass event. Three sources write through here:

* ``agent``: the lane's late weighing attachment (``weighing_attach``): the stable weight the agent
  attributed to a pass after the pass was sealed (the deck stands behind the barrier), with the
  trip's gross/tare/net on the exit pass. Stored once under the attachment id (a UUIDv7 made on the
  agent), refused when the pass is not the sending agent's (:func:`record_agent_weighing`).
* ``connector``: the plant's own weighbridge software (无人值守称重), matched to a pass by plate and
  time by the connector; stored once per ``(source, external_ref)`` (the software's record number).
* ``manual``: a person assigning an unattributed weighing to a pass (:func:`attach_weighing_to_pass`).

A weight nobody can attribute is stored with ``pass_event_id`` NULL (:func:`unattributed_weighings`
lists them for review) — never put on a guessed pass. A pass whose weight never came gets a
``weighing_missing`` flag (:func:`flag_weighing_missing`), the same flag the logic checks raise. The
trip findings the agent's pairer puts on an exit's record (``cargo_missing``, ``exit_before_entry``,
``trip_too_long``, ``tare_mismatch``) become check flags on that pass (:func:`open_trip_flags`). Flags
are written by the compliance checks' writer (:func:`cloud.compliance.checks.open_pass_flags`).

Public API (helper E's connector calls the first two)::

    record_weighing(session, tenant_id, WeighingRecord(...)) -> m.Weighing
    attach_weighing_to_pass(session, tenant_id, weighing_id, pass_event_id, by_login=...) -> m.Weighing
    unattributed_weighings(session, tenant_id, site_id=None, limit=500) -> list[m.Weighing]
    weighings_of_pass(session, tenant_id, pass_event_id) -> list[m.Weighing]

All run inside the caller's transaction on a tenant session (RLS: only ``tenant_id``'s rows).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from sqlalchemy import and_, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agent_protocol.messages import WeighingAttach
from agent_protocol.messages import WeighingRecord as WeighingRecordMessage
from cloud.compliance import checks
from cloud.db import models as m
from cloud.lib.problems import ProblemError
from hj1321.plates import canonical_plate

__all__ = [
    "SOURCES",
    "WeighingRecord",
    "attach_weighing_to_pass",
    "flag_weighing_missing",
    "open_trip_flags",
    "record_agent_weighing",
    "record_attachment",
    "record_weighing",
    "unattributed_weighings",
    "weighings_of_pass",
]

Source = Literal["agent", "connector", "manual"]
SOURCES: Final[dict[str, str]] = {"agent": "门岗代理", "connector": "称重软件", "manual": "人工指定"}


@dataclass(frozen=True)
class WeighingRecord:
    """One weighing to store (kilograms).

    Attributes:
        id: the record's id and idempotency key: the agent's attachment id, or for a connector a
            fresh UUIDv7 (then ``external_ref`` dedupes).
        site_id: the site whose weighbridge weighed.
        occurred_at: when the weight was taken (timezone-aware).
        weight_kg: the stable weight of this weighing.
        source: ``agent``, ``connector`` or ``manual``.
        pass_event_id: the pass it belongs to; None = not attributed (listed for review).
        agent_id: the sending agent (source ``agent``).
        indicator: the weighbridge / indicator name.
        direction: ``in`` or ``out`` of the pass (or of the software's record).
        plate: the plate the weight was taken for (canonicalised here).
        gross_kg: the trip's gross weight (exit pass of a paired trip, or the software's record) ...
        tare_kg: ... tare ...
        net_kg: ... net (运输量 in kilograms).
        cargo_name: the cargo (货物名称).
        external_ref: the weighbridge software's own record number (source ``connector``).
        created_by_login: the person who entered it (source ``manual``).
        assigned_from_id: the unattributed weighing this row assigns to a pass (source ``manual``).
    """

    id: uuid.UUID
    site_id: uuid.UUID
    occurred_at: dt.datetime
    weight_kg: Decimal
    source: Source = "agent"
    pass_event_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    indicator: str = ""
    direction: Literal["in", "out"] | None = None
    plate: str | None = None
    gross_kg: Decimal | None = None
    tare_kg: Decimal | None = None
    net_kg: Decimal | None = None
    cargo_name: str | None = None
    external_ref: str | None = None
    created_by_login: str | None = None
    assigned_from_id: uuid.UUID | None = None


def _kg(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.1"))


async def record_weighing(session: AsyncSession, tenant_id: uuid.UUID, record: WeighingRecord) -> m.Weighing:
    """Store one weighing, idempotently; returns the stored row (the earlier one on a repeat).

    A repeat is the same ``id`` (an agent resending its attachment) or, with ``external_ref``, the
    same ``(source, external_ref)`` (a connector re-importing a file): nothing new is written.

    Raises:
        ProblemError: 404 ``pass_not_found`` when ``pass_event_id`` names no pass of this tenant;
            422 ``weighing_invalid`` for a naive time or an unknown source.
    """
    if record.occurred_at.tzinfo is None:
        raise ProblemError(422, "weighing_invalid", "称重记录无效", "称重时间必须带时区")
    if record.source not in SOURCES:
        raise ProblemError(422, "weighing_invalid", "称重记录无效", f"未知的称重来源：{record.source}")
    if record.pass_event_id is not None:
        known = await session.scalar(
            select(m.PassEvent.id).where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == record.pass_event_id)
        )
        if known is None:
            raise ProblemError(
                404, "pass_not_found", "未找到通行记录", f"通行记录 {record.pass_event_id} 不存在或无权访问"
            )
    values = {
        "tenant_id": tenant_id,
        "id": record.id,
        "site_id": record.site_id,
        "pass_event_id": record.pass_event_id,
        "occurred_at": record.occurred_at,
        "weight_kg": _kg(record.weight_kg),
        "indicator": record.indicator[:32],
        "cargo_name": record.cargo_name[:64] if record.cargo_name else None,
        "source": record.source,
        "agent_id": record.agent_id,
        "direction": record.direction,
        "plate": canonical_plate(record.plate)[:10] if record.plate else None,
        "gross_kg": _kg(record.gross_kg),
        "tare_kg": _kg(record.tare_kg),
        "net_kg": _kg(record.net_kg),
        "external_ref": record.external_ref[:64] if record.external_ref else None,
        "created_by_login": record.created_by_login[:64] if record.created_by_login else None,
        "assigned_from_id": record.assigned_from_id,
    }
    await session.execute(pg_insert(m.Weighing).values(**values).on_conflict_do_nothing())
    query = select(m.Weighing).where(m.Weighing.tenant_id == tenant_id)
    if record.external_ref:
        query = query.where(
            (m.Weighing.id == record.id)
            | and_(m.Weighing.source == record.source, m.Weighing.external_ref == values["external_ref"])
        )
    else:
        query = query.where(m.Weighing.id == record.id)
    return (await session.scalars(query.order_by(m.Weighing.received_at).limit(1))).one()


async def record_agent_weighing(
    session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID, record: WeighingRecord
) -> m.Weighing | None:
    """The hub's path: store an agent's late weighing; None when its pass is not this agent's (refused).

    ``record.agent_id`` and ``record.source`` are forced to the sending agent and ``agent``; an
    unattributed record (``pass_event_id`` None) is stored for review.
    """
    if record.pass_event_id is not None:
        owner = await session.scalar(
            select(m.PassEvent.agent_id).where(
                m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == record.pass_event_id
            )
        )
        if owner != agent_id:
            return None
    fixed = dataclasses.replace(record, agent_id=agent_id, source="agent")
    return await record_weighing(session, tenant_id, fixed)


async def record_attachment(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    site_id: uuid.UUID,
    attach: WeighingAttach,
) -> bool:
    """The hub's path for a ``weighing_attach``: the weight, or the ``weighing_missing`` flag; False = refused.

    Refused (nothing written) when the named pass is not the sending agent's, or a ``missing``
    attachment names no pass.
    """
    event_id = uuid.UUID(attach.event_id) if attach.event_id else None
    w = attach.weighing
    if attach.outcome == "missing" or w is None:
        if event_id is None:
            return False
        return await flag_weighing_missing(session, tenant_id, agent_id, event_id)
    record = WeighingRecord(
        id=uuid.UUID(attach.attachment_id),
        site_id=site_id,
        occurred_at=w.at,
        weight_kg=Decimal(str(w.weight_kg)),
        pass_event_id=event_id,
        indicator=w.indicator,
        direction=w.direction,
        plate=w.plate,
        gross_kg=_kg(w.gross_kg),
        tare_kg=_kg(w.tare_kg),
        net_kg=_kg(w.net_kg),
        cargo_name=w.cargo,
    )
    stored = await record_agent_weighing(session, tenant_id, agent_id, record)
    if stored is None:
        return False
    if event_id is not None and w.flags:
        await open_trip_flags(session, tenant_id, event_id, w, attachment_id=attach.attachment_id)
    return True


def _trip_message(code: str, plate: str, w: WeighingRecordMessage) -> str:
    """The Chinese sentence of an agent's trip finding (the flag's title comes from the reason code)."""
    net = f"{w.net_kg:g} 千克" if w.net_kg is not None else "未知"
    texts = {
        "cargo_missing": f"车辆 {plate} 本趟运输净重 {net}，进出厂均未登记货物名称",
        "exit_before_entry": f"车辆 {plate} 的出厂称重时间早于其进厂称重时间（门岗代理配对称重时发现）",
        "trip_too_long": f"车辆 {plate} 本趟运输进厂称重到出厂称重的间隔超过上限",
        "tare_mismatch": f"车辆 {plate} 本趟皮重 {w.tare_kg if w.tare_kg is not None else '未知'} 千克，与登记皮重不符",
    }
    return texts.get(code, f"车辆 {plate} 的称重配对发现异常（{code}）")


async def open_trip_flags(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    pass_event_id: uuid.UUID,
    w: WeighingRecordMessage,
    *,
    attachment_id: str | None = None,
) -> int:
    """Open the agent's trip findings of a weighing record (``cargo_missing`` …) as check flags on the pass.

    The flags go through the compliance checks' writer (:func:`cloud.compliance.checks.open_pass_flags`),
    once per pass and code; codes outside :data:`cloud.compliance.checks.TRIP_FLAGS` are ignored.
    Returns the number of flags added.
    """
    plate = canonical_plate(w.plate) if w.plate else "（无车牌）"
    detail = {
        "source": "agent",
        "weighing_id": attachment_id,
        "gross_kg": w.gross_kg,
        "tare_kg": w.tare_kg,
        "net_kg": w.net_kg,
    }
    findings = [
        checks.PassFinding(code, _trip_message(code, plate, w), detail)
        for code in dict.fromkeys(w.flags)
        if code in checks.TRIP_FLAGS
    ]
    return (await checks.open_pass_flags(session, tenant_id, pass_event_id, findings)).flags_added


async def flag_weighing_missing(
    session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID, pass_event_id: uuid.UUID
) -> bool:
    """The lane's weighbridge gave no stable weight for this pass within its window: raise the flag.

    Idempotent on ``(code, subject_key)`` like every check flag (the logic checks' own
    ``weighing_missing`` uses the same key, so the pass is flagged once). Returns False when the
    pass is not this agent's (nothing written).
    """
    row = (
        await session.execute(
            select(m.PassEvent.agent_id, m.PassEvent.plate).where(
                m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == pass_event_id
            )
        )
    ).one_or_none()
    if row is None or row.agent_id != agent_id:
        return False
    finding = checks.PassFinding(
        "weighing_missing",
        f"车辆 {row.plate or '（无车牌）'} 放行后车道称重窗口内地磅没有稳定重量，未关联称重数据",
        {"source": "agent"},
    )
    await checks.open_pass_flags(session, tenant_id, pass_event_id, [finding])
    return True


async def attach_weighing_to_pass(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    weighing_id: uuid.UUID,
    pass_event_id: uuid.UUID,
    *,
    by_login: str,
) -> m.Weighing:
    """A person assigns an unattributed weighing to a pass: a new ``manual`` row naming the old one.

    The unattributed row stays as it was (append-only); it drops out of
    :func:`unattributed_weighings` because a row now names it in ``assigned_from_id``. Assigning the
    same weighing twice returns the first assignment.

    Raises:
        ProblemError: 404 when the weighing or the pass is not this tenant's; 409
            ``weighing_attributed`` when the weighing already belongs to a pass.
    """
    source = await session.scalar(
        select(m.Weighing).where(m.Weighing.tenant_id == tenant_id, m.Weighing.id == weighing_id)
    )
    if source is None:
        raise ProblemError(404, "not_found", "未找到", "称重记录不存在或无权访问")
    if source.pass_event_id is not None:
        raise ProblemError(
            409, "weighing_attributed", "称重记录已关联通行记录", "该称重记录已属于一条通行记录，不能再次指定"
        )
    earlier = await session.scalar(
        select(m.Weighing).where(m.Weighing.tenant_id == tenant_id, m.Weighing.assigned_from_id == weighing_id)
    )
    if earlier is not None:
        return earlier
    return await record_weighing(
        session,
        tenant_id,
        WeighingRecord(
            id=uuid.uuid5(weighing_id, f"assign:{pass_event_id}"),
            site_id=source.site_id,
            occurred_at=source.occurred_at,
            weight_kg=source.weight_kg,
            source="manual",
            pass_event_id=pass_event_id,
            agent_id=source.agent_id,
            indicator=source.indicator,
            direction="in" if source.direction == "in" else "out" if source.direction == "out" else None,
            plate=source.plate,
            gross_kg=source.gross_kg,
            tare_kg=source.tare_kg,
            net_kg=source.net_kg,
            cargo_name=source.cargo_name,
            created_by_login=by_login,
            assigned_from_id=weighing_id,
        ),
    )


async def unattributed_weighings(
    session: AsyncSession, tenant_id: uuid.UUID, *, site_id: uuid.UUID | None = None, limit: int = 500
) -> list[m.Weighing]:
    """Weighings no pass holds and nobody has assigned yet, newest first (the review list)."""
    later = aliased(m.Weighing)
    query = select(m.Weighing).where(
        m.Weighing.tenant_id == tenant_id,
        m.Weighing.pass_event_id.is_(None),
        ~exists().where(later.tenant_id == m.Weighing.tenant_id, later.assigned_from_id == m.Weighing.id),
    )
    if site_id is not None:
        query = query.where(m.Weighing.site_id == site_id)
    return list((await session.scalars(query.order_by(m.Weighing.occurred_at.desc()).limit(limit))).all())


async def weighings_of_pass(session: AsyncSession, tenant_id: uuid.UUID, pass_event_id: uuid.UUID) -> list[m.Weighing]:
    """The weighings attributed to one pass, oldest first."""
    return list(
        (
            await session.scalars(
                select(m.Weighing)
                .where(m.Weighing.tenant_id == tenant_id, m.Weighing.pass_event_id == pass_event_id)
                .order_by(m.Weighing.occurred_at, m.Weighing.id)
            )
        ).all()
    )
