"""``ecogate uplink run --processes 2``: two worker processes share a tenant's outbox and stop on SIGTERM (issue 20).

The command is run as deployed (``python -m ecogate_cli``) against the test database and the simulator: every
record is delivered exactly once between the two processes, and SIGTERM to the parent stops both children.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from cloud.uplink import outbox
from tenants.context import Principal, Role

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # three processes start the cloud code: ~10–20 s
ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


async def test_run_with_two_processes_delivers_each_record_once_and_stops(
    database: Any, db_urls: Any, make_tenant: Any, seed_passes: Any, regsim: Any, connect_platform: Any, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=10)
    ledger = await seed_passes(
        tenant.tenant_id, [{"plate": f"鄂A8{i:04d}", "occurred_at": START + dt.timedelta(minutes=i)} for i in range(12)]
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_APP_URL": db_urls.app_url,
        "DATABASE_OWNER_URL": db_urls.owner_url,
        "DATABASE_REGULATOR_URL": db_urls.regulator_url,
        "ECOGATE_ENV": "development",
        "ECOGATE_BLOB_ROOT": str(tmp_path / "blobs"),
    }
    command = [sys.executable, "-m", "ecogate_cli", "uplink", "run", "--processes", "2", "--batch", "3"]
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once
        [*command, "--concurrency", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    actor = Principal(user_id=uuid.UUID(int=8), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    try:
        assert proc.stdout is not None
        started = await asyncio.to_thread(proc.stdout.readline)
        pids = [int(p) for p in re.findall(r"\d+", started.split("：", 1)[-1])]
        assert len(pids) == 2, started
        assert all(psutil.pid_exists(p) for p in pids)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with database.session(actor) as session, session.begin():
                states = list(await session.scalars(text("SELECT state FROM uplink_outbox")))
            if states and set(states) == {"delivered"}:
                break
            await asyncio.sleep(0.3)
        else:
            pytest.fail(f"not delivered by the two processes: {states}")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert set(regsim.records) == {i.hex for i in ledger.pass_ids}  # each once
    assert regsim.state.duplicates == 0
    async with database.session(actor) as session, session.begin():
        attempts = list(await session.scalars(text(f"SELECT count(*) FROM {outbox.ATTEMPTS} a GROUP BY outbox_id")))
        logged = await session.scalar(text("SELECT count(*) FROM uplink_attempt"))
    assert attempts == [1] * 12
    assert logged == 0  # each delivered on its first send: the outbox rows keep the answers (docs/adr/0042)
