"""The regulator pre-pass check through the cloud (issues 4 and 8), end to end.

A real agent runtime (spool reads, decision engine, virtual barrier, outbox) connects over TCP to a real
cloud process, whose hub asks the platform simulator (transportControl ``getCheckVehicle``) on loopback.
The platform refusing keeps the barrier closed with the platform's reason; a slow platform, a platform
that is down and an agent without a cloud all end in the local decision, flagged in the pass event.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent.runtime.pipeline import LaneEvent
from agent.sync.enroll import Credential, save_credential
from agent_protocol.events import Decision
from cloud.db.engine import Database
from cloud.uplink import platforms
from infra.regsim import RegulatorSimulator
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio


async def _until(predicate: Callable[[], bool], limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _agent(site: Any, data: Path, spool: Path, hub_url: str, tenant_id: uuid.UUID) -> Agent:
    save_credential(
        data,
        Credential(
            agent_id=str(site.agent_id),
            tenant_id=str(tenant_id),
            site_id=str(site.site_id),
            token=site.token,
            hub_url=hub_url,
        ),
    )
    spool.write_text("", encoding="utf-8")
    cfg = parse_config(
        {
            "agent": {"id": str(site.agent_id), "data_dir": str(data)},
            "site": {"id": str(site.site_id), "name": "一厂区"},
            "booth": {"enabled": False},
            "devices": {"barriers": [{"type": "virtual", "name": "east-barrier"}]},
            "lanes": [
                {
                    "id": str(site.lane_in),
                    "name": "东门入口",
                    "direction": "in",
                    "barrier": "east-barrier",
                    "source": {"type": "spool", "path": str(spool), "poll_s": 0.02},
                }
            ],
            # Unknown vehicles are let in locally: only the platform can refuse here.
            "policy": {"unknown_vehicle": "allow_flag", "precheck_timeout_s": 1.0},
            "cloud": {"heartbeat_s": 1.0, "precheck": True},
        }
    )
    return Agent(cfg)


class _Lane:
    """Feed reads to the lane and wait for the pass each one makes."""

    def __init__(self, agent: Agent, spool: Path) -> None:
        self.spool = spool
        self.seen: list[LaneEvent] = []
        agent.lane_listeners.append(self.seen.append)
        self.count = 0

    async def pass_of(self, plate: str) -> tuple[LaneEvent, float]:
        """Write one read; the lane's event and the seconds from the read to the decision."""
        self.count += 1
        before = len(self.seen)
        line = {"read_id": f"r{self.count}-{uuid.uuid4().hex[:6]}", "plate": plate, "colour": "yellow"}
        started = time.monotonic()
        with self.spool.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        await _until(lambda: len(self.seen) > before)
        return self.seen[before], time.monotonic() - started


async def _configure(database: Database, tenant_id: uuid.UUID, sim: RegulatorSimulator) -> None:
    actor = Principal(user_id=uuid.UUID(int=4), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="setup")
    async with database.session(actor) as session, session.begin():
        row = await platforms.configure(
            session,
            tenant_id,
            profile="transport_control",
            base_url=sim.url,
            enterprise_code="410100000001",
            enterprise_name="测试企业",
            credentials={"username": "ecogate", "password": "EcoGate@2026"},
        )
        row.timeout_s = 5.0


async def test_platform_answers_slow_and_down(
    cloud_process: Any,
    make_tenant: Callable[[], Awaitable[Any]],
    make_site: Callable[[uuid.UUID], Awaitable[Any]],
    database: Database,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    async with RegulatorSimulator() as sim:
        await _configure(database, tenant.tenant_id, sim)
        await asyncio.to_thread(cloud_process.start)
        agent = _agent(site, tmp_path / "agent", tmp_path / "reads.jsonl", cloud_process.url, tenant.tenant_id)
        lane = _Lane(agent, tmp_path / "reads.jsonl")
        task = asyncio.create_task(agent.run(install_signals=False))
        try:
            await _until(lambda: agent.online())  # noqa: PLW0108 - the sync worker replaces agent.online
            barrier: Any = agent.devices["east-barrier"]

            # The platform allows: the barrier opens and the ledger shows the platform was asked.
            allowed, _ = await lane.pass_of("豫A12345")
            assert allowed.event is not None
            assert allowed.event.decision is Decision.ALLOW
            assert allowed.barrier_opened
            assert "regulator_allowed" in allowed.event.anomalies
            assert sim.state.requests["getCheckVehicle"] == 1

            # The platform refuses (a controlled vehicle): the barrier stays closed, with its reason.
            opened_before = barrier.opened
            refused, _ = await lane.pass_of("豫A1234X")
            assert refused.event is not None
            assert refused.event.decision is Decision.REFUSE
            assert "regulator_refused" in refused.event.reasons
            assert "超标排放车辆" in refused.event.message
            assert not refused.barrier_opened
            assert barrier.opened == opened_before

            # The platform is slow: the local decision is taken before the platform could have answered.
            sim.faults.check_delay_s = 6.0
            slow, waited = await lane.pass_of("豫A23456")
            assert slow.event is not None
            assert slow.event.decision is Decision.ALLOW
            assert slow.barrier_opened
            assert {"regulator_timeout", "regulator_unavailable"} & set(slow.event.anomalies)
            assert waited < sim.faults.check_delay_s
            sim.faults.check_delay_s = 0.0

            # The platform is down: connection refused, local decision at once.
            await sim.set_down(True)
            down, _ = await lane.pass_of("豫A34567")
            assert down.event is not None
            assert down.event.decision is Decision.ALLOW
            assert "regulator_unavailable" in down.event.anomalies
            await sim.set_down(False)

            # A refused vehicle with the platform down is decided locally (here: let in, flagged).
            sim.faults.check_error = True
            failed, _ = await lane.pass_of("豫A4567X")
            assert failed.event is not None
            assert failed.event.decision is Decision.ALLOW
            assert "regulator_unavailable" in failed.event.anomalies
        finally:
            agent.supervisor.request_stop()
            await asyncio.wait_for(task, 20)
            await asyncio.sleep(0)


async def test_offline_agent_decides_at_once(
    make_tenant: Callable[[], Awaitable[Any]],
    make_site: Callable[[uuid.UUID], Awaitable[Any]],
    tmp_path: Path,
) -> None:
    """No cloud to reach: the pre-pass check answers "unavailable" without waiting for the timeout."""
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    agent = _agent(site, tmp_path / "agent", tmp_path / "reads.jsonl", "ws://127.0.0.1:9/agent/ws", tenant.tenant_id)
    lane = _Lane(agent, tmp_path / "reads.jsonl")
    task = asyncio.create_task(agent.run(install_signals=False))
    try:
        await _until(lambda: agent.engine is not None and agent.engine.regulator_check is not None)
        event, _ = await lane.pass_of("豫A1234X")  # the platform would refuse it; nobody can ask
        assert event.event is not None
        assert event.event.decision is Decision.ALLOW
        assert event.barrier_opened
        assert "regulator_unavailable" in event.event.anomalies
        assert "regulator_timeout" not in event.event.anomalies  # answered at once, not after 1 s
    finally:
        agent.supervisor.request_stop()
        await asyncio.wait_for(task, 20)
