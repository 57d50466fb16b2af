"""Big export benchmark (issue 19 item 6, issue 20): a plant's monthly ledger of 60,000 passes as a background job.

One tenant's month holds ``--rows`` pass events stored through the ledger's write path (sealed as an agent's
chain, ``cloud.ledger.passes.store_batch``, the hub's ingest function). Measured in the same run, each in a
child process of its own (resident memory sampled during the export: at its start and the peak):

  1. the **job** (``cloud.jobs`` runner, kind ``report_export``): the ledger read chunk by chunk
     (``--chunk-rows``) into openpyxl's write-only workbook, the file stored in the blob store — for Excel and
     for CSV;
  2. the **baseline**: what a download did before (every row collected into memory, then an ordinary
     openpyxl workbook built cell by cell) — for Excel;
  3. a PDF job of the same month, which is refused with the Chinese hint to use Excel.

The Excel file of the job is read back and its rows counted. Prints seconds, peak RSS and file size.

    .venv/bin/python bench/export_big.py                 # 60,000 rows
    .venv/bin/python bench/export_big.py --rows 5000     # quick
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.blobs import FileBlobStore  # noqa: E402
from cloud.db import models as m  # noqa: E402
from cloud.db.engine import Database  # noqa: E402
from cloud.reports import exports  # noqa: E402
from cloud.settings import DatabaseSettings, JobSettings  # noqa: E402
from tenants.context import Principal, Role  # noqa: E402

MONTH_START = dt.datetime(2026, 8, 31, 16, 0, tzinfo=dt.UTC)  # 2026-09-01 00:00 北京时间
MONTH = ("month", "2026-09")
DB_NAME = "ecogate_bench_export"


def _database(urls: dict[str, str]) -> Database:
    return Database.from_settings(
        DatabaseSettings(app_url=urls["app"], owner_url=urls["owner"], regulator_url=urls["regulator"], pool_size=4)
    )


async def populate(urls: dict[str, str], rows: int) -> tuple[uuid.UUID, float]:
    """A tenant with a site, two lanes and an agent, and ``rows`` passes in September through the ledger."""
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.reports import service  # noqa: PLC0415
    from hj1321.identifiers import uscc_check_char  # noqa: PLC0415
    from tenants.onboarding import AccountSpec, TenantSpec, onboard_tenant  # noqa: PLC0415
    from tests.ledger_kit import AgentChain  # noqa: PLC0415

    db = _database(urls)
    try:
        platform = Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login="bench")
        body = "91420100MA4K" + uuid.uuid4().hex[:5].upper().replace("I", "1").replace("O", "0")
        spec = TenantSpec("导出基准钢铁有限公司", body + uscc_check_char(body), "steel", "420107", "B")
        admin = AccountSpec(f"bench-{uuid.uuid4().hex[:6]}", "管理员", hash_password("Bench-Passw0rd!"))
        tenant_id = await onboard_tenant(db.session, spec, admin, platform)
        actor = Principal(user_id=uuid.UUID(int=2), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="bench-agent")
        async with db.session(actor) as session, session.begin():
            site = m.Site(tenant_id=tenant_id, name="一号厂区", address="")
            session.add(site)
            await session.flush()
            gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code="G1", name="东门")
            agent = m.Agent(tenant_id=tenant_id, site_id=site.id, name="agent-1", status="active", health={})
            session.add_all([gate, agent])
            await session.flush()
            lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L1", name="入口", direction="in")
            lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L2", name="出口", direction="out")
            session.add_all([lane_in, lane_out])
            await session.flush()
        chain = AgentChain(tenant_id, site.id, agent.id, lane_in.id, lane_out.id)
        step = dt.timedelta(seconds=29 * 24 * 3600 / max(rows, 1))  # spread over the month
        started = time.perf_counter()
        batch = 1000
        for first in range(0, rows, batch):
            events = [
                chain.event(
                    f"鄂A{10000 + i % 89999}", MONTH_START + step * i, "in" if i % 2 == 0 else "out", cargo="煤炭"
                )
                for i in range(first, min(rows, first + batch))
            ]
            async with db.session(actor) as session, session.begin():
                await _store(chain, session, events)
        seconds = time.perf_counter() - started
        async with db.session(actor) as session, session.begin():  # the daily aggregates, as a day's ingest leaves them
            await service.open_scope(session, actor, tenant_id)
        return tenant_id, seconds
    finally:
        await db.dispose()


async def _store(chain: Any, session: Any, events: list[Any]) -> None:
    from cloud.ledger import passes as ledger_passes  # noqa: PLC0415

    await ledger_passes.store_batch(session, chain.source, events)


class _Sampler:
    """The process's resident memory sampled every 10 ms in a thread: (at the start, the peak) in MB."""

    def __init__(self) -> None:
        import threading  # noqa: PLC0415

        import psutil  # noqa: PLC0415

        self._process = psutil.Process()
        self.start_mb = self.peak_mb = self._process.memory_info().rss / 2**20
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        return round(self.start_mb, 1), round(self.peak_mb, 1)


