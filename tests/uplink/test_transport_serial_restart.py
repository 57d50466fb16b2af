"""``/transport/*``: a worker restart between the pass record and the cargo keeps the platform's serial.

The platform issues the serial in ``check``; the pass record is taken, the cargo call fails, the worker
stops (its in-memory serial map is gone). The simulator here ignores our ``clientSerial`` (a platform
that issues a fresh serial on every ``check``), so only the serial stored on the outbox row can make
the new worker send the cargo against the right record — and it must not call ``check`` again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from agent_protocol.events import WeighingLink
from cloud.blobs import BlobStore
from cloud.uplink.worker import UplinkWorker
from infra.regsim.transport_serial import TransportSerialSimulator
from tenants.context import Principal, Role
from tenants.ids import new_id

pytestmark = pytest.mark.anyio


@pytest.fixture(name="serial_sim")
async def fx_serial_sim() -> AsyncIterator[TransportSerialSimulator]:
    async with TransportSerialSimulator() as sim:
        sim.faults.timeout_s = 2.0
        yield sim


async def test_cargo_after_worker_restart_uses_the_stored_platform_serial(
    database, make_tenant, seed_passes, serial_sim, connect_platform, tmp_path
) -> None:
    serial_sim.honour_client_serial = False
    serial_sim.cargo_down = True
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, serial_sim, profile="transport_serial")
    ledger = await seed_passes(tenant.tenant_id, [])
    actor = Principal(user_id=uuid.UUID(int=6), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="seed")
    async with database.session(actor) as session, session.begin():
        event = await ledger.chain.record(
            session,
            "鄂A12345",
            dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC),
            "out",
            confidence=0.98,
            cargo="煤炭",
            weighing=WeighingLink(weighing_id=str(new_id()), net_kg=31250),
        )

    first = UplinkWorker(database, BlobStore(tmp_path))
    try:
        assert await first.run_tenant(tenant.tenant_id) == 1
    finally:
        await first.close()  # the worker stops: its in-memory serial map is gone
    assert len(serial_sim.state.issued) == 1
    (issued,) = serial_sim.state.issued
    assert issued in serial_sim.records  # the pass record is held ...
    assert issued not in serial_sim.state.cargo  # ... its cargo is not
    async with database.session(actor) as session, session.begin():
        row = (
            await session.execute(
                text("SELECT state, platform_serial FROM uplink_outbox WHERE id = :id"), {"id": event.id}
            )
        ).one()
    assert (row.state, row.platform_serial) == ("pending", issued)

    serial_sim.cargo_down = False
    async with database.session(actor) as session, session.begin():
        await session.execute(text("UPDATE uplink_outbox SET next_attempt_at = now() WHERE id = :id"), {"id": event.id})
    second = UplinkWorker(database, BlobStore(tmp_path))  # a fresh process
    try:
        assert await second.run_tenant(tenant.tenant_id) == 1
    finally:
        await second.close()
    assert list(serial_sim.state.issued) == [issued]  # no second check, no second serial
    assert serial_sim.state.requests["check"] == 1
    assert serial_sim.state.cargo[issued]["cargoWeight"] == "31.250"
    assert len(serial_sim.records) == 1
    async with database.session(actor) as session, session.begin():
        state = await session.scalar(text("SELECT state FROM uplink_outbox WHERE id = :id"), {"id": event.id})
    assert state == "delivered"
