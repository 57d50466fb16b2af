"""Pass events for tests, through the product's own write path (issue 15, ADR 0024).

An :class:`AgentChain` makes events the way an agent does (``agent_protocol.events``: UUIDv7 ids,
sequence numbers, the agent's hash chain) and stores them with ``cloud.ledger.passes.store_batch``,
the function the hub's ingest calls: the vehicle and its version at the pass time are resolved, the
uplink is queued, nothing is written by hand.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent_protocol.events import (
    GENESIS_HASH,
    Decision,
    Direction,
    PassEvent,
    Trigger,
    TriggerKind,
    VehicleSnapshot,
    seal_event,
)
from cloud.db import models as m
from cloud.ledger import passes as ledger_passes
from hj1321.plates import PlateColour
from tenants.ids import new_id


@dataclass
class AgentChain:
    """One agent of a site (an in lane and an out lane) whose events form a real chain."""

    tenant_id: uuid.UUID
    site_id: uuid.UUID
    agent_id: uuid.UUID
    lane_in: uuid.UUID
    lane_out: uuid.UUID
    seq: int = 0
    head: str = GENESIS_HASH
    events: list[PassEvent] = field(default_factory=list)

    @property
    def source(self) -> ledger_passes.AgentSource:
        """Who the events are stored under."""
        return ledger_passes.AgentSource(self.tenant_id, self.site_id, self.agent_id)

    def event(self, plate: str, at: dt.datetime, direction: str = "in", **kw: Any) -> PassEvent:
        """The next sealed event of the chain (not stored yet).

        Keywords: ``colour``, ``decision``, ``reasons``, ``trigger`` (a kind or a ``Trigger``), ``cargo``,
        ``registry_id`` (the vehicle the agent's registry named), ``vehicle`` (a ``VehicleSnapshot``), and
        any other ``PassEvent`` field.
        """
        trigger = kw.pop("trigger", "auto")
        registry_id = kw.pop("registry_id", None)
        vehicle = kw.pop("vehicle", None)
        if registry_id is not None and vehicle is None:
            vehicle = VehicleSnapshot(category="transport", registry_id=str(registry_id))
        colour = kw.pop("colour", "yellow")
        draft = PassEvent(
            event_id=str(kw.pop("event_id", new_id())),
            agent_id=str(self.agent_id),
            site_id=str(self.site_id),
            lane_id=str(self.lane_in if direction == "in" else self.lane_out),
            direction=Direction(direction),
            occurred_at=at,
            plate=plate,
            plate_colour=PlateColour(colour) if colour is not None else None,
            confidence=kw.pop("confidence", 0.97),
            decision=Decision(kw.pop("decision", "allow")),
            reasons=tuple(kw.pop("reasons", ())),
            trigger=trigger if isinstance(trigger, Trigger) else Trigger(kind=TriggerKind(trigger)),
            vehicle=vehicle,
            **kw,
        )
        self.seq += 1
        sealed = seal_event(draft, seq=self.seq, prev_hash=self.head)
        self.head = sealed.hash
        self.events.append(sealed)
        return sealed

    async def store(
        self, session: AsyncSession, events: list[PassEvent], received_at: dt.datetime | None = None
    ) -> list[m.PassEvent]:
        """Store events through the ledger inside the caller's transaction; the stored rows, in order."""
        await ledger_passes.store_batch(session, self.source, events, received_at=received_at)
        rows = [await ledger_passes.stored(session, self.tenant_id, uuid.UUID(e.event_id)) for e in events]
        assert all(rows), "an event was not stored (another tenant's session?)"
        return [r for r in rows if r is not None]

    async def record(
        self, session: AsyncSession, plate: str, at: dt.datetime, direction: str = "in", **kw: Any
    ) -> m.PassEvent:
        """Make, seal and store one event; the stored row."""
        (row,) = await self.store(session, [self.event(plate, at, direction, **kw)])
        return row
