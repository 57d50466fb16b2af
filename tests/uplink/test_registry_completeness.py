"""Issue 15: every field a platform family asks for is filled from the registry, and one check per vehicle.

A transport vehicle registered through the vehicle service with every §1.4.2 (a) field; a pass of it
written through the ledger's write path; the real uplink worker sends it to each family's simulator
(infra/regsim). The record the simulator stored carries, for every key of the adapter's
``REGISTRY_FIELDS``, a non-empty value equal to the registry's value at the pass time — Tianjin's engine
model and maker included. A ``/transport/check`` made by the hub's pre-pass service before the pass gives
the serial the record is later stored under, and the platform sees that one check only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from agent_protocol import messages as msg
from cloud.blobs import BlobStore
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import vehicles
from cloud.hub.precheck import PrecheckService
from cloud.uplink.adapters.hengshui import HengshuiAdapter
from cloud.uplink.adapters.tianjin import TianjinAdapter, public_key_of
from cloud.uplink.adapters.transport_control import TransportControlAdapter
from cloud.uplink.worker import UplinkWorker
from infra.regsim import RegulatorSimulator
from infra.regsim.hengshui import HengshuiSimulator
from infra.regsim.tianjin import TianjinSimulator
from infra.regsim.transport_serial import TransportSerialSimulator
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
PRIVATE = secrets.token_hex(32)
PLATE = "鄂A7M416"
#: The registry's truck (REGULATION.md §1.4.2 (a)); codes as stored.
TRUCK: dict[str, Any] = {
    "plate": PLATE,
    "plate_colour": "yellow",
    "plate_type": "01",
    "vin": "LFWSRXSJ1KAD12345",
    "vehicle_type": "Q11",
    "brand_model": "解放牌CA4250P66K24T1E5",
    "register_date": dt.date(2021, 5, 18),
    "engine_model": "CA6DM3-46E65",
    "engine_maker": "一汽解放汽车有限公司无锡柴油机厂",
    "engine_no": "72358011",
    "fuel_type": "B",
    "emission_stage": "6",
    "use_nature": "F",
    "network_status": "connected",
    "env_list_no": "CN6HDFJ0000G6A000123",
    "fleet_name": "顺达物流",
    "owner_name": "武汉顺达物流有限公司",
    "owner_address": "湖北省武汉市江岸区解放大道1号",
    "total_mass_kg": 49000,
    "rated_load_kg": 31000,
}
ADAPTERS: dict[str, Any] = {
    "transport_control": TransportControlAdapter,
    "tianjin": TianjinAdapter,
    "hengshui": HengshuiAdapter,
}


def _simulator(profile: str) -> Any:
    if profile == "tianjin":
        return TianjinSimulator(public_key_of(PRIVATE))
    if profile == "hengshui":
        return HengshuiSimulator()
    if profile == "transport_serial":
        return TransportSerialSimulator()
    return RegulatorSimulator()


def _expected(field: str) -> str:
    value = TRUCK[field]
    return value.isoformat() if isinstance(value, dt.date) else str(value)


async def _register(database: Database, tenant_id: uuid.UUID) -> None:
    admin = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="setup")
    async with database.session(admin) as session, session.begin():
        await vehicles.create_vehicle(session, admin, "transport", TRUCK, "登记")


async def _send_until(database: Database, tenant_id: uuid.UUID, blobs: BlobStore, held: Any) -> None:
    """Run the uplink worker until ``held()`` (the simulator holds the record), at most ~10 s."""
    sender = UplinkWorker(database, blobs, batch=10, concurrency=2)
    try:
        for _ in range(100):
            await sender.run_tenant(tenant_id)
            if held():
                return
            await asyncio.sleep(0.1)
    finally:
        await sender.close()


@pytest.mark.parametrize("profile", ["transport_control", "tianjin", "hengshui"])
async def test_every_registry_field_reaches_the_platform(
    profile, database, make_tenant, seed_passes, connect_platform, tmp_path
) -> None:
    sim = _simulator(profile)
    await sim.start()
    try:
        tenant = await make_tenant()
        await connect_platform(tenant.tenant_id, sim, profile=profile, credentials={"prksm2": PRIVATE})
        await _register(database, tenant.tenant_id)
        now = dt.datetime.now(dt.UTC)
        ledger = await seed_passes(tenant.tenant_id, [{"plate": PLATE, "occurred_at": now, "direction": "in"}])
        serial = ledger.pass_ids[0].hex
        await _send_until(database, tenant.tenant_id, BlobStore(tmp_path), lambda: serial in sim.records)
        stored = sim.records[serial]
    finally:
        await sim.stop()
    fields = ADAPTERS[profile].REGISTRY_FIELDS
    assert fields, profile
    missing = {key: stored.get(key) for key, field in fields.items() if stored.get(key) != _expected(field)}
    assert not missing, f"{profile}: fields not equal to the registry: {missing}"
    if profile == "tianjin":
        assert stored["engineModel"] == "CA6DM3-46E65"
        assert stored["engineMaker"] == "一汽解放汽车有限公司无锡柴油机厂"


async def test_the_pre_pass_check_serial_is_the_record_serial(
    database, make_tenant, seed_passes, connect_platform, tmp_path
) -> None:
    sim = TransportSerialSimulator()
    await sim.start()
    service = PrecheckService()
    try:
        tenant = await make_tenant()
        await connect_platform(tenant.tenant_id, sim, profile="transport_serial")
        await _register(database, tenant.tenant_id)
        now = dt.datetime.now(dt.UTC)
        ledger = await seed_passes(tenant.tenant_id, [{"plate": PLATE, "occurred_at": now, "direction": "in"}])
        agent = Principal(user_id=uuid.uuid4(), role=Role.GUARD, tenant_id=tenant.tenant_id, login="agent-test")
        answer = await service.answer(
            database,
            agent,
            ledger.site_id,
            msg.PrecheckRequest(
                request_id=uuid.uuid4().hex,
                lane_id=str(ledger.lane_in),
                plate=PLATE,
                plate_colour="yellow",
                budget_ms=2000,
            ),
        )
        assert answer.verdict == "allow"
        assert answer.platform_serial
        assert service.counts["serial_stored"] == 1
        checks_before = sim.state.requests["check"]
        await _send_until(
            database, tenant.tenant_id, BlobStore(tmp_path), lambda: answer.platform_serial in sim.records
        )
        assert sim.state.requests["check"] == checks_before == 1, "the platform saw a second check"
        assert answer.platform_serial in sim.records
        assert sim.records[answer.platform_serial]["license"] == PLATE
        async with database.session(agent) as session:
            stored = await session.scalar(
                select(m.UplinkOutbox.platform_serial).where(m.UplinkOutbox.id == ledger.pass_ids[0])
            )
        assert stored == answer.platform_serial
    finally:
        await service.close()
        await sim.stop()
