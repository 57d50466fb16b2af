"""Restore drill at full size (issue 21): 1,000,000 passes, base backup, WAL archive, point-in-time restore.

An embedded PostgreSQL that archives its WAL is filled with the bulk generator of
bench/ledger_queries.py (COPY; the one place rows are not written through the ledger), backed up with
``infra.backup.run_base_backup``; then 1,000 passes arrive before a moment T and 1,000 after it. The
restore at T must hold exactly the rows received before T: count and an md5 over their ordered ids are
compared with the source. Figures: generation (the same-run baseline: how long the data took to write),
base backup time and size, WAL segments, restore time, verification time.

    .venv/bin/python bench/restore_drill.py                 # 1,000,000 passes
    .venv/bin/python bench/restore_drill.py --events 20000  # quick
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_queries import populate

from cloud.db.migrate import upgrade
from infra.backup import restore, run_base_backup, wal_segments
from infra.pg import EmbeddedPostgres
from tenants.bootstrap import bootstrap_database

DB = "ecogate_drill"
CHECK = "SELECT count(*) AS n, md5(string_agg(id::text, ',' ORDER BY tenant_id, id)) AS digest FROM pass_event"


async def _fingerprint(url: str, before: object = None) -> tuple[int, str]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            CHECK + (" WHERE received_at < $1" if before is not None else ""), *([before] if before is not None else [])
        )
    finally:
        await conn.close()
    return int(row["n"]), str(row["digest"])


async def _archive_now(admin: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        segment = await conn.fetchval("SELECT pg_walfile_name(pg_switch_wal())")
        for _ in range(600):
            if (await conn.fetchval("SELECT last_archived_wal FROM pg_stat_archiver") or "") >= segment:
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ecogate-drill-"))
    root = work / "backups"
    server = EmbeddedPostgres(work / "pg", archive_dir=root / "wal").start()
    restored = None
    try:
        urls = await bootstrap_database(server.admin_url, DB, recreate=True)
        await asyncio.to_thread(upgrade, urls.owner_url)
        source = server.admin_url.rsplit("/", 1)[0] + f"/{DB}"
        print(f"生成 {args.events:,} 条通行记录 …", flush=True)
        t0 = time.perf_counter()
        await populate(source, urls.app_url, args.tenants, args.events, args.events // 10, rng)
        generate_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        backup = await asyncio.to_thread(
            run_base_backup, server.admin_url, root, server_state=work / "pg" / "ecogate-server.json"
        )
        backup_s = time.perf_counter() - t0

        await populate(source, urls.app_url, 3, 1_000, 100, rng, first=args.tenants)
        conn = await asyncpg.connect(source)
        target = await conn.fetchval("SELECT now()")
        await conn.close()
        await asyncio.sleep(1.0)
        await populate(source, urls.app_url, 3, 1_000, 100, rng, first=args.tenants + 3)
        await _archive_now(server.admin_url)
        expected = await _fingerprint(source, target)
        total = await _fingerprint(source)

        t0 = time.perf_counter()
        restored = await asyncio.to_thread(restore, root, work / "restored", target_time=target)
        restore_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = await _fingerprint(restored.admin_url.rsplit("/", 1)[0] + f"/{DB}")
        verify_s = time.perf_counter() - t0
    finally:
        if restored is not None:
            restored.stop()
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    ok = got == expected
    print()
    print(f"{'figure':<44}{'value':>16}")
    print(f"{'rows at the source (all / before T)':<44}{total[0]:>8,} / {expected[0]:,}")
    print(f"{'baseline: generation (COPY) of the rows':<44}{generate_s:>14.1f} s")
    print(f"{'base backup (pg_basebackup + pg_verifybackup)':<44}{backup_s:>14.1f} s")
    print(f"{'base backup size':<44}{backup.size_bytes / 2**20:>13.0f} MB")
    print(f"{'WAL segments archived':<44}{len(wal_segments(root)) if args.keep else 'n/a':>16}")
    print(f"{'restore to T (copy + replay + promote)':<44}{restore_s:>14.1f} s")
    print(f"{'verification (count + md5 of ids)':<44}{verify_s:>14.1f} s")
    print(f"{'restore / generation':<44}{restore_s / generate_s:>16.2f}")
    print(f"{'restored rows = rows before T, same ids':<44}{'yes' if ok else 'NO':>16}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (prints WAL count)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
