"""Logic checks benchmark (issue 15): what a checks run costs per pass, beside the ledger's own store.

The checks (``cloud.compliance.checks.run_checks``) run in a process of their own after ingest
(``cloud/hub/checks.py``); whatever they spend in PostgreSQL competes with the hub's acks. This bench
stores ``--passes`` passes of one agent through the ledger's write path (``cloud.ledger.passes``, the
hub's statement, batches of 100, one transaction each) on an embedded PostgreSQL (or ``DATABASE_URL``,
an admin URL), running the checks after every ``--per-run`` passes, as the checks process does while
passes arrive. The passes are the ingest bench's (``bench/soak_sync.draft``: alternating in/out lanes,
unregistered plates, one in seven refused), so most of them raise a flag (an exit with no entry, a
missing emission stage): the flag writes are part of the figure.

Figures, each beside the baseline measured in the same run:

* checks µs per pass (wall time of the runs over the passes they checked) beside the store's µs per
  pass (wall time of the ledger's inserts): the ratio says how much database work a pass costs after
  its ack compared with before it;
* the first and the last run's µs per pass: a check whose cost grows with the ledger (a query walking
  the tenant's history) shows as a last run dearer than the first;
* flags per pass; with ``--statements``, the statements that took the most time.

Usage::

    .venv/bin/python bench/checks.py
    .venv/bin/python bench/checks.py --passes 20000 --per-run 2000 --statements
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.database import admin_url  # noqa: E402
from bench.ingest import chain  # noqa: E402
from bench.soak_sync import make_sites  # noqa: E402


class _StatementClock:
    """Wall time per statement text (first 110 characters) on one engine."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
        self._started = 0.0

    def before(self, *_args: Any) -> None:
        self._started = time.perf_counter()

    def after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        entry = self.totals[" ".join(statement.split())[:110]]
        entry[0] += 1
        entry[1] += time.perf_counter() - self._started

    def top(self, n: int) -> list[dict[str, Any]]:
        rows = sorted(self.totals.items(), key=lambda kv: -kv[1][1])[:n]
        return [{"ms": round(t * 1000, 1), "calls": int(c), "sql": k} for k, (c, t) in rows]


async def run(args: argparse.Namespace, admin: str) -> dict[str, Any]:
    """Store and check; return the figures."""
    from cloud.compliance import checks  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from cloud.ledger import passes as ledger_passes  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    urls = await bootstrap_database(admin, "ecogate_bench_checks", recreate=True)
    await asyncio.to_thread(upgrade, urls.owner_url)
    (site,) = await make_sites(urls)
    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    principal = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=site.tenant_id, login="bench")
    assert site.tenant_id is not None
    source = ledger_passes.AgentSource(site.tenant_id, site.site_id, site.agent_id)
    events = chain(site, args.passes)
    clock = _StatementClock()
    if args.statements:
        engine = database.app_engine.sync_engine
        event.listen(engine, "before_cursor_execute", clock.before)
        event.listen(engine, "after_cursor_execute", clock.after)
    store_s = checks_s = 0.0
    checked = flags = 0
    runs: list[dict[str, Any]] = []
    try:
        for start in range(0, args.passes, args.per_run):
            chunk = events[start : start + args.per_run]
            began = time.perf_counter()
            for at in range(0, len(chunk), 100):
                async with database.session(principal) as session, session.begin():
                    await ledger_passes.store_batch(session, source, chunk[at : at + 100])
            store_s += time.perf_counter() - began
            began = time.perf_counter()
            async with database.session(principal) as session, session.begin():
                result = await checks.run_checks(session, site.tenant_id)
            took = time.perf_counter() - began
            checks_s += took
            checked += result.passes_checked
            flags += result.flags_added
            runs.append(
                {
                    "stored": start + len(chunk),
                    "passes_checked": result.passes_checked,
                    "flags": result.flags_added,
                    "ms": round(took * 1000, 1),
                    "us_per_pass": round(took / max(1, result.passes_checked) * 1e6),
                }
            )
            print(
                f"  {start + len(chunk):>7,} 条已入账：本轮检查 {result.passes_checked:,} 条，新增标记 {result.flags_added:,} 个，"
                f"{took * 1000:,.0f} 毫秒（每条 {runs[-1]['us_per_pass']} 微秒）",
                file=sys.stderr,
                flush=True,
            )
    finally:
        await database.dispose()
    return {
        "passes": args.passes,
        "per_run": args.per_run,
        "store_us_per_pass": round(store_s / args.passes * 1e6, 1),
        "checks_us_per_checked_pass": round(checks_s / max(1, checked) * 1e6, 1),
        "checks_us_per_stored_pass": round(checks_s / args.passes * 1e6, 1),
        "ratio_checks_vs_store": round(checks_s / store_s, 2) if store_s else None,
        "first_run_us_per_pass": runs[0]["us_per_pass"] if runs else None,
        "last_run_us_per_pass": runs[-1]["us_per_pass"] if runs else None,
        "flags_per_pass": round(flags / args.passes, 2),
        "runs": runs,
        "statements": clock.top(12) if args.statements else [],
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def report(result: dict[str, Any]) -> None:
    """Print the figures as a table."""
    print(
        f"逻辑检查基准：{result['passes']:,} 条通行记录，每 {result['per_run']:,} 条检查一次（负载 {result['load_avg_1m']}）"
    )
    print(f"  入账（基准）         每条 {result['store_us_per_pass']:>8} 微秒")
    print(
        f"  检查                 每条 {result['checks_us_per_stored_pass']:>8} 微秒   检查/入账 = {result['ratio_checks_vs_store']}"
    )
    print(f"  首轮 / 末轮          每条 {result['first_run_us_per_pass']} / {result['last_run_us_per_pass']} 微秒")
    print(f"  每条记录新增标记     {result['flags_per_pass']}")
    for s in result["statements"]:
        print(f"  {s['ms']:>9} ms {s['calls']:>5}×  {s['sql']}")


async def main_async(args: argparse.Namespace) -> int:
    """Start a database (unless DATABASE_URL), run, print."""
    with tempfile.TemporaryDirectory(prefix="ecogate-bench-checks-") as tmp:
        async with admin_url(Path(tmp)) as admin:
            result = await run(args, admin)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        report(result)
    return 0


def main() -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description="逻辑检查基准：每条通行记录的检查开销，对照入账开销")
    parser.add_argument("--passes", type=int, default=20_000)
    parser.add_argument("--per-run", type=int, default=2_000, help="passes stored between two checks runs")
    parser.add_argument("--statements", action="store_true", help="time every statement (adds a little overhead)")
    parser.add_argument("--json", action="store_true")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
