"""Report benchmark: a monthly report and the 12-month clean-transport ratio over 1,000,000 pass events.

One tenant holds ``--events`` pass events over 24 months (vehicle snapshots, weighings, emergency
days, refusals, manual releases) beside 99 smaller tenants (``--small`` events each). Measured in
one run, as the application runs them (app role, tenant set per transaction, RLS):

  1. the one-off build of the daily aggregates, and an incremental refresh after a late backlog;
  2. the monthly statistics report (every figure of ``GET …/reports/statistics?period=month``,
     including the freshness check) and the first page of the monthly transport ledger;
  3. the 12-month clean-transport ratio;

each beside the naive baseline: the same definitions in one grouped query straight over
``pass_event`` (no aggregates). Prints p50/p95 over ``--iterations`` runs and the targets.

    .venv/bin/python bench/reports.py                     # full size
    .venv/bin/python bench/reports.py --events 100000     # quick run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.db.engine import Database  # noqa: E402
from cloud.db.migrate import upgrade  # noqa: E402
from cloud.reports import facts, ledgers, service  # noqa: E402
from cloud.reports.periods import Period  # noqa: E402
from cloud.settings import DatabaseSettings  # noqa: E402
from tenants.bootstrap import bootstrap_database  # noqa: E402
from tenants.context import Principal, Role  # noqa: E402
from tenants.ids import new_id  # noqa: E402

CN = dt.timezone(dt.timedelta(hours=8))
FIRST = dt.date(2024, 11, 1)
MONTHS = 24
LAST = dt.date(2026, 10, 31)
STAGES = [("3", "B"), ("4", "B"), ("5", "B"), ("5", "E"), ("6", "B"), ("6", "B"), ("6", "E"), ("D", "C"), ("6", "P")]
CARRIERS = [f"运输公司{i}" for i in range(40)] + [None]
EVENT_COLUMNS = [
    "tenant_id", "id", "site_id", "lane_id", "agent_id", "seq", "direction", "occurred_at", "received_at", "plate",
    "plate_colour", "confidence", "vehicle_id", "decision", "reason_codes", "trigger", "operator", "manual_reason",
    "scene_sha256", "cargo_name", "anomaly_flags", "prev_hash", "hash", "payload",
]  # fmt: skip


async def make_tenant(conn: asyncpg.Connection, i: int, region: str) -> dict[str, Any]:
    tid, site, gate, agent = new_id(), new_id(), new_id(), new_id()
    await conn.execute(
        "INSERT INTO tenant (id, name, uscc, industry, region_code, grade, key_vehicle_unit, plan, status, settings)"
        " VALUES ($1, $2, $3, 'cement', $4, 'A', true, 'standard', 'active', '{}')",
        tid,
        f"基准水泥有限公司{i}",
        f"BENCH{i:013d}",
        region,
    )
    await conn.execute("INSERT INTO site (tenant_id, id, name, address) VALUES ($1, $2, '厂区', '')", tid, site)
    await conn.execute(
        "INSERT INTO gate (tenant_id, id, site_id, code, name) VALUES ($1,$2,$3,'G1','东门')", tid, gate, site
    )
    lanes = {}
    for code, direction in (("L1", "in"), ("L2", "out")):
        lanes[direction] = new_id()
        await conn.execute(
            "INSERT INTO lane (tenant_id, id, gate_id, code, name, direction) VALUES ($1,$2,$3,$4,$4,$5)",
            tid,
            lanes[direction],
            gate,
            code,
            direction,
        )
    await conn.execute(
        "INSERT INTO agent (tenant_id, id, site_id, name, status, health) VALUES ($1,$2,$3,'agent','active','{}')",
        tid,
        agent,
        site,
    )
    return {"id": tid, "site": site, "lanes": lanes, "agent": agent, "seq": 0}


async def make_vehicles(conn: asyncpg.Connection, tenant: dict[str, Any], n: int, rng: random.Random) -> list[dict]:
    vehicles, vrows, versions = [], [], []
    for i in range(n):
        vid, ver = new_id(), new_id()
        stage, fuel = rng.choice(STAGES)
        v = {
            "id": vid,
            "plate": f"鄂A{i:05d}",
            "stage": stage,
            "fuel": fuel,
            "type": rng.choice(["H11", "H17", "Q11", "H31"]),
            "carrier": rng.choice(CARRIERS),
        }
        vehicles.append(v)
        vrows.append((tenant["id"], vid, "transport", ver, 1))
        versions.append(
            (tenant["id"], ver, vid, 1, "transport", "active", "verified", "基准数据", v["plate"], "yellow", stage, fuel,
             v["type"], 31000, v["carrier"], dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "{}")
        )  # fmt: skip
    await conn.copy_records_to_table(
        "vehicle", records=vrows, columns=["tenant_id", "id", "category", "current_version_id", "current_version"]
    )
    await conn.copy_records_to_table(
        "vehicle_version",
        records=versions,
        columns=[
            "tenant_id", "id", "vehicle_id", "version", "category", "status", "review", "reason", "plate",
            "plate_colour", "emission_stage", "fuel_type", "vehicle_type", "total_mass_kg", "fleet_name",
            "created_at", "extra",
        ],
    )  # fmt: skip
    return vehicles


def event(
    tenant: dict[str, Any],
    vehicles: list[dict],
    at: dt.datetime,
    rng: random.Random,
    received: dt.datetime | None = None,
) -> tuple:
    tenant["seq"] += 1
    v = rng.choice(vehicles) if rng.random() > 0.08 else None
    direction = rng.choice(("in", "out"))
    day = at.astimezone(CN).date()
    level = "orange" if day.day in (5, 6) and day.month in (11, 12, 1, 2) else "none"
    refused = v is not None and v["stage"] in ("3", "4") and level != "none"
    manual = rng.random() < 0.01
    payload: dict[str, Any] = {"emergency_level": level}
    if v is not None and rng.random() > 0.05:
        payload["vehicle"] = {
            "category": "transport", "fuel": v["fuel"], "emission_stage": v["stage"], "vehicle_type": v["type"],
            "heavy": v["type"] != "H31",
        }  # fmt: skip
    cargo = rng.choice(("煤炭", "石灰石", "熟料", None))
    if cargo and not refused and rng.random() > 0.1:
        payload["weighing"] = {"weighing_id": "w", "net_kg": rng.randint(8000, 40000)}
    return (
        tenant["id"], new_id(), tenant["site"], tenant["lanes"][direction], tenant["agent"], tenant["seq"], direction,
        at, received or at + dt.timedelta(seconds=rng.choice((2, 5, 40, 600))),
        v["plate"] if v else f"鄂B{rng.randint(10000, 99999)}", "yellow", 0.97, v["id"] if v else None,
        "refuse" if refused and not manual else "allow", ["emergency_heavy_stage"] if refused and not manual else [],
        "manual_release" if manual else "auto", "门岗" if manual else None, "主管指令放行" if manual else None,
        "a" * 64, cargo, ["clock_skew"] if rng.random() < 0.002 else [], "0" * 64, "0" * 64, json.dumps(payload),
    )  # fmt: skip


async def populate(admin_db: str, events: int, small: int, rng: random.Random) -> dict[str, Any]:
    conn = await asyncpg.connect(admin_db)
    t0 = time.perf_counter()
    regions = [r["code"] for r in await conn.fetch("SELECT code FROM region WHERE level = 'district' LIMIT 100")]
    big = await make_tenant(conn, 0, regions[0])
    big_vehicles = await make_vehicles(conn, big, 3000, rng)
    span = (LAST - FIRST).days + 1
    start = dt.datetime.combine(FIRST, dt.time(), CN)
    batch: list[tuple] = []
    for n in range(events):
        batch.append(event(big, big_vehicles, start + dt.timedelta(seconds=rng.randrange(span * 86400)), rng))
        if len(batch) >= 50_000:
            await conn.copy_records_to_table("pass_event", records=batch, columns=EVENT_COLUMNS)
            batch.clear()
            print(f"  写入通行记录 {n + 1:,}/{events:,}", flush=True)
    others = []
    for i in range(1, 100):
        t = await make_tenant(conn, i, regions[i % len(regions)])
        vs = await make_vehicles(conn, t, 50, rng)
        others.append(t["id"])
        batch.extend(event(t, vs, start + dt.timedelta(seconds=rng.randrange(span * 86400)), rng) for _ in range(small))
    await conn.copy_records_to_table("pass_event", records=batch, columns=EVENT_COLUMNS)
    await conn.execute("ANALYZE")
    total = await conn.fetchval("SELECT count(*) FROM pass_event")
    await conn.close()
    print(f"  数据生成完成：100 家企业，{total:,} 条通行记录，用时 {time.perf_counter() - t0:.1f} s", flush=True)
    return {"big": big, "vehicles": big_vehicles, "others": others, "total": total}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(runs: int, fn: Callable[[], Awaitable[object]]) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50": statistics.median(samples), "p95": pct(samples, 0.95), "n": runs}


async def measure(db: Database, data: dict[str, Any], iterations: int, rng: random.Random) -> dict[str, Any]:
    tid = data["big"]["id"]
    who = Principal(user_id=uuid.UUID(int=9), role=Role.MANAGER, tenant_id=tid, login="bench")
    month = Period("month", dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    year = Period("range", dt.date(2025, 11, 1), dt.date(2026, 10, 31))
    out: dict[str, Any] = {}

    t0 = time.perf_counter()
    async with db.session(who) as s, s.begin():
        days = await facts.refresh(s, tid)
    out["initial_build_s"] = time.perf_counter() - t0
    out["initial_build_days"] = days

    async def monthly() -> None:
        async with db.session(who) as s, s.begin():
            scope = await service.open_scope(s, who, tid)
            await service.statistics(s, scope, month)

    async def monthly_ledger_page() -> None:
        async with db.session(who) as s, s.begin():
            scope = await service.open_scope(s, who, tid)
            await ledgers.LEDGERS["transport_passes"].fetch(s, scope, month, 100, 0)

    async def clean_year() -> None:
        async with db.session(who) as s, s.begin():
            scope = await service.open_scope(s, who, tid)
            await service.clean_transport(s, scope, year)

    async def baseline(period: Period, dims: tuple[str, ...]) -> None:
        async with db.session(who) as s, s.begin():
            await facts.cube(s, tid, period.first, period.last, dims, raw_days=None)

    out["monthly_report"] = await timed(iterations, monthly)
    out["monthly_baseline"] = await timed(max(3, iterations // 4), lambda: baseline(month, facts.DIMENSIONS))
    out["monthly_ledger_page"] = await timed(iterations, monthly_ledger_page)
    clean_dims = ("direction", "decision", "category", "fuel", "stage")
    out["clean_12m"] = await timed(iterations, clean_year)
    out["clean_12m_baseline"] = await timed(max(3, iterations // 4), lambda: baseline(year, clean_dims))
    # A backlog of 2,000 late events spread over the last 30 days arrives; the next read refreshes.
    async with db.session(who) as s, s.begin():
        from cloud.db import models as m  # noqa: PLC0415

        start = dt.datetime.combine(dt.date(2026, 10, 1), dt.time(), CN)
        rows = [event(data["big"], data["vehicles"], start + dt.timedelta(seconds=rng.randrange(30 * 86400)), rng)
                for _ in range(2000)]  # fmt: skip
        for r in rows:
            values = dict(zip(EVENT_COLUMNS, r, strict=True))
            values["payload"] = json.loads(values["payload"])
            values.pop("received_at")
            s.add(m.PassEvent(**values))
    t0 = time.perf_counter()
    await monthly()
    out["refresh_after_backlog_plus_monthly_s"] = time.perf_counter() - t0
    return out


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="ecogate-bench-reports-") as tmp:
        admin = os.environ.get("DATABASE_URL", "")
        server = None
        if not admin:
            server = EmbeddedPostgres(Path(tmp) / "pg").start()
            admin = server.admin_url
        try:
            urls = await bootstrap_database(admin, "ecogate_bench_reports", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            admin_db = admin.rsplit("/", 1)[0] + "/ecogate_bench_reports"
            print(f"生成数据：1 家大企业 {args.events:,} 条 + 99 家企业各 {args.small:,} 条 …", flush=True)
            data = await populate(admin_db, args.events, args.small, rng)
            db = Database.from_settings(
                DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url)
            )
            try:
                summary = await measure(db, data, args.iterations, rng)
            finally:
                await db.dispose()
        finally:
            if server is not None:
                server.stop()
    summary["events_big_tenant"] = args.events
    summary["events_total"] = data["total"]
    print()
    print(f"{'figure':<44}{'p50':>10}{'p95':>10}   target / baseline")
    lines = (
        ("monthly statistics report", "monthly_report", "≤ 1000 ms"),
        ("  baseline: one grouped query on pass_event", "monthly_baseline", ""),
        ("monthly transport ledger, first 100 rows", "monthly_ledger_page", ""),
        ("12-month clean-transport ratio", "clean_12m", "≤ 2000 ms"),
        ("  baseline: one grouped query on pass_event", "clean_12m_baseline", ""),
    )
    for label, key, target in lines:
        f = summary[key]
        print(f"{label:<44}{f['p50']:>8.1f}ms{f['p95']:>8.1f}ms   {target}")
    print(f"\none-off aggregate build: {summary['initial_build_s']:.1f} s for {summary['initial_build_days']} days")
    print(
        f"2,000 late events, then a monthly report (refresh included): {summary['refresh_after_backlog_plus_monthly_s'] * 1000:.0f} ms"
    )
    print(
        f"events: big tenant {args.events:,}, all tenants {data['total']:,}; iterations={args.iterations} seed={args.seed}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=2_000, help="events of each of the 99 smaller tenants")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