async def child_job(
    urls: dict[str, str], tenant: uuid.UUID, fmt: str, chunk_rows: int, blob_root: str
) -> dict[str, Any]:
    """Queue and run one export job in this process; seconds, peak RSS, file size, status."""
    from cloud import jobs  # noqa: PLC0415
    from cloud.reports import exports  # noqa: PLC0415
    from cloud.reports.periods import parse_period  # noqa: PLC0415

    db = _database(urls)
    store = FileBlobStore(Path(blob_root))
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant, login="bench-exporter")
    try:
        async with db.session(actor) as session, session.begin():
            job = await exports.create_job(
                session, actor, tenant, "transport_passes", fmt, parse_period(*MONTH, None, None)
            )
        runner = jobs.JobRunner(db, store, {exports.JOB_KIND: exports.run_export}, JobSettings(chunk_rows=chunk_rows))
        sampler = _Sampler()
        started = time.perf_counter()
        assert await runner.run_once()
        seconds = time.perf_counter() - started
        before, peak = sampler.stop()
        async with db.session(actor) as session, session.begin():
            done = await exports.get_job(session, tenant, job.id)
        size = len(store.get(done.result_sha256)) if done.result_sha256 else 0
        return {
            "fmt": fmt,
            "status": done.status,
            "rows": done.result_rows,
            "seconds": round(seconds, 2),
            "rss_mb": peak,
            "rss_before_mb": before,
            "size_mb": round(size / 2**20, 2),
            "sha256": done.result_sha256,
            "error": done.error,
        }
    finally:
        await db.dispose()


async def child_baseline(urls: dict[str, str], tenant: uuid.UUID) -> dict[str, Any]:
    """The download of before: collect every row, then an ordinary (not write-only) workbook cell by cell."""
    from openpyxl import Workbook  # noqa: PLC0415

    from cloud.reports import exports, ledgers, service  # noqa: PLC0415
    from cloud.reports.periods import parse_period  # noqa: PLC0415

    db = _database(urls)
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant, login="bench-exporter")
    ledger = ledgers.LEDGERS["transport_passes"]
    sampler = _Sampler()
    started = time.perf_counter()
    try:
        async with db.session(actor) as session, session.begin():
            scope = await service.open_scope(session, actor, tenant)
            rows = await exports.collect(session, scope, ledger, parse_period(*MONTH, None, None))
    finally:
        await db.dispose()
    doc = exports.Document(
        ledger, scope.name, scope.uscc, parse_period(*MONTH, None, None), dt.datetime.now(dt.UTC), rows
    )
    book = Workbook()
    sheet = book.active
    for i, line in enumerate(doc.heading, start=1):
        sheet.cell(row=i, column=1, value=line)
    header = len(doc.heading) + 1
    for j, (_, title) in enumerate(ledger.columns, start=1):
        sheet.cell(row=header, column=j, value=title)
    for i, row in enumerate(rows, start=header + 1):
        for j, (key, _) in enumerate(ledger.columns, start=1):
            value = row.get(key)
            sheet.cell(row=i, column=j, value="" if value is None else value)
    buffer = io.BytesIO()
    book.save(buffer)
    seconds = time.perf_counter() - started
    before, peak = sampler.stop()
    return {
        "fmt": "xlsx (baseline)",
        "status": "done",
        "rows": len(rows),
        "seconds": round(seconds, 2),
        "rss_mb": peak,
        "rss_before_mb": before,
        "size_mb": round(len(buffer.getvalue()) / 2**20, 2),
        "error": None,
    }


