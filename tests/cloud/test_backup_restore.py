"""Restore drill (issue 21): base backup + WAL archive → a fresh embedded PostgreSQL at a point in time.

A server that archives its WAL holds two tenants whose passes are written through the ledger (the hub's
ingest path). After a base backup, more passes are stored before and after a moment T. The restore at T
must hold exactly the rows committed before T, every tenant's hash chain must verify, and the blob copy
must give back each object byte for byte. A second restore replays the whole archive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cloud.blobs import BlobStore
from cloud.cli.backup import main as backup_cli
from cloud.cli.backup import verify_restored
from infra.backup import copy_blobs, list_backups, restore, run_base_backup, wal_segments
from infra.pg import EmbeddedPostgres
from tenants.bootstrap import DatabaseUrls, create_database, ensure_roles
from tenants.context import Principal, Role

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

_DATABASE = "ecogate_drill"


@pytest.fixture(name="scratch", scope="module")
def fx_scratch() -> Iterator[Path]:
    """A folder the PostgreSQL service user can reach.

    Not pytest's tmp_path: every pytest process re-chmods its base folder to 0700, which would cut the
    service user off from a server's data in the middle of the drill (the root conftest does the same).
    """
    folder = Path(tempfile.mkdtemp(prefix="ecogate-drill-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(name="archived", scope="module")
def fx_archived(scratch: Path) -> Iterator[tuple[EmbeddedPostgres, Path]]:
    """An embedded server that archives every WAL segment into ``<root>/wal``."""
    root = scratch / "backups"
    server = EmbeddedPostgres(scratch / "pg-source", archive_dir=root / "wal").start()
    asyncio.run(ensure_roles(server.admin_url, json.loads(os.environ["ECOGATE_TEST_ROLE_PASSWORDS"])))
    yield server, root
    server.stop()


@pytest.fixture(name="db_urls", scope="module")
def fx_db_urls(archived: tuple[EmbeddedPostgres, Path]) -> DatabaseUrls:
    """This module's database lives on the archiving server (overrides the worker's database)."""
    from cloud.db.migrate import upgrade  # noqa: PLC0415

    server, _ = archived
    passwords = json.loads(os.environ["ECOGATE_TEST_ROLE_PASSWORDS"])
    urls = asyncio.run(create_database(server.admin_url, _DATABASE, passwords, recreate=True))
    upgrade(urls.owner_url)
    return urls


async def _counts(admin_url: str) -> dict[uuid.UUID, int]:
    conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + f"/{_DATABASE}")
    try:
        rows = await conn.fetch("SELECT tenant_id, count(*) AS n FROM pass_event GROUP BY tenant_id")
    finally:
        await conn.close()
    return {r["tenant_id"]: r["n"] for r in rows}


async def _archive_now(admin_url: str) -> None:
    """Close the current WAL segment and wait until the server has archived it."""
    conn = await asyncpg.connect(admin_url)
    try:
        segment = await conn.fetchval("SELECT pg_walfile_name(pg_switch_wal())")
        for _ in range(200):
            archived = await conn.fetchval("SELECT last_archived_wal FROM pg_stat_archiver")
            if archived is not None and archived >= segment:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    pytest.fail(f"segment {segment} was not archived")


async def test_point_in_time_restore_keeps_exactly_what_was_committed(
    archived: tuple[EmbeddedPostgres, Path], scratch: Path, make_tenant, seed_passes, database, tmp_path: Path
) -> None:
    server, root = archived
    day = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    a = await make_tenant(name="备份演练钢铁")
    b = await make_tenant(name="备份演练水泥")
    ledger_a = await seed_passes(
        a.tenant_id, [{"plate": f"鄂A1234{i}", "occurred_at": day + dt.timedelta(minutes=i)} for i in range(5)]
    )
    await seed_passes(
        b.tenant_id, [{"plate": f"鄂B5678{i}", "occurred_at": day + dt.timedelta(minutes=i)} for i in range(3)]
    )

    blobs = BlobStore(tmp_path / "blobs")
    digests = [blobs.put(f"照片 {i}".encode() * 100) for i in range(6)]
    backup = await asyncio.to_thread(
        run_base_backup, server.admin_url, root, server_state=server.data_dir / "ecogate-server.json"
    )
    assert [b.id for b in list_backups(root)] == [backup.id]
    assert copy_blobs(blobs.root, root / "blobs") == (6, 0)
    assert copy_blobs(blobs.root, root / "blobs") == (0, 6)

    # After the base backup: three more passes of A's agent, then the moment T, then passes of both after T.
    actor = Principal(user_id=uuid.UUID(int=2), role=Role.TENANT_ADMIN, tenant_id=a.tenant_id, login="drill")
    async with database.session(actor) as session, session.begin():
        for i in range(3):
            await ledger_a.chain.record(session, f"鄂A7777{i}", day + dt.timedelta(hours=1, minutes=i))
    await asyncio.sleep(1.0)
    conn = await asyncpg.connect(server.admin_url)
    target = await conn.fetchval("SELECT now()")
    await conn.close()
    await asyncio.sleep(1.0)
    async with database.session(actor) as session, session.begin():
        for i in range(2):
            await ledger_a.chain.record(session, f"鄂A8888{i}", day + dt.timedelta(hours=2, minutes=i))
    await seed_passes(b.tenant_id, [{"plate": "鄂B99990", "occurred_at": day + dt.timedelta(hours=2)}])
    await _archive_now(server.admin_url)
    assert wal_segments(root)
    assert await _counts(server.admin_url) == {a.tenant_id: 10, b.tenant_id: 4}

    restored = await asyncio.to_thread(restore, root, scratch / "restored-at-t", target_time=target)
    try:
        assert await _counts(restored.admin_url) == {a.tenant_id: 8, b.tenant_id: 3}
        report = await verify_restored(restored.admin_url, _DATABASE, root / "blobs")
        assert (report["ok"], report["tenants"], report["chain_problems"]) == (True, 2, {})
        assert report["rows"]["pass_event"] == 11
    finally:
        await asyncio.to_thread(restored.stop)

    latest = await asyncio.to_thread(restore, root, scratch / "restored-latest")
    try:
        assert await _counts(latest.admin_url) == {a.tenant_id: 10, b.tenant_id: 4}
        report = await verify_restored(latest.admin_url, _DATABASE, root / "blobs")
        assert (report["ok"], report["chain_problems"], report["rows"]["pass_event"]) == (True, {}, 14)
    finally:
        await asyncio.to_thread(latest.stop)

    copy = BlobStore(root / "blobs")
    for digest in digests:
        assert hashlib.sha256(copy.get(digest)).hexdigest() == digest


async def test_the_cli_backs_up_lists_and_restores_with_verification(
    archived: tuple[EmbeddedPostgres, Path], scratch: Path, make_tenant, seed_passes, monkeypatch, capsys
) -> None:
    server, _ = archived
    root = scratch / "cli-backups"
    tenant = await make_tenant(name="命令行演练")
    await seed_passes(tenant.tenant_id, [{"plate": "鄂A24680", "occurred_at": dt.datetime(2026, 12, 2, tzinfo=dt.UTC)}])
    monkeypatch.setenv("DATABASE_URL", server.admin_url)
    monkeypatch.setenv("ECOGATE_BLOB_ROOT", str(scratch / "cli-blobs"))
    assert await asyncio.to_thread(backup_cli, ["--root", str(root), "run", "--keep", "1"]) == 0
    assert await asyncio.to_thread(backup_cli, ["--root", str(root), "list"]) == 0
    out = capsys.readouterr().out
    assert "基础备份完成" in out
    assert "WAL 归档" in out
    args = ["--root", str(root), "restore", "--to", str(scratch / "cli-restored"), "--verify", "--database", _DATABASE]
    rc = await asyncio.to_thread(backup_cli, args)
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert "校验通过" in out
    # A second restore into the same folder is refused with a Chinese message, nothing overwritten.
    assert await asyncio.to_thread(backup_cli, args) == 1
    assert "目标目录已有数据" in capsys.readouterr().err
