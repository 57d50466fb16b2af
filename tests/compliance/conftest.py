"""Compliance test fixtures: the cloud fixtures, a site with a real agent chain, owner-level SQL tampering."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agent_protocol.events import (
    GENESIS_HASH,
    Decision,
    Direction,
    PassEvent,
    Trigger,
    TriggerKind,
    WeighingLink,
    seal_event,
)
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.ledger import passes as ledger_passes
from hj1321.identifiers import vin_check_digit
from hj1321.plates import PlateColour
from tenants.context import Principal, Role
from tenants.ids import new_id

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_compliance_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
fx_login_as = _cloud.fx_login_as
fx_superuser_url = _cloud.fx_superuser_url
PASSWORD = _cloud.PASSWORD

T0 = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)  # 08:00 China time


def make_vin(serial: int) -> str:
    """A VIN with a correct check digit."""
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


def admin(tenant_id: uuid.UUID, user: int = 7) -> Principal:
    """A tenant administrator principal (user ids are arbitrary)."""
    return Principal(user_id=uuid.UUID(int=user), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login=f"admin{user}")


@dataclass
class Plant:
    """A site with one gate (in and out lanes) and one agent whose events form a real chain."""

    database: Database
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    lane_in: uuid.UUID
    lane_out: uuid.UUID
    agent_id: uuid.UUID
    seq: int = 0
    head: str = GENESIS_HASH
    events: list[PassEvent] = field(default_factory=list)

    def event(self, plate: str, at: dt.datetime, direction: str = "in", **kw: Any) -> PassEvent:
        """A sealed next event of the chain (not stored yet)."""
        draft = PassEvent(
            event_id=str(new_id()),
            agent_id=str(self.agent_id),
            site_id=str(self.site_id),
            lane_id=str(self.lane_in if direction == "in" else self.lane_out),
            direction=Direction(direction),
            occurred_at=at,
            plate=plate,
            plate_colour=PlateColour(kw.pop("colour", "yellow")),
            confidence=0.97,
            decision=Decision(kw.pop("decision", "allow")),
            reasons=tuple(kw.pop("reasons", ("allowed",))),
            trigger=Trigger(kind=TriggerKind(kw.pop("trigger", "auto"))),
            cargo=kw.pop("cargo", None),
            weighing=kw.pop("weighing", None),
            anomalies=tuple(kw.pop("anomalies", ())),
            internal_code=kw.pop("internal_code", None),
            **kw,
        )
        self.seq += 1
        sealed = seal_event(draft, seq=self.seq, prev_hash=self.head)
        self.head = sealed.hash
        self.events.append(sealed)
        return sealed

    async def store(self, events: list[PassEvent], received_at: dt.datetime | None = None) -> list[uuid.UUID]:
        """Store events through the ledger, as the hub's ingest does (cloud.ledger.passes)."""
        source = ledger_passes.AgentSource(self.tenant_id, self.site_id, self.agent_id)
        async with self.database.session(admin(self.tenant_id)) as session, session.begin():
            await ledger_passes.store_batch(session, source, events, received_at=received_at)
        return [uuid.UUID(e.event_id) for e in events]

    async def passes(
        self, *specs: tuple[Any, ...], received_at: dt.datetime | None = None, **common: Any
    ) -> list[uuid.UUID]:
        """Seal and store passes given as ``(plate, at, direction, {extra})`` tuples."""
        events = []
        for spec in specs:
            extra = dict(spec[3]) if len(spec) > 3 else {}
            events.append(self.event(spec[0], spec[1], spec[2] if len(spec) > 2 else "in", **{**common, **extra}))
        return await self.store(events, received_at)


@pytest.fixture(name="make_plant")
def fx_make_plant(database: Database) -> Callable[[uuid.UUID], Awaitable[Plant]]:
    """Factory: site, gate, in/out lanes and an active agent for a tenant."""

    async def make(tenant_id: uuid.UUID) -> Plant:
        async with database.session(admin(tenant_id)) as session, session.begin():
            site = m.Site(tenant_id=tenant_id, name="一号厂区", address="")
            session.add(site)
            await session.flush()
            gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code="G1", name="东门")
            agent = m.Agent(tenant_id=tenant_id, site_id=site.id, name="agent-1", status="active", health={})
            session.add_all([gate, agent])
            await session.flush()
            lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L1", name="入口", direction="in")
            lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L2", name="出口", direction="out")
            session.add_all([lane_in, lane_out])
            await session.flush()
            return Plant(database, tenant_id, site.id, lane_in.id, lane_out.id, agent.id)

    return make


@pytest.fixture(name="owner_sql")
async def fx_owner_sql(db_urls: Any) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Run SQL as the table owner, the way an insider would tamper: lift FORCE RLS, change rows, restore it."""
    conn = await asyncpg.connect(db_urls.owner_url.replace("postgresql+asyncpg://", "postgresql://"))

    async def run(tables: str, sql: str, *args: Any, fetch: bool = False) -> Any:
        async with conn.transaction():
            for table in tables.split(","):
                await conn.execute(f"ALTER TABLE {table.strip()} NO FORCE ROW LEVEL SECURITY")
            result = await (conn.fetch(sql, *args) if fetch else conn.execute(sql, *args))
            for table in tables.split(","):
                await conn.execute(f"ALTER TABLE {table.strip()} FORCE ROW LEVEL SECURITY")
        return result

    yield run
    await conn.close()


__all__ = ["T0", "Plant", "WeighingLink", "admin", "make_vin"]
