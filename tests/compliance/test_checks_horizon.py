"""Incremental checks never skip a pass whose transaction was still open during a run (ADR 0013)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from cloud.compliance import checks
from cloud.db import models as m
from cloud.ledger import passes as ledger_passes
from tests.compliance.conftest import admin

pytestmark = pytest.mark.anyio


async def _flag_plates(database: Any, tenant_id: uuid.UUID) -> set[str | None]:
    async with database.session(admin(tenant_id)) as session, session.begin():
        await checks.run_checks(session, tenant_id)
        return {f.plate for f in await session.scalars(select(m.CheckFlag).where(m.CheckFlag.code == "stage_missing"))}


async def test_pass_committed_after_a_run_is_still_checked(database: Any, make_tenant: Any, make_plant: Any) -> None:
    tenant = await make_tenant()
    plant = await make_plant(tenant.tenant_id)
    now = dt.datetime.now(dt.UTC)
    await plant.passes(("鄂A10001", now - dt.timedelta(minutes=1), "in"))  # unknown vehicle allowed: stage_missing

    # A slow ingest transaction: begun (received_at = its start) before the run, committed after it.
    late = plant.event("鄂A10002", now, "in")
    source = ledger_passes.AgentSource(plant.tenant_id, plant.site_id, plant.agent_id)
    async with database.session(admin(tenant.tenant_id)) as slow, slow.begin():
        await ledger_passes.store_batch(slow, source, [late])  # the hub's own write path
        seen = await _flag_plates(database, tenant.tenant_id)  # the run while the insert is open
        assert seen == {"鄂A10001"}
    assert await _flag_plates(database, tenant.tenant_id) == {"鄂A10001", "鄂A10002"}


async def test_runs_do_not_reread_old_passes(database: Any, make_tenant: Any, make_plant: Any) -> None:
    tenant = await make_tenant()
    plant = await make_plant(tenant.tenant_id)
    now = dt.datetime.now(dt.UTC)
    received = now - dt.timedelta(minutes=3)  # within the five minutes the old design re-read every run
    await plant.passes(*[(f"鄂A2{n:04d}", received, "in") for n in range(1, 21)], received_at=received)
    await plant.passes(("鄂A20099", now, "in"))
    async with database.session(admin(tenant.tenant_id)) as session, session.begin():
        first = await checks.run_checks(session, tenant.tenant_id)
    await plant.passes(("鄂A30001", now, "in"))
    async with database.session(admin(tenant.tenant_id)) as session, session.begin():
        second = await checks.run_checks(session, tenant.tenant_id)
    assert first.passes_checked == 21
    assert second.passes_checked <= 2  # the new pass and at most the one-second margin, not all 22


async def test_slices_check_every_pass_once_and_never_split_a_receipt(
    database: Any, make_tenant: Any, make_plant: Any
) -> None:
    """The hub's checks process takes a busy tenant in slices (``max_passes``): every pass is checked."""
    tenant = await make_tenant()
    plant = await make_plant(tenant.tenant_id)
    now = dt.datetime.now(dt.UTC)
    plates = [f"鄂B{n:05d}" for n in range(300)]
    for receipt in range(3):  # three receipts (transactions) of 100 passes: unknown vehicles, stage_missing each
        await plant.passes(
            *((p, now - dt.timedelta(minutes=10), "in") for p in plates[receipt * 100 : receipt * 100 + 100])
        )

    runs = []
    for _ in range(10):
        async with database.session(admin(tenant.tenant_id)) as session, session.begin():
            run = await checks.run_checks(session, tenant.tenant_id, max_passes=150)
        runs.append(run)
        if not run.more:
            break
    # 150 read, then the rest of the second receipt (a receipt is never split); each next slice re-reads the
    # last receipt the previous one covered (the re-read margin), then goes on.
    assert [r.passes_checked for r in runs] == [200, 200, 100]
    assert [r.more for r in runs] == [True, True, False]
    async with database.session(admin(tenant.tenant_id)) as session, session.begin():
        flagged = {
            f.plate for f in await session.scalars(select(m.CheckFlag).where(m.CheckFlag.code == "stage_missing"))
        }
    assert flagged == set(plates)
    assert sum(r.flags_added for r in runs) == 300  # each pass flagged once, never twice
