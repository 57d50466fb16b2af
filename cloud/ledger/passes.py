"""Pass events (进出记录): the only code that inserts into ``pass_event`` (ADR 0024, issue 15).

A pass event is born and sealed on the agent (``agent_protocol.events``: id, sequence number, hash
chain); the ledger stores it as the agent sent it and adds what only the cloud knows, in the
transaction that stores it:

* **the vehicle and its version at the pass time**: ``vehicle_id`` from the agent's registry id (the
  cloud's vehicle id it pushed, ``cloud.compliance.snapshots``), else the in-plant code
  (登记编码或内部管理号牌), else the plate; ``vehicle_version_id`` = the newest version of that
  vehicle created at or before ``occurred_at`` (the first version when the pass is older than the
  vehicle's record). Every HJ 1321 vehicle field of the ledger row (REGULATION.md §1.4.2 (a) 8–20,
  23: type, VIN, registration date, brand, engine, fuel, stage, use nature, 联网状态, fleet …) is that
  version's, so the exports and the uplink read one version, never today's record;
* **every HJ 1321 pass field as a column** (§1.4.2 (a) 1–7, 21; §1.4.1 table 4): lane (→ gate),
  direction, time, photos, plate and colour, in-plant code, cargo, and the manual-action facts
  (operator account and display name, reason, release photo, booth/remote, confirmed/typed plate);
* **the uplink queue** row (``cloud.uplink.outbox.enqueue``, nothing without a platform);
* **the logic checks**: they run over every row above the tenant's ``received_at`` watermark
  (``cloud.compliance.checks``), so storing the row is what queues it; the hub asks its checks
  runner after the ack.

The hub's batches go through :func:`store_batch`: one statement takes the agent's lock, resolves the
vehicles of the whole batch, inserts it and queues it for the uplink (ADR 0019: the ORM cost more than
the database at 500 batches/s; issue 15: every round trip of a batch is ack latency).
Inserts are idempotent on ``(tenant_id, id)``. Cloud-born records (corrections) are sealed in the
tenant's cloud chain by ``cloud.db.sealing``; agent-born events carry the agent's chain.
"""

# ruff: noqa: S608 - _STORE is assembled from module constants only; every value is a bound parameter.

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from agent_protocol.events import PassEvent, SnapshotRole
from cloud.db import models as m
from cloud.uplink import outbox as uplink_outbox
from hj1321.plates import canonical_plate

__all__ = ["AgentSource", "VehicleAtPass", "lock_agent", "row_of", "store_batch", "stored"]

_ROWS_ENCODER: Final = msgspec.json.Encoder()

#: The agent's lock (until the transaction ends), keyed on ``:agent`` (the agent id as text): it orders
#: one agent's batches. :func:`store_batch` takes it in its statement, the hub before it reads the stored
#: head of the agent's chain (:func:`lock_agent`).
_AGENT_LOCK: Final = "pg_advisory_xact_lock(hashtextextended(:agent, 0))"
_LOCK_AGENT: Final = text(f"SELECT {_AGENT_LOCK}")

# Every column of a pass_event row that row_of() fills from the event (the vehicle columns come from
# the resolution below, received_at from the caller or the database clock).
_EVENT_COLUMNS: Final = (
    "tenant_id", "id", "site_id", "lane_id", "agent_id", "seq", "direction", "occurred_at", "plate",
    "plate_colour", "internal_code", "confidence", "decision", "reason_codes", "trigger", "operator",
    "operator_name", "manual_reason", "manual_photo_sha256", "release_channel", "plate_source",
    "related_event_id", "emergency_level", "scene_sha256", "plate_sha256", "cargo_name", "anomaly_flags",
    "prev_hash", "hash", "payload",
)  # fmt: skip

