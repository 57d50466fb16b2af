"""The hub's pre-pass check service against the platform simulators (issues 4 and 8).

Real PostgreSQL (the tenant's platform row, credentials encrypted, under RLS as the agent's principal)
and real simulators on loopback: transportControl ``getCheckVehicle`` and ``/transport/check`` answer
allow/refuse (with the platform serial), the adapter and its token are reused across requests, and every
way a check cannot be made — no platform, a profile without a check, a slow or failing platform, a lane
of another site, an unknown plate colour — answers ``unavailable`` instead of an error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent_protocol import messages as msg
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub.precheck import PrecheckService
from cloud.uplink import platforms
from infra.regsim import RegulatorSimulator
from infra.regsim.transport_serial import TransportSerialSimulator
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio


async def _site(database: Database, tenant_id: uuid.UUID) -> tuple[Principal, uuid.UUID, uuid.UUID]:
    """A site with one gate ``G01`` and an entry lane; the principal an agent of the tenant acts as."""
    admin = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="setup")
    async with database.session(admin) as session, session.begin():
        site = m.Site(tenant_id=tenant_id, name="一厂区", address="")
        session.add(site)
        await session.flush()
        gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code="G01", name="东门")
        session.add(gate)
        await session.flush()
        lane = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="IN1", name="入口", direction="in")
        session.add(lane)
        await session.flush()
        ids = (site.id, lane.id)
    agent = Principal(user_id=uuid.uuid4(), role=Role.GUARD, tenant_id=tenant_id, login="agent-test")
    return agent, ids[0], ids[1]


def _req(
    lane_id: uuid.UUID, plate: str, *, colour: str | None = "yellow", budget_ms: int = 1000
) -> msg.PrecheckRequest:
    return msg.PrecheckRequest(
        request_id=uuid.uuid4().hex, lane_id=str(lane_id), plate=plate, plate_colour=colour, budget_ms=budget_ms
    )


async def test_transport_control_allow_refuse_and_token_reuse(
    database: Database,
    make_tenant: Callable[[], Awaitable[Any]],
    connect_platform: Callable[..., Awaitable[None]],
    regsim: RegulatorSimulator,
) -> None:
    tenant = await make_tenant()
    agent, site_id, lane_id = await _site(database, tenant.tenant_id)
    await connect_platform(tenant.tenant_id, regsim)
    service = PrecheckService()
    try:
        allowed = await service.answer(database, agent, site_id, _req(lane_id, "豫A12345"))
        assert allowed.verdict == "allow"
        refused = await service.answer(database, agent, site_id, _req(lane_id, "豫A1234X"))
        assert refused.verdict == "refuse"
        assert refused.reason == "超标排放车辆"
        # One token for both checks (the adapter is cached per tenant), and the gate code from the lane.
        assert regsim.state.requests["getAccessToken"] == 1
        assert regsim.state.requests["getCheckVehicle"] == 2
        assert service.counts["allow"] == 1
        assert service.counts["refuse"] == 1

        # A lane of another site (or not a lane at all) is not checked.
        stranger = await service.answer(database, agent, site_id, _req(uuid.uuid4(), "豫A12345"))
        assert stranger.verdict == "unavailable"
        unknown_colour = await service.answer(database, agent, site_id, _req(lane_id, "豫A12345", colour=None))
        assert unknown_colour.verdict == "unavailable"
        assert regsim.state.requests["getCheckVehicle"] == 2

        # Slow: answered "unavailable" within the agent's budget, not after the platform's delay.
        regsim.faults.check_delay_s = 3.0
        started = time.monotonic()
        slow = await service.answer(database, agent, site_id, _req(lane_id, "豫A12345", budget_ms=500))
        waited = time.monotonic() - started
        assert slow.verdict == "unavailable"
        assert "超时" in slow.reason
        assert waited < regsim.faults.check_delay_s
        regsim.faults.check_delay_s = 0.0

        # Failing (503) and down (connection refused): "unavailable" with the reason.
        regsim.faults.check_error = True
        failed = await service.answer(database, agent, site_id, _req(lane_id, "豫A1234X"))
        assert failed.verdict == "unavailable"
        assert "失败" in failed.reason
        regsim.faults.check_error = False
        await regsim.set_down(True)
        down = await service.answer(database, agent, site_id, _req(lane_id, "豫A1234X"))
        assert down.verdict == "unavailable"
        await regsim.set_down(False)
        again = await service.answer(database, agent, site_id, _req(lane_id, "豫A1234X"))
        assert again.verdict == "refuse"
    finally:
        await service.close()


async def test_transport_serial_check_issues_a_serial(
    database: Database,
    make_tenant: Callable[[], Awaitable[Any]],
    connect_platform: Callable[..., Awaitable[None]],
) -> None:
    tenant = await make_tenant()
    agent, site_id, lane_id = await _site(database, tenant.tenant_id)
    async with TransportSerialSimulator() as sim:
        await connect_platform(tenant.tenant_id, sim, profile="transport_serial")
        service = PrecheckService()
        try:
            refused = await service.answer(database, agent, site_id, _req(lane_id, "豫B5678X"))
            assert refused.verdict == "refuse"
            assert refused.reason == "超标排放车辆"
            assert refused.platform_serial is not None
            assert refused.platform_serial in sim.state.issued
            allowed = await service.answer(database, agent, site_id, _req(lane_id, "豫B56789"))
            assert allowed.verdict == "allow"
            assert sim.state.requests["login"] == 1
        finally:
            await service.close()


async def test_no_platform_or_no_check_is_unavailable(
    database: Database,
    make_tenant: Callable[[], Awaitable[Any]],
) -> None:
    tenant = await make_tenant()
    agent, site_id, lane_id = await _site(database, tenant.tenant_id)
    service = PrecheckService(config_ttl_s=0.0)  # read the platform row on every request
    try:
        none = await service.answer(database, agent, site_id, _req(lane_id, "豫A12345"))
        assert none.verdict == "unavailable"
        assert "未配置" in none.reason
        # Hengshui's profile has no pre-pass check (REGULATION.md §2.2): nothing is sent anywhere.
        actor = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="setup")
        async with database.session(actor) as session, session.begin():
            await platforms.configure(
                session,
                tenant.tenant_id,
                profile="hengshui",
                base_url="tcp://127.0.0.1:9",
                enterprise_code="131100000001",
                credentials={"username": "u", "password": "p"},
            )
        no_check = await service.answer(database, agent, site_id, _req(lane_id, "豫A12345"))
        assert no_check.verdict == "unavailable"
        assert "无预检接口" in no_check.reason
        assert service.counts["unavailable"] == 2
    finally:
        await service.close()