def _spawn(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def main_async(args: argparse.Namespace) -> int:
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="ecogate-bench-export-") as tmp:
        admin = os.environ.get("DATABASE_URL", "")
        server = None
        if not admin:
            server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ecogate-bench-export-pg-"))).start()
            admin = server.admin_url
        try:
            made = await bootstrap_database(admin, DB_NAME, recreate=True)
            await asyncio.to_thread(upgrade, made.owner_url)
            urls = {"app": made.app_url, "owner": made.owner_url, "regulator": made.regulator_url}
            print(f"写入：{args.rows:,} 条通行记录（台账写入路径）…", flush=True)
            tenant, seconds = await populate(urls, args.rows)
            print(f"  {seconds:.1f} s（{args.rows / seconds:,.0f} 条/秒）", flush=True)
            common = ["--urls", json.dumps(urls), "--tenant", str(tenant)]
            blobs = str(Path(tmp) / "blobs")
            job = [*common, "--child", "job", "--chunk-rows", str(args.chunk_rows), "--blobs", blobs]
            results = []
            for fmt in ("xlsx", "csv"):
                print(f"后台导出任务：{fmt} …", flush=True)
                results.append(_spawn([*job, "--fmt", fmt]))
            print("基准：一次取出全部行、普通工作簿逐格写入（改动前的下载方式）…", flush=True)
            results.append(_spawn([*common, "--child", "baseline"]))
            if args.rows > exports.PDF_MAX_ROWS:
                print("后台导出任务：pdf（应拒绝并建议 Excel）…", flush=True)
                results.append(_spawn([*job, "--fmt", "pdf"]))
        finally:
            if server is not None:
                server.stop()
        xlsx = results[0]
        counted = _count_xlsx(Path(blobs), xlsx["sha256"]) if xlsx.get("sha256") else 0
    print()
    print(f"{'导出':<18}{'状态':<8}{'行数':>8}{'耗时 s':>9}{'峰值内存 MB（开始前）':>22}{'文件 MB':>9}")
    for r in results:
        rss = f"{r['rss_mb']} ({r['rss_before_mb']})"
        print(f"{r['fmt']:<18}{r['status']:<8}{(r['rows'] or 0):>8,}{r['seconds']:>9}{rss:>22}{r['size_mb']:>9}")
    print(f"Excel 文件读回：{counted:,} 行（应为 {args.rows:,}）")
    ok = counted == args.rows and results[0]["status"] == results[1]["status"] == "done"
    if len(results) > 3:
        print(f"PDF：{results[3]['error']}")
        ok = ok and results[3]["status"] == "failed" and "Excel" in (results[3]["error"] or "")
    if args.json:
        print(json.dumps({"rows": args.rows, "chunk_rows": args.chunk_rows, "results": results, "counted": counted}))
    return 0 if ok else 1


def _count_xlsx(root: Path, sha: str) -> int:
    from openpyxl import load_workbook  # noqa: PLC0415

    data = FileBlobStore(root).get(sha)
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return sum(1 for _ in sheet.iter_rows(values_only=True)) - 5  # 4 title lines and the header


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--chunk-rows", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["job", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--tenant", help=argparse.SUPPRESS)
    parser.add_argument("--fmt", default="xlsx", help=argparse.SUPPRESS)
    parser.add_argument("--blobs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        urls, tenant = json.loads(args.urls), uuid.UUID(args.tenant)
        if args.child == "job":
            result = asyncio.run(child_job(urls, tenant, args.fmt, args.chunk_rows, args.blobs))
        else:
            result = asyncio.run(child_baseline(urls, tenant))
        print(json.dumps(result))
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