# One statement stores a batch (issue 15: the hub's ack latency is its round trips):
# * ``lock``: one agent's batches are stored one transaction at a time (a stale second connection of
#   the same agent waits); taken before any row is written (every inserted row joins it);
# * ``r``: the rows, sent as one JSON array (row_of() per event) and typed by the table's row type;
# * ``found``: the vehicle of each row (registry id → in-plant code → plate; COALESCE evaluates its
#   subqueries in order and stops at the first non-null one) and its version at the pass time (the
#   newest created at or before ``occurred_at``, else the first);
# * ``ins``: the insert, idempotent on (tenant_id, id); ``queued``: the uplink outbox rows of what it
#   actually inserted (``cloud.uplink.outbox.enqueue_from``).
_STORE: Final = text(
    f"""
WITH lock AS MATERIALIZED (SELECT {_AGENT_LOCK} AS l),
r AS MATERIALIZED (
    SELECT * FROM jsonb_populate_recordset(NULL::pass_event, CAST(CAST(:rows AS text) AS jsonb))
),
found AS (
    SELECT r.id, vv.vehicle_id, vv.id AS version_id
    FROM r
    CROSS JOIN LATERAL (
        SELECT COALESCE(
            (SELECT v.id FROM vehicle v WHERE v.tenant_id = :t AND v.id = r.vehicle_id),
            (SELECT x.vehicle_id FROM vehicle_version x
             WHERE r.internal_code IS NOT NULL AND x.tenant_id = :t
               AND (x.internal_code = r.internal_code OR x.env_reg_code = r.internal_code)
             ORDER BY (x.created_at <= r.occurred_at) DESC, x.created_at DESC LIMIT 1),
            (SELECT x.vehicle_id FROM vehicle_version x
             WHERE r.plate <> '' AND x.tenant_id = :t AND x.plate = r.plate
             ORDER BY (x.created_at <= r.occurred_at) DESC, x.created_at DESC LIMIT 1)
        ) AS vehicle_id
    ) f
    JOIN LATERAL (
        SELECT x.vehicle_id, x.id FROM vehicle_version x
        WHERE x.tenant_id = :t AND x.vehicle_id = f.vehicle_id
        ORDER BY CASE WHEN x.created_at <= r.occurred_at THEN x.version ELSE -x.version END DESC
        LIMIT 1
    ) vv ON true
),
ins AS (
    INSERT INTO pass_event ({", ".join(_EVENT_COLUMNS)}, vehicle_id, vehicle_version_id, received_at)
    SELECT {", ".join("r." + c for c in _EVENT_COLUMNS)}, found.vehicle_id, found.version_id,
           COALESCE(r.received_at, now())
    FROM r CROSS JOIN lock LEFT JOIN found ON found.id = r.id
    ON CONFLICT (tenant_id, id) DO NOTHING
    RETURNING id, occurred_at
),
queued AS ({uplink_outbox.enqueue_from("ins")})
SELECT count(*) FROM ins
"""
)


@dataclass(frozen=True)
class AgentSource:
    """The authenticated sender of events: the tenant, site and agent they are stored under."""

    tenant_id: uuid.UUID
    site_id: uuid.UUID
    agent_id: uuid.UUID


@dataclass(frozen=True)
class VehicleAtPass:
    """The registered vehicle of a pass and its version in force at the pass time."""

    vehicle_id: uuid.UUID
    version_id: uuid.UUID


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None  # a local registry id that is not the cloud's (a file registry): resolve by code/plate


def _code(event: PassEvent) -> str | None:
    if not event.internal_code:
        return None
    return "".join(event.internal_code.split()).upper()[:32] or None


