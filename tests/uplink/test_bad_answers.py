"""Bad input from platforms, through the worker, for every profile: nothing lost, nothing marked delivered.

A platform answering malformed JSON, an HTML error page, a 5xx, or an answer of an unexpected shape
(an unknown code, no code, a JSON array, a 404 page; Hengshui: an unknown code, an ack without code, a
line that is not an ack, a JSON array) leaves the record pending with the answer in its attempt log;
once the platform answers properly again it is delivered, and held exactly once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from cloud.blobs import BlobStore
from cloud.uplink import outbox
from cloud.uplink.adapters.tianjin import public_key_of
from cloud.uplink.worker import UplinkWorker
from infra.regsim.app import RegulatorSimulator
from infra.regsim.hengshui import HengshuiSimulator
from infra.regsim.tianjin import TianjinSimulator
from infra.regsim.transport_serial import TransportSerialSimulator
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
PRIVATE = secrets.token_hex(32)
PROFILES = ["transport_control", "transport_serial", "tianjin", "hengshui"]
FAULTS = ["malformed_rate", "html_rate", "error_rate", "odd_rate"]


def _simulator(profile: str) -> Any:
    return {
        "transport_control": RegulatorSimulator,
        "transport_serial": TransportSerialSimulator,
        "tianjin": lambda: TianjinSimulator(public_key_of(PRIVATE)),
        "hengshui": HengshuiSimulator,
    }[profile]()


def _holds(profile: str, sim: Any, serial: str) -> bool:
    if profile == "transport_serial":
        return sim.client_record(serial) is not None
    return serial in sim.records


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("profile", PROFILES)
async def test_bad_answers_never_lose_or_deliver_a_record(
    profile, fault, database, make_tenant, seed_passes, connect_platform, tmp_path
) -> None:
    sim = _simulator(profile)
    await sim.start()
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, sim, profile=profile, timeout_s=0.5, credentials={"prksm2": PRIVATE})
    start = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)
    ledger = await seed_passes(
        tenant.tenant_id,
        [{"plate": "鄂A50001", "occurred_at": start}, {"plate": "鄂A50002", "occurred_at": start + dt.timedelta(1)}],
    )
    good, bad = (pid.hex for pid in ledger.pass_ids)
    actor = Principal(user_id=uuid.UUID(int=8), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    sender = UplinkWorker(database, BlobStore(tmp_path), batch=1)
    try:
        assert await sender.run_tenant(tenant.tenant_id) == 1  # the first, while the platform is healthy
        assert _holds(profile, sim, good)
        setattr(sim.faults, fault, 1.0)
        tries = 6 if fault == "odd_rate" else 3  # the odd answers vary: several tries see several
        for _ in range(tries):
            assert await sender.run_tenant(tenant.tenant_id) == 1
            async with database.session(actor) as session, session.begin():
                await session.execute(text("UPDATE uplink_outbox SET next_attempt_at = now() WHERE state = 'pending'"))
        async with database.session(actor) as session, session.begin():
            row = (
                await session.execute(
                    text("SELECT state, attempts, delivered_at FROM uplink_outbox WHERE id = :id"),
                    {"id": uuid.UUID(bad)},
                )
            ).one()
            outcomes = list(
                await session.scalars(
                    text(f"SELECT outcome FROM {outbox.ATTEMPTS} a WHERE outbox_id = :id"), {"id": uuid.UUID(bad)}
                )
            )
        assert (row.state, row.attempts, row.delivered_at) == ("pending", tries, None)
        assert outcomes == ["retry"] * tries
        assert not _holds(profile, sim, bad)

        setattr(sim.faults, fault, 0.0)
        assert await sender.run_tenant(tenant.tenant_id) == 1
    finally:
        await sender.close()
        await sim.stop()
    assert _holds(profile, sim, bad)
    assert len(sim.records) == 2
    async with database.session(actor) as session, session.begin():
        states = list(await session.scalars(text("SELECT state FROM uplink_outbox")))
    assert states == ["delivered", "delivered"]
