"""Commands through the agent runtime (issue 5): ``[cloud]`` section, supervised sync worker, Agent.online.

A real agent runtime (outbox, decision engine, virtual barrier) with an enrollment credential in its data
folder connects to a real cloud process. A ``reload_config`` issued while the agent was offline is
delivered at hello from the command log; a remote ``open_barrier`` becomes a manual-release pass event
that reaches the cloud ledger; an emergency level reaches the engine; an expired command is not sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent.sync.enroll import Credential, save_credential
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub import commands
from hj1321.grading import WarningLevel

pytestmark = pytest.mark.anyio


async def _until(predicate: Any, limit_s: float = 15.0) -> None:
    deadline = time.monotonic() + limit_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_runtime_sync_worker_applies_commands(
    cloud_process: Any, make_tenant: Any, make_site: Any, database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    data = tmp_path / "agent"
    save_credential(
        data,
        Credential(
            agent_id=str(site.agent_id),
            tenant_id=str(tenant.tenant_id),
            site_id=str(site.site_id),
            token=site.token,
            hub_url=cloud_process.url,
        ),
    )
    spool = tmp_path / "reads.jsonl"
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
                    "source": {"type": "spool", "path": str(spool)},
                }
            ],
            "cloud": {"heartbeat_s": 1.0},
        }
    )
    # Issued while the agent is offline: one still valid, one already expired.
    async with database.session(site.principal) as session, session.begin():
        pending = await commands.issue_command(session, tenant.tenant_id, "reload_config", {}, [site.agent_id], None)
        expired = await commands.issue_command(
            session,
            tenant.tenant_id,
            "open_barrier",
            {"lane_id": str(site.lane_in), "reason": "过期"},
            None,
            None,
            ttl=-dt.timedelta(seconds=1),
        )
    await asyncio.to_thread(cloud_process.start)
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))

    async def result_of(command_id: Any) -> m.AgentCommandResult | None:
        async with database.session(site.principal) as session, session.begin():
            return await session.scalar(
                select(m.AgentCommandResult).where(m.AgentCommandResult.command_id == command_id)
            )

    try:

        async def online() -> bool:
            return agent.online()

        await _until(online)
        await _until(lambda: result_of(pending))
        answered = await result_of(pending)
        assert answered is not None
        assert answered.ok is False  # the runtime does not reload in place; the answer says so
        assert await result_of(expired) is None

        async with database.session(site.principal) as session, session.begin():
            # Issue 15: the release is filed under the portal user who asked, never "云端远程".
            args = {"lane_id": str(site.lane_in), "reason": "远程开闸：救护车", "operator": "zhang.jl"}
            opened = await commands.issue_command(
                session,
                tenant.tenant_id,
                "open_barrier",
                {**args, "operator_name": "张经理", "plate": "鄂A7M416"},
                [site.agent_id],
                None,
            )
            await commands.issue_command(
                session,
                tenant.tenant_id,
                "set_emergency_level",
                {"level": "orange", "starts_at": None, "ends_at": "2099-01-01T00:00:00+00:00"},
                None,
                None,
            )
        await _until(lambda: result_of(opened))
        done = await result_of(opened)
        assert done is not None
        assert done.ok, done.message

        async def in_ledger() -> bool:
            async with database.session(site.principal) as session, session.begin():
                return (
                    await session.scalar(select(m.PassEvent.id).where(m.PassEvent.trigger == "manual_release"))
                ) is not None

        await _until(in_ledger)
        async with database.session(site.principal) as session, session.begin():
            row = await session.scalar(select(m.PassEvent).where(m.PassEvent.trigger == "manual_release"))
        assert row is not None
        assert (row.operator, row.plate) == ("zhang.jl", "鄂A7M416")
        trigger = row.payload["trigger"]
        assert isinstance(trigger, dict)
        assert (trigger["operator_name"], trigger["channel"], trigger["plate_source"]) == ("张经理", "remote", "typed")
        assert "张经理" in str(row.payload["message"])
        assert agent.engine is not None
        assert agent.engine.level is WarningLevel.ORANGE
    finally:
        agent.supervisor.request_stop()
        await asyncio.wait_for(task, 20)
    assert agent.online() is False


async def test_listener_reconnects_and_resends_pending_commands(
    cloud_process: Any,
    make_tenant: Any,
    make_site: Any,
    database: Database,
    admin_url: str,
    db_urls: Any,
    tmp_path: Path,
) -> None:
    """The cloud's LISTEN connection is killed (as by a PostgreSQL failover); a command issued meanwhile
    still reaches the connected agent: the bus reconnects and resends the pending commands."""
    import asyncpg  # noqa: PLC0415

    from agent.outbox import Outbox  # noqa: PLC0415
    from agent.sync import SyncClient  # noqa: PLC0415
    from agent.sync.commands import CommandHandler  # noqa: PLC0415

    tenant = await make_tenant()
    site = await make_site(tenant.tenant_id)
    await asyncio.to_thread(cloud_process.start)
    reloads: list[float] = []

    async def reload() -> str:
        reloads.append(time.monotonic())
        return "已重载"

    handler = CommandHandler(tmp_path / "state", reload_config=reload)
    box = Outbox(tmp_path / "outbox", agent_id=str(site.agent_id))
    sync = SyncClient(cloud_process.url, site.token, box, heartbeat_s=0.5, poll_s=0.05, commands=handler)
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    admin = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:

        async def connected() -> bool:
            return sync.connected

        await _until(connected)

        async def hello_synced() -> bool:  # the hello sync (level in force, pending commands) is done
            return any(k.startswith("state:") for k in handler._seen)

        await _until(hello_synced)
        database_name = db_urls.app_url.rsplit("/", 1)[1].split("?")[0]
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND datname = $1 AND pid <> pg_backend_pid()",
            database_name,
        )
        assert killed >= 1
        async with database.session(site.principal) as session, session.begin():
            command_id = await commands.issue_command(
                session, tenant.tenant_id, "reload_config", {}, [site.agent_id], None
            )

        async def answered() -> bool:
            async with database.session(site.principal) as session, session.begin():
                found = await session.scalar(
                    select(m.AgentCommandResult.ok).where(m.AgentCommandResult.command_id == command_id)
                )
            return found is True

        await _until(answered, 20)
        assert len(reloads) == 1  # delivered once even if both the NOTIFY and the resend got through

        async def reconnected() -> bool:
            return "reconnect=True" in cloud_process.log_path.read_text(errors="replace")

        await _until(reconnected, 20)
    finally:
        await admin.close()
        stop.set()
        await asyncio.wait_for(task, 10)
        box.close()