def row_of(source: AgentSource, event: PassEvent, vehicle: VehicleAtPass | None) -> dict[str, Any]:
    """The ``pass_event`` row of an event: every HJ 1321 pass field as a column (same keys for every event).

    ``cloud.compliance.chain`` verifies the stored columns against the payload with the same projection.
    """
    snaps = {s.role: s.sha256 for s in event.evidence.snapshots}
    trigger = event.trigger
    manual = trigger.reason_text or (trigger.reason_code.value if trigger.reason_code else None)
    return {
        "tenant_id": source.tenant_id,
        "id": uuid.UUID(event.event_id),
        "site_id": source.site_id,
        "lane_id": uuid.UUID(event.lane_id),  # 道闸编号 (→ 出入口编号 through the lane's gate)
        "agent_id": source.agent_id,
        "seq": event.seq,
        "direction": event.direction.value,  # 进出厂状态
        "occurred_at": event.occurred_at,  # 进/出厂时间
        "plate": canonical_plate(event.plate or "")[:10],  # 车牌号码
        "plate_colour": event.plate_colour.value if event.plate_colour is not None else "",  # 号牌颜色
        "internal_code": _code(event),  # 登记编码或内部管理号牌 (in-plant vehicles)
        "confidence": event.confidence,
        "vehicle_id": vehicle.vehicle_id if vehicle else None,
        "vehicle_version_id": vehicle.version_id if vehicle else None,
        "decision": event.decision.value,
        "reason_codes": [c[:32] for c in event.reasons],
        "trigger": trigger.kind.value,
        "operator": trigger.operator[:64] if trigger.operator else None,
        "operator_name": trigger.operator_name[:64] if trigger.operator_name else None,
        "manual_reason": manual[:200] if manual else None,
        "manual_photo_sha256": snaps.get(SnapshotRole.RELEASE),
        "release_channel": trigger.channel.value if trigger.channel else None,
        "plate_source": trigger.plate_source.value if trigger.plate_source else None,
        "related_event_id": _uuid(event.related_event_id),
        "emergency_level": (event.emergency_level or "none")[:16],
        "scene_sha256": snaps.get(SnapshotRole.SCENE),  # 进/出厂照片
        "plate_sha256": snaps.get(SnapshotRole.PLATE),
        "cargo_name": event.cargo[:64] if event.cargo else None,  # 运输货物名称
        "anomaly_flags": [a[:32] for a in event.anomalies],
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "payload": msgspec.to_builtins(event),
    }


async def lock_agent(session: AsyncSession | AsyncConnection, agent_id: uuid.UUID) -> None:
    """Take the agent's lock for the rest of the caller's transaction (the one :func:`store_batch` takes)."""
    await session.execute(_LOCK_AGENT, {"agent": str(agent_id)})


async def store_batch(
    session: AsyncSession | AsyncConnection,
    source: AgentSource,
    events: Sequence[PassEvent],
    *,
    received_at: dt.datetime | Sequence[dt.datetime] | None = None,
) -> int:
    """Store sealed events of one agent inside the caller's transaction (idempotent on the ids).

    The caller (the hub) has verified the agent's chain, site and lanes. One statement takes the
    agent's lock, resolves the vehicles, stores the rows and queues the new ones for the regulator;
    returns how many rows were new. ``received_at`` (one time, or one per event) replaces the database
    clock as the receipt time (records restored or imported later, and tests of the checks'
    watermark); by default ``now()``.
    """
    if not events:
        return 0
    rows = [row_of(source, e, None) for e in events]
    for row, event in zip(rows, events, strict=True):
        # The registry id the agent matched (the cloud's vehicle id it pushed) as the first candidate.
        row["vehicle_id"] = _uuid(event.vehicle.registry_id if event.vehicle else None)
    if received_at is not None:
        times = [received_at] * len(rows) if isinstance(received_at, dt.datetime) else list(received_at)
        for row, at in zip(rows, times, strict=True):
            row["received_at"] = at
    params = {"t": source.tenant_id, "agent": str(source.agent_id), "rows": _ROWS_ENCODER.encode(rows).decode()}
    return int((await session.execute(_STORE, params)).scalar_one())


async def stored(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> m.PassEvent | None:
    """The stored row of an event (None when it is not stored or not the session tenant's)."""
    return await session.scalar(
        select(m.PassEvent).where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == event_id)
    )
