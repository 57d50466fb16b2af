"""Uplink states that say what the platform holds, and short transactions with leases (issues 16 and 20).

* a photo refused after the platform stored the record: ``photo_refused``, the photos retried per the
  family's rule, the record counted as held in the upload rate (= the simulator's stored count);
* a record refused: ``rejected``, in the review queue, not counted;
* a worker process killed while its sends hang: its claim comes back when the lease expires, and another
  worker delivers the records once;
* no transaction stays open across a send (the simulator answers 2 s late while we read pg_stat_activity);
* ``reconcile``: no family has a query message; against the simulator's inspection it finds and fixes
  both kinds of disagreement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from agent_protocol.events import Evidence, Snapshot, SnapshotRole
from cloud.blobs import BlobStore
from cloud.uplink import alarms, outbox, reconcile, worker
from cloud.uplink.worker import UplinkWorker
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"


def _actor(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=uuid.UUID(int=8), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="t")


async def _photographed(seed_passes: Any, tenant_id: uuid.UUID, blobs: BlobStore, n: int) -> list[uuid.UUID]:
    """``n`` passes with a scene and a plate photo whose blobs are in ``blobs``."""
    events = []
    for i in range(n):
        scene, plate = JPEG + f"scene{i}".encode(), JPEG + f"plate{i}".encode()
        snaps = tuple(
            Snapshot(role=role, sha256=blobs.put(data), size=len(data))
            for role, data in ((SnapshotRole.SCENE, scene), (SnapshotRole.PLATE, plate))
        )
        events.append(
            {
                "plate": f"鄂A6{i:04d}",
                "occurred_at": START + dt.timedelta(minutes=i),
                "evidence": Evidence(snapshots=snaps),
            }
        )
    return list((await seed_passes(tenant_id, events)).pass_ids)


async def _rows(database: Any, tenant_id: uuid.UUID) -> dict[uuid.UUID, Any]:
    async with database.session(_actor(tenant_id)) as session, session.begin():
        rows = await session.execute(
            text("SELECT id, state, attempts, photo_attempts, claimed_by, lease_until FROM uplink_outbox")
        )
        return {r.id: r for r in rows}


async def _drain(sender: UplinkWorker, tenant_id: uuid.UUID, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    idle = 0
    while time.monotonic() < deadline and idle < 8:
        idle = 0 if await sender.run_tenant(tenant_id) else idle + 1
        await asyncio.sleep(0.1)


async def test_photo_refused_after_the_record_is_stored_counts_as_held(
    database, make_tenant, seed_passes, regsim, connect_platform, tmp_path, monkeypatch
) -> None:
    monkeypatch.setitem(worker.PHOTO_RETRY, "transport_control", (2, 0.05))  # §2.4 is 4 × 500 ms; faster here
    monkeypatch.setattr(worker, "BACKOFF_BASE_S", 0.05)
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim)
    blobs = BlobStore(tmp_path)
    ids = await _photographed(seed_passes, tenant.tenant_id, blobs, 8)
    refused, recovers, record_refused = ids[:3], ids[3], ids[4]
    regsim.faults.reject_photo_serials = {i.hex for i in [*refused, recovers]}
    regsim.faults.reject_serials = {record_refused.hex}
    sender = UplinkWorker(database, blobs, batch=50)
    try:
        assert await sender.run_tenant(tenant.tenant_id) == 8
        first = await _rows(database, tenant.tenant_id)
        assert {first[i].state for i in [*refused, recovers]} == {"photo_refused"}
        regsim.faults.reject_photo_serials.discard(recovers.hex)  # the platform takes it on the retry
        await _drain(sender, tenant.tenant_id)
    finally:
        await sender.close()

    rows = await _rows(database, tenant.tenant_id)
    for i in refused:  # the first refusal and the family's 2 retries, then it stays held without the photo
        assert (rows[i].state, rows[i].photo_attempts, rows[i].claimed_by) == ("photo_refused", 3, None)
    assert rows[recovers].state == "delivered"
    assert rows[record_refused].state == "rejected"
    assert {rows[i].state for i in ids[5:]} == {"delivered"}
    assert regsim.state.photo_refusals[refused[0].hex] == 3
    assert regsim.state.duplicates > 0  # each photo retry re-sent the record, which the platform absorbed

    async with database.session(_actor(tenant.tenant_id)) as session, session.begin():
        status = await outbox.upload_status(session, tenant.tenant_id, START, START + dt.timedelta(days=1))
        outcomes = list(
            await session.scalars(
                text(f"SELECT outcome FROM {outbox.ATTEMPTS} a WHERE outbox_id = :id ORDER BY at"), {"id": refused[0]}
            )
        )
        flags = list(await session.scalars(text("SELECT pass_event_id FROM check_flag WHERE code = 'uplink_rejected'")))
    assert outcomes == ["photo_refused"] * 3
    assert flags == [record_refused]  # only the refused record is in the review queue
    assert status is not None
    # The upload rate counts what the platform holds: the simulator's stored count.
    assert status["held"] == len(regsim.records) == 7
    assert (status["delivered"], status["photo_refused"], status["rejected"], status["pending"]) == (4, 3, 1, 0)
    assert status["upload_rate"] == outbox.percent(len(regsim.records), 8) == "87.50"
    codes = {a.code for a in alarms.current(status, Decimal(95))}
    assert {"upload_photo_refused", "upload_rejected", "upload_rate_low"} <= codes


async def test_killed_worker_process_claims_return_after_the_lease(
    database, db_urls, make_tenant, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=60)
    ledger = await seed_passes(
        tenant.tenant_id, [{"plate": f"鄂A7{i:04d}", "occurred_at": START + dt.timedelta(minutes=i)} for i in range(6)]
    )
    regsim.faults.record_delay_s = 600  # the platform hangs: the process dies with its sends in flight
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once
        [
            sys.executable,
            "-m",
            "tests.uplink.worker_process",
            db_urls.app_url,
            db_urls.owner_url,
            db_urls.regulator_url,
            "6",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = await _rows(database, tenant.tenant_id)
            if all(r.claimed_by is not None for r in rows.values()) and regsim.state.requests["shareDrivingRecord"]:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the worker process never claimed the rows")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    regsim.faults.record_delay_s = 0
    claimed = await _rows(database, tenant.tenant_id)
    # Every row is held by the dead process (one claim per batch; its two send loops may have taken two).
    assert None not in {r.claimed_by for r in claimed.values()}
    other = UplinkWorker(database, BlobStore(tmp_path), lease_s=2)
    try:
        left = (min(r.lease_until for r in claimed.values()) - dt.datetime.now(dt.UTC)).total_seconds()
        assert left > 1.0, f"the worker process renewed its 6 s lease every 2 s; {left:.1f} s left"
        assert await other.run_tenant(tenant.tenant_id) == 0  # the dead worker's lease is still live
        until = max(r.lease_until for r in claimed.values())
        await asyncio.sleep(max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.3)
        assert await other.run_tenant(tenant.tenant_id) == 6  # expired: the claim came back
    finally:
        await other.close()
    rows = await _rows(database, tenant.tenant_id)
    assert {r.state for r in rows.values()} == {"delivered"}
    assert {r.claimed_by for r in rows.values()} == {None}
    assert set(regsim.records) == {i.hex for i in ledger.pass_ids}  # each once; the hung sends were absorbed


async def test_no_transaction_stays_open_across_a_send(
    database, superuser_url, make_tenant, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=10)
    await seed_passes(tenant.tenant_id, [{"plate": "鄂A80001", "occurred_at": START}])
    regsim.faults.record_delay_s = 2.0
    sender = UplinkWorker(database, BlobStore(tmp_path))
    longest = 0.0
    conn = await asyncpg.connect(superuser_url)
    try:
        task = asyncio.create_task(sender.run_tenant(tenant.tenant_id))
        while not task.done():
            value = await conn.fetchval(
                "SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            longest = max(longest, float(value))
            await asyncio.sleep(0.05)
        assert await task == 1
    finally:
        await conn.close()
        await sender.close()
    assert regsim.state.requests["shareDrivingRecord"] == 1
    assert len(regsim.records) == 1
    assert longest < 1.0, f"a transaction stayed open {longest:.2f} s while the platform took 2 s to answer"


async def test_a_first_delivery_after_the_lease_was_lost_is_an_attempt_row(
    database, superuser_url, make_tenant, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    """ADR 0042: the outbox row keeps the answer of the claim that holds it; a late answer of a lost claim
    (the same record's first send, answered after its lease passed and another worker claimed it) is an
    attempt row, so the upload history shows both sends."""
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=10)
    ledger = await seed_passes(tenant.tenant_id, [{"plate": "鄂A80002", "occurred_at": START}])
    record = ledger.pass_ids[0]
    regsim.faults.record_delay_s = 1.5
    slow, fast = UplinkWorker(database, BlobStore(tmp_path)), UplinkWorker(database, BlobStore(tmp_path))
    conn = await asyncpg.connect(superuser_url)
    try:
        task = asyncio.create_task(slow.run_tenant(tenant.tenant_id))
        while not await conn.fetchval(  # noqa: ASYNC110 - polling the database, no event to wait on
            "SELECT count(*) FROM uplink_outbox WHERE id = $1 AND claimed_by IS NOT NULL", record
        ):
            await asyncio.sleep(0.02)
        # The slow worker's lease passes while its send waits (as if its renewals had failed).
        await conn.execute("UPDATE uplink_outbox SET lease_until = now() - interval '1 s' WHERE id = $1", record)
        regsim.faults.record_delay_s = 0.0
        assert await fast.run_tenant(tenant.tenant_id) == 1  # claimed again, sent and settled first
        assert await task == 1  # the late answer: the row is no longer this claim's
    finally:
        await conn.close()
        await slow.close()
        await fast.close()
    async with database.session(_actor(tenant.tenant_id)) as session, session.begin():
        row = (
            await session.execute(
                text("SELECT state, attempts, first_outcome FROM uplink_outbox WHERE id = :id"), {"id": record}
            )
        ).one()
        logged = list(
            await session.scalars(text("SELECT outcome FROM uplink_attempt WHERE outbox_id = :id"), {"id": record})
        )
        sends = list(
            await session.scalars(
                text(f"SELECT outcome FROM {outbox.ATTEMPTS} a WHERE outbox_id = :id"), {"id": record}
            )
        )
    # The platform stored the slow send first (its answer only was late): the re-claim's send is a duplicate.
    assert (row.state, row.attempts, row.first_outcome) == ("delivered", 1, "duplicate")
    assert logged == ["delivered"]  # the lost claim's answer
    assert len(sends) == 2


async def test_reconcile_finds_and_fixes_disagreements(
    database, make_tenant, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim, timeout_s=0.5)
    ledger = await seed_passes(
        tenant.tenant_id, [{"plate": f"鄂A9{i:04d}", "occurred_at": START + dt.timedelta(minutes=i)} for i in range(5)]
    )
    ids = list(ledger.pass_ids)
    sender = UplinkWorker(database, BlobStore(tmp_path))
    end = START + dt.timedelta(days=1)
    try:
        assert await sender.run_tenant(tenant.tenant_id) == 5
        report = await reconcile.reconcile(database, tenant.tenant_id, START, end)
        assert (report["compared"], report["query_api"]) == (False, None)
        assert "§2.4" in report["reason"]

        del regsim.records[ids[0].hex]  # the platform lost a record we count as held
        del regsim.records[ids[1].hex]  # … and this one it will store again without our knowing
        regsim.faults.lost_answer_rate, regsim.faults.timeout_s = 1.0, 1.0  # stored, answer lost: we think pending
        await resend(database, tenant.tenant_id, ids[1])
        assert await sender.run_tenant(tenant.tenant_id) == 1
        regsim.faults.lost_answer_rate = 0.0
        report = await reconcile.reconcile(database, tenant.tenant_id, START, end, inspect_url=regsim.url, fix=True)
        assert report["held_by_us_not_by_platform"] == [str(ids[0])]
        assert report["held_by_platform_not_by_us"] == [str(ids[1])]
        assert (report["mismatches"], report["fixed"]) == (2, 2)
        await _drain(sender, tenant.tenant_id, 10)
        report = await reconcile.reconcile(database, tenant.tenant_id, START, end, inspect_url=regsim.url)
    finally:
        await sender.close()
    assert (report["mismatches"], report["platform_holds"], report["ours_held"]) == (0, 5, 5)


async def resend(database: Any, tenant_id: uuid.UUID, pass_id: uuid.UUID) -> None:
    """补传 of one record's minute through the product's path (outbox.resend_period)."""
    async with database.session(_actor(tenant_id)) as session, session.begin():
        at = await session.scalar(text("SELECT occurred_at FROM pass_event WHERE id = :id"), {"id": pass_id})
        await outbox.resend_period(session, tenant_id, at, at + dt.timedelta(seconds=1))
