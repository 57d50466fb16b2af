"""Ledger query benchmark: RLS overhead on 1,000,000 pass events across 100 tenants.

Measures, in one run on one server, p50/p95 latency of
  1. vehicle lookup by plate (current version), and
  2. the first page (50 rows) of a tenant's filtered pass list (date range + direction),
as the application issues them (app role, tenant set per transaction by set_config, no tenant filter
in the SQL: RLS supplies it), beside the same queries run as a superuser without RLS with an explicit
``tenant_id = $1`` filter (the baseline). Prints each figure with the baseline and the ratio.

    .venv/bin/python bench/ledger_queries.py                 # full size (1,000,000 events)
    .venv/bin/python bench/ledger_queries.py --events 50000  # quick run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.db.migrate import upgrade  # noqa: E402
from hj1321.plates import LETTERS, PROVINCES  # noqa: E402
from infra.pg import EmbeddedPostgres  # noqa: E402
from tenants.bootstrap import bootstrap_database  # noqa: E402
from tenants.ids import new_id  # noqa: E402

TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2025, 1, 1, tzinfo=TZ)
DAYS = 365


def plate(rng: random.Random) -> str:
    return rng.choice(PROVINCES[:8]) + rng.choice(LETTERS) + "".join(rng.choice("0123456789ABCDEFGH") for _ in range(5))


# The generator's parts, shared with bench/portal_render.py (one bulk-load path for the benches).

#: pass_event columns of a generated row (``received_at`` last, only when the caller gives it).
PASS_COLUMNS = [
    "tenant_id",
    "id",
    "site_id",
    "lane_id",
    "agent_id",
    "seq",
    "direction",
    "occurred_at",
    "plate",
    "plate_colour",
    "confidence",
    "decision",
    "reason_codes",
    "trigger",
    "anomaly_flags",
    "prev_hash",
    "hash",
    "payload",
]
#: vehicle_version columns of a generated row (``fleet_name`` after ``fuel_type`` when ``fleet=True``).
VERSION_COLUMNS = [
    "tenant_id",
    "id",
    "vehicle_id",
    "version",
    "category",
    "status",
    "review",
    "reason",
    "plate",
    "plate_colour",
    "emission_stage",
    "fuel_type",
    "extra",
]


async def add_layout(
    conn: asyncpg.Connection, tid: uuid.UUID, *, site_name: str = "厂区", agent_name: str = "agent", seen: bool = False
) -> tuple[uuid.UUID, list[tuple[uuid.UUID, str]], uuid.UUID]:
    """A site, gate G1 with lanes L1 (in) and L2 (out), and an agent; returns (site, [(lane, direction)], agent)."""
    site, gate, agent = new_id(), new_id(), new_id()
    await conn.execute("INSERT INTO site (tenant_id, id, name, address) VALUES ($1, $2, $3, '')", tid, site, site_name)
    await conn.execute(
        "INSERT INTO gate (tenant_id, id, site_id, code, name) VALUES ($1,$2,$3,'G1','东门')", tid, gate, site
    )
    lanes = []
    for code, direction in (("L1", "in"), ("L2", "out")):
        lid = new_id()
        lanes.append((lid, direction))
        await conn.execute(
            "INSERT INTO lane (tenant_id, id, gate_id, code, name, direction) VALUES ($1,$2,$3,$4,$4,$5)",
            tid,
            lid,
            gate,
            code,
            direction,
        )
    await conn.execute(
        "INSERT INTO agent (tenant_id, id, site_id, name, status, health, last_seen_at)"
        " VALUES ($1,$2,$3,$4,'active','{}', CASE WHEN $5 THEN now() END)",
        tid,
        agent,
        site,
        agent_name,
        seen,
    )
    return site, lanes, agent


async def copy_vehicles(
    conn: asyncpg.Connection, vehicles: list[tuple], versions: list[tuple], *, fleet: bool = False
) -> None:
    """COPY vehicles ``(tenant, id, category, current_version_id, 1)`` and their versions (VERSION_COLUMNS)."""
    await conn.copy_records_to_table(
        "vehicle", records=vehicles, columns=["tenant_id", "id", "category", "current_version_id", "current_version"]
    )
    columns = [*VERSION_COLUMNS[:-1], "fleet_name", "extra"] if fleet else VERSION_COLUMNS
    await conn.copy_records_to_table("vehicle_version", records=versions, columns=columns)


async def copy_events(conn: asyncpg.Connection, rows: list[tuple], *, extra: tuple[str, ...] = ()) -> None:
    """COPY generated pass events (PASS_COLUMNS, then the ``extra`` columns, e.g. ``received_at``, ``vehicle_id``)."""
    await conn.copy_records_to_table("pass_event", records=rows, columns=[*PASS_COLUMNS, *extra])


async def populate(
    admin: str, app_url: str, n_tenants: int, n_events: int, n_vehicles: int, rng: random.Random, first: int = 0
) -> dict:
    conn = await asyncpg.connect(admin)
    t0 = time.perf_counter()
    tenants, sites, lanes, agents, plates = [], {}, {}, {}, {}
    region_rows = await conn.fetch("SELECT code FROM region WHERE level = 'district' ORDER BY code LIMIT 200")
    regions = [r["code"] for r in region_rows]
    for i in range(n_tenants):
        tid = new_id()
        tenants.append(tid)
        await conn.execute(
            "INSERT INTO tenant (id, name, uscc, industry, region_code, grade, key_vehicle_unit, plan, status, settings)"
            " VALUES ($1, $2, $3, 'steel', $4, 'B', true, 'standard', 'active', '{}')",
            tid,
            f"基准企业{first + i}",
            f"BENCH{first + i:013d}",
            regions[i % len(regions)],
        )
        sites[tid], lanes[tid], agents[tid] = await add_layout(conn, tid)
    # Vehicles with their current version.
    vehicle_rows, version_rows = [], []
    per_tenant = max(1, n_vehicles // n_tenants)
    for tid in tenants:
        plates[tid] = []
        for _ in range(per_tenant):
            vid, ver = new_id(), new_id()
            p = plate(rng)
            plates[tid].append(p)
            vehicle_rows.append((tid, vid, "transport", ver, 1))
            version_rows.append(
                (tid, ver, vid, 1, "transport", "active", "verified", "基准数据", p, "yellow", "6", "B", "{}")
            )
    await copy_vehicles(conn, vehicle_rows, version_rows)
    # Pass events: a skewed distribution (a few big tenants, many small ones).
    weights = [1.0 / (i + 1) ** 0.6 for i in range(n_tenants)]
    counts = [0] * n_tenants
    chosen = rng.choices(range(n_tenants), weights=weights, k=n_events)
    batch: list[tuple] = []
    seq: dict[uuid.UUID, int] = {}
    for idx in chosen:
        tid = tenants[idx]
        counts[idx] += 1
        lane, direction = rng.choice(lanes[tid])
        n = seq.get(tid, 0) + 1
        seq[tid] = n
        when = START + dt.timedelta(seconds=rng.randrange(DAYS * 86400))
        decision = "refuse" if rng.random() < 0.05 else "allow"
        batch.append(
            (
                tid,
                new_id(),
                sites[tid],
                lane,
                agents[tid],
                n,
                direction,
                when,
                rng.choice(plates[tid]),
                "yellow",
                0.97,
                decision,
                [],
                "auto",
                [],
                "0" * 64,
                "0" * 64,
                "{}",
            )
        )
        if len(batch) >= 50_000:
            await copy_events(conn, batch)
            batch.clear()
            print(f"  写入通行记录 {sum(counts):,}/{n_events:,}", flush=True)
    if batch:
        await copy_events(conn, batch)
    await conn.execute("ANALYZE")
    await conn.close()
    print(
        f"  数据生成完成：{n_tenants} 家企业，{n_events:,} 条通行记录，用时 {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return {"tenants": tenants, "plates": plates, "counts": counts}


LOOKUP_APP = """SELECT vv.* FROM vehicle v JOIN vehicle_version vv ON vv.tenant_id = v.tenant_id AND vv.id = v.current_version_id
WHERE vv.plate = $1"""
LOOKUP_BASE = """SELECT vv.* FROM vehicle v JOIN vehicle_version vv ON vv.tenant_id = v.tenant_id AND vv.id = v.current_version_id
WHERE vv.plate = $1 AND vv.tenant_id = $2 AND v.tenant_id = $2"""
PAGE_APP = """SELECT * FROM pass_event WHERE occurred_at >= $1 AND occurred_at < $2 AND direction = $3
ORDER BY occurred_at DESC LIMIT 50"""
PAGE_BASE = """SELECT * FROM pass_event WHERE occurred_at >= $1 AND occurred_at < $2 AND direction = $3 AND tenant_id = $4
ORDER BY occurred_at DESC LIMIT 50"""
SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"


async def timed(conn: asyncpg.Connection, rls: bool, sql: str, args: tuple, tenant: uuid.UUID) -> tuple[float, float]:
    """Return (query ms, whole-transaction ms); the transaction includes set_config under RLS."""
    t0 = time.perf_counter()
    async with conn.transaction():
        if rls:
            await conn.execute(SET_TENANT, str(tenant))
        q0 = time.perf_counter()
        rows = await conn.fetch(sql, *args)
        query = (time.perf_counter() - q0) * 1000
    elapsed = (time.perf_counter() - t0) * 1000
    if not rows and sql.startswith("SELECT vv"):
        raise AssertionError("lookup returned nothing")
    return query, elapsed


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def measure(
    admin: str, app_url: str, data: dict, iterations: int, rng: random.Random
) -> dict[str, dict[str, float]]:
    app = await asyncpg.connect(app_url.replace("+asyncpg", ""))
    sup = await asyncpg.connect(admin)
    tenants = data["tenants"]
    keys = [f"{q}_{side}{suffix}" for q in ("lookup", "page") for side in ("rls", "base") for suffix in ("", "_txn")]
    results: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(iterations + 20):
        tenant = rng.choice(tenants)
        p = rng.choice(data["plates"][tenant])
        day = START + dt.timedelta(days=rng.randrange(DAYS - 30))
        span = (day, day + dt.timedelta(days=30), rng.choice(("in", "out")))
        # Alternate the order so neither side always runs on a warmer cache.
        pairs = [
            ("lookup_rls", app, True, LOOKUP_APP, (p,)),
            ("lookup_base", sup, False, LOOKUP_BASE, (p, tenant)),
            ("page_rls", app, True, PAGE_APP, span),
            ("page_base", sup, False, PAGE_BASE, (*span, tenant)),
        ]
        if i % 2:
            pairs.reverse()
        for key, conn, rls, sql, args in pairs:
            query_ms, txn_ms = await timed(conn, rls, sql, args, tenant)
            if i >= 20:  # warm-up
                results[key].append(query_ms)
                results[key + "_txn"].append(txn_ms)
    plan = await _plan(app, tenants[0])
    await app.close()
    await sup.close()
    summary = {k: {"p50": statistics.median(v), "p95": pct(v, 95)} for k, v in results.items()}
    summary["plan"] = {"uses_index": float("Index" in plan)}
    return summary


async def _plan(conn: asyncpg.Connection, tenant: uuid.UUID) -> str:
    async with conn.transaction():
        await conn.execute(SET_TENANT, str(tenant))
        rows = await conn.fetch("EXPLAIN " + PAGE_APP, START, START + dt.timedelta(days=30), "in")
    return "\n".join(r[0] for r in rows)


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="ecogate-bench-") as tmp:
        import os  # noqa: PLC0415

        admin = os.environ.get("DATABASE_URL", "")
        server = None
        if not admin:
            server = EmbeddedPostgres(Path(tmp) / "pg").start()
            admin = server.admin_url
        try:
            urls = await bootstrap_database(admin, "ecogate_bench", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            print(f"生成数据：{args.tenants} 家企业，{args.events:,} 条通行记录 …", flush=True)
            admin_db = admin.rsplit("/", 1)[0] + "/ecogate_bench"
            data = await populate(admin_db, urls.app_url, args.tenants, args.events, args.vehicles, rng)
            summary = await measure(admin_db, urls.app_url, data, args.iterations, rng)
        finally:
            if server is not None:
                server.stop()
    print()
    print(
        f"{'query':<34}{'RLS p50':>10}{'RLS p95':>10}{'base p50':>10}{'base p95':>10}{'ratio p50':>11}{'ratio p95':>11}"
    )
    rows = [
        ("lookup", "", "vehicle lookup by plate (query)"),
        ("page", "", "first page of passes (query)"),
        ("lookup", "_txn", "vehicle lookup (whole txn)"),
        ("page", "_txn", "first page of passes (whole txn)"),
    ]
    for name, suffix, label in rows:
        r, b = summary[f"{name}_rls{suffix}"], summary[f"{name}_base{suffix}"]
        print(
            f"{label:<34}{r['p50']:>8.2f}ms{r['p95']:>8.2f}ms{b['p50']:>8.2f}ms{b['p95']:>8.2f}ms"
            f"{r['p50'] / b['p50']:>11.2f}{r['p95'] / b['p95']:>11.2f}"
        )
    print(f"\nevents={args.events:,} tenants={args.tenants} iterations={args.iterations} seed={args.seed}")
    print(
        "RLS = app role (NOSUPERUSER NOBYPASSRLS), tenant via set_config in the transaction, no tenant filter in SQL;"
    )
    print("base = superuser (RLS bypassed) with an explicit tenant_id filter; (query) times the statement alone,")
    print("(whole txn) adds BEGIN, the set_config round trip (RLS side only) and COMMIT.")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--vehicles", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
