"""Ingest benchmark of the cloud hub (issue 5): 50 simulated agents on one cloud process.

The cloud is ``ecogate cloud serve`` in a subprocess (one process, as deployed per replica) on an
embedded PostgreSQL (or ``DATABASE_URL``, an admin URL). Simulated agents are websocket clients in
this process speaking the real protocol with real sealed hash chains (no photos: the blob path is
covered by ``bench/soak_sync.py``). Figures, each beside a baseline measured in the same run:

1. **Throughput**: every agent streams ``--events`` events in batches of 100 with a window of 4
   unacked batches, as fast as acks come back; events committed *and acked* per second.
   Baseline: a raw asyncpg bulk insert (``COPY``, one transaction per 100 rows, ``--raw-conns``
   connections) of the very same rows into a copy of ``pass_event`` (same indexes) — the ratio
   says what the hub's protocol, chain verification and RLS cost on top of the database.
2. **Ack latency at a steady rate**: every agent sends one event per batch at ``--rate`` / 50 per
   second for ``--latency-seconds``; p50/p99/max of send→ack per batch. Baseline: the same
   percentiles of a single raw insert+commit of one row over asyncpg.
3. **Peak resident memory** of the cloud process (``VmHWM``) with the 50 agents connected,
   beside its RSS right after start-up.
4. **Agent drain after an outage**: a real agent (SQLite outbox, :class:`agent.sync.SyncClient`
   with its default batch and window) holding ``--drain-events`` unsent events connects; events
   per second until all are acked, beside figure 1.

The cloud's ``/metrics`` is scraped before and after each phase (issue 21, ``bench/metrics_scrape.py``):
events stored and batches acked by the hub's counters against the bench's own counts (they must be
equal), the hub's ack-latency quantiles from its histogram beside the bench's (the hub measures
arrival → ack inside the server, the bench send → ack, so the hub's bucket may not start above the
bench's figure), and the in-process agent's own metrics after the drain (link up, connections). A
disagreement is printed and makes the exit code 1.

Prints a table (``--json`` for one JSON line)::

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --agents 10 --events 500 --latency-seconds 5 --drain-events 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from agent_protocol import messages as msg  # noqa: E402
from agent_protocol.events import GENESIS_HASH, PassEvent, seal_event  # noqa: E402
from bench.database import admin_url  # noqa: E402
from bench.metrics_scrape import Scrape, delta, histogram_quantile, scrape, scrape_registry, total, wait_for  # noqa: E402
from bench.soak_sync import Cloud, Site, draft, make_sites, superuser_dsn  # noqa: E402


def chain(site: Site, count: int) -> list[PassEvent]:
    """``count`` sealed events of one agent, seq 1..count."""
    prev, out = GENESIS_HASH, []
    for n in range(1, count + 1):
        event = seal_event(draft(site, n), seq=n, prev_hash=prev)
        prev = event.hash
        out.append(event)
    return out


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000.0 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (the hub's logic-checks process)."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            out[key] = int(value.split()[0])
    return out


@dataclass
class SimAgent:
    """One simulated agent: its chain and its open connection."""

    site: Site
    events: list[PassEvent]
    ws: ClientConnection | None = None
    latencies: list[float] = field(default_factory=list)
    #: (send time, latency) of each batch, for the per-second profile of the steady phase.
    timeline: list[tuple[float, float]] = field(default_factory=list)

    async def open(self, url: str) -> None:
        """Connect, say hello and read the welcome."""
        self.ws = await connect(
            url, additional_headers={"Authorization": f"Bearer {self.site.token}"}, max_size=msg.MAX_FRAME_BYTES
        )
        await self.ws.send(
            msg.encode(msg.Hello(agent_id=str(self.site.agent_id), last_acked_seq=0, agent_clock=datetime.now(UTC)))
        )
        welcome = msg.decode(await self.ws.recv(decode=False))
        if not isinstance(welcome, msg.Welcome):
            raise TypeError(f"no welcome: {welcome!r}")

    async def stream(self, events: list[PassEvent], *, batch: int, window: int, interval_s: float = 0.0) -> None:
        """Send ``events`` in batches (paced every ``interval_s`` when > 0) and wait for the last ack."""
        ws = self.ws
        assert ws is not None
        sent_at: dict[int, float] = {}
        slots = asyncio.Semaphore(window)
        last = events[-1].seq

        async def read_acks() -> None:
            while True:
                message = msg.decode(await ws.recv(decode=False))
                if isinstance(message, msg.Ack):
                    now = time.perf_counter()
                    for seq in sorted(s for s in sent_at if s <= message.up_to_seq):
                        sent = sent_at.pop(seq)
                        self.latencies.append(now - sent)
                        self.timeline.append((sent, now - sent))
                        slots.release()
                    if message.up_to_seq >= last:
                        return
                elif isinstance(message, msg.Error):
                    raise RuntimeError(f"refused: {message.code} {message.message}")  # noqa: TRY004

        reader = asyncio.create_task(read_acks())
        start = time.perf_counter()
        for k, i in enumerate(range(0, len(events), batch)):
            chunk = events[i : i + batch]
            if interval_s:
                delay = start + k * interval_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await slots.acquire()
            sent_at[chunk[-1].seq] = time.perf_counter()
            await ws.send(msg.encode(msg.EventBatch(events=chunk)))
        await reader

    async def steady(self, events: list[PassEvent], *, interval_s: float, offset_s: float, window: int = 4) -> int:
        """Events are born every ``interval_s``; like :class:`agent.sync.SyncClient`, whatever is pending
        goes out as one batch (≤ 100) whenever fewer than ``window`` batches are unacked. Latency is
        per event, birth → ack (it includes waiting for a window slot). Returns the number of batches.
        """
        ws = self.ws
        assert ws is not None
        born: dict[int, float] = {}
        pending: list[PassEvent] = []
        inflight: list[int] = []
        slots = asyncio.Semaphore(window)
        wake = asyncio.Event()
        last = events[-1].seq

        async def read_acks() -> None:
            while True:
                message = msg.decode(await ws.recv(decode=False))
                if isinstance(message, msg.Ack):
                    now = time.perf_counter()
                    for seq in [s for s in born if s <= message.up_to_seq]:
                        t0 = born.pop(seq)
                        self.latencies.append(now - t0)
                        self.timeline.append((t0, now - t0))
                    for seq in [s for s in inflight if s <= message.up_to_seq]:
                        inflight.remove(seq)
                        slots.release()
                    if message.up_to_seq >= last:
                        return
                elif isinstance(message, msg.Error):
                    raise RuntimeError(f"refused: {message.code} {message.message}")  # noqa: TRY004

        async def produce() -> None:
            start = time.perf_counter() + offset_s
            for k, event in enumerate(events):
                delay = start + k * interval_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                born[event.seq] = time.perf_counter()
                pending.append(event)
                wake.set()

        reader = asyncio.create_task(read_acks())
        producer = asyncio.create_task(produce())
        sent = batches = 0
        while sent < len(events):
            await wake.wait()
            wake.clear()
            while pending:
                await slots.acquire()
                chunk = pending[:100]
                del pending[:100]
                inflight.append(chunk[-1].seq)
                batches += 1
                sent += len(chunk)
                await ws.send(msg.encode(msg.EventBatch(events=chunk)))
        await producer
        await reader
        return batches


async def checks_caught_up(dsn: str, limit_s: float) -> float:
    """Seconds until every tenant's check state covers its newest pass (-1 when ``limit_s`` passed)."""
    start = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        while time.perf_counter() - start < limit_s:
            behind = await conn.fetchval(
                "SELECT count(*) FROM (SELECT tenant_id, max(received_at) AS newest FROM pass_event GROUP BY tenant_id) p"
                " LEFT JOIN check_state s USING (tenant_id) WHERE s.passes_until IS NULL OR s.passes_until < p.newest"
            )
            if not behind:
                return round(time.perf_counter() - start, 1)
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return -1.0


async def autovacuum_since(dsn: str, since: float) -> list[str]:
    """Autovacuum and autoanalyze runs that finished after wall-clock ``since``: "table vacuum|analyze +N s".

    A vacuum of a large, fresh table (the burst's rows) during the steady phase takes a core for seconds;
    the per-second p99 shows it as a burst, which this tells apart from the checks' runs.
    """
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT relname, extract(epoch FROM last_autovacuum) AS vacuum, extract(epoch FROM last_autoanalyze) AS analyze"
            " FROM pg_stat_user_tables"
        )
    finally:
        await conn.close()
    seen = []
    for row in rows:
        for kind in ("vacuum", "analyze"):
            at = row[kind]
            if at is not None and float(at) >= since:
                seen.append((float(at) - since, f"{row['relname']} {kind} +{float(at) - since:.1f} s"))
    return [text for _, text in sorted(seen)]


async def raw_baseline(dsn: str, agent_ids: list[uuid.UUID], conns: int, batch: int) -> tuple[float, int]:
    """COPY the rows the hub stored for ``agent_ids`` into a copy of the table; rows per second."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute("DROP TABLE IF EXISTS bench_pass_event_raw")
        await admin.execute("CREATE TABLE bench_pass_event_raw (LIKE pass_event INCLUDING ALL)")
        columns = [
            r["attname"]
            for r in await admin.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'pass_event'::regclass AND attnum > 0"
                " AND NOT attisdropped ORDER BY attnum"
            )
        ]
        rows = await admin.fetch(
            "SELECT * FROM pass_event WHERE agent_id = ANY($1::uuid[]) ORDER BY agent_id, seq", agent_ids
        )
    finally:
        await admin.close()
    records = [tuple(r[c] for c in columns) for r in rows]
    chunks = [records[i : i + batch] for i in range(0, len(records), batch)]
    queue: asyncio.Queue[list[tuple[Any, ...]]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker(conn: asyncpg.Connection) -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            async with conn.transaction():
                await conn.copy_records_to_table("bench_pass_event_raw", records=chunk, columns=columns)

    pool = [await asyncpg.connect(dsn) for _ in range(conns)]
    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in pool))
        seconds = time.perf_counter() - start
    finally:
        for conn in pool:
            await conn.close()
    return len(records) / seconds, len(records)


async def raw_single_latency(dsn: str, samples: int) -> list[float]:
    """Latency of one-row INSERT + COMMIT over asyncpg (the floor under an ack)."""
    conn = await asyncpg.connect(dsn)
    out: list[float] = []
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_one_row")
        await conn.execute("CREATE TABLE bench_one_row (id uuid PRIMARY KEY, body jsonb)")  # WAL-logged like the ledger
        for _ in range(samples):
            start = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_one_row VALUES ($1, '{}'::jsonb)", uuid.uuid4())
            out.append(time.perf_counter() - start)
    finally:
        await conn.close()
    return out


async def drain(urls: Any, cloud: Cloud, workdir: Path, count: int) -> dict[str, float]:
    """A real agent with ``count`` queued events connects; time until everything is acked."""
    from agent.outbox import Outbox  # noqa: PLC0415
    from agent.sync import SyncClient  # noqa: PLC0415
    from agent.sync.client import jittered_backoff  # noqa: PLC0415

    (site,) = await make_sites(urls)
    box = Outbox(workdir / "drain-agent", agent_id=str(site.agent_id))
    start = time.perf_counter()
    await asyncio.to_thread(lambda: [box.append(draft(site, n)) for n in range(1, count + 1)])
    fill_s = time.perf_counter() - start

    def quick() -> Generator[float]:
        return jittered_backoff(initial_s=0.2, max_s=1.0)

    sync = SyncClient(cloud.url, site.token, box, heartbeat_s=5.0, reconnect_delays=quick)
    stop = asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(sync.run(stop))
    while (await asyncio.to_thread(box.stats)).acked < count:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - start
    from agent.ops import metrics as gate_metrics  # noqa: PLC0415

    during = scrape_registry(gate_metrics.REGISTRY)  # the agent's own endpoint's registry, link still up
    stop.set()
    await task
    box.close()
    return {
        "events": count,
        "fill_s": round(fill_s, 1),
        "drain_s": round(seconds, 2),
        "rate": round(count / seconds),
        "connections": sync.connections,
        "agent_cloud_connected": total(during, "ecogate_gate_cloud_connected"),
        "agent_connections_scraped": total(during, "ecogate_gate_cloud_connections_total"),
        "agent_clock_skew_s": round(total(during, "ecogate_gate_clock_skew_seconds"), 3),
    }


def _hub_phase(before: Scrape, after: Scrape, *, events: int, batches: int, client: list[float]) -> dict[str, Any]:
    """What the hub's counters and histogram say about one phase, beside the bench's own figures."""
    d = delta(before, after)
    out: dict[str, Any] = {
        "events": events,
        "stored": int(total(d, "ecogate_ingest_events_total", result="stored")),
        "duplicate": int(total(d, "ecogate_ingest_events_total", result="duplicate")),
        "refused": int(total(d, "ecogate_ingest_events_total", result="refused")),
        "batches": batches,
        "acks": int(total(d, "ecogate_ingest_ack_seconds_count")),
    }
    agree = out["stored"] == events and out["acks"] == batches and not out["duplicate"] and not out["refused"]
    ordered = sorted(client)
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        hub = histogram_quantile(d, "ecogate_ingest_ack_seconds", q)
        out[f"hub_ack_{name}"] = hub.ms()
        out[f"bench_ack_{name}_ms"] = round(pct(client, q), 1)
        # The hub's share of a batch's round trip cannot exceed the round trip the bench measured: the bucket
        # holding the hub's observation of rank ceil(q * n) (how the histogram's quantile counts) starts at or
        # below the bench's observation of the same rank. (Against ``pct``, whose rank is round(q * (n - 1)) + 1,
        # a small phase compared the hub's slowest batch with the bench's second slowest.)
        same_rank = 1000.0 * ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan
        agree = agree and hub.low * 1000 <= same_rank
    out["agree"] = agree
    return out


def _acks_at_least(before: Scrape, batches: int) -> Any:
    return lambda now: (
        total(now, "ecogate_ingest_ack_seconds_count") - total(before, "ecogate_ingest_ack_seconds_count") >= batches
    )


async def run(args: argparse.Namespace, admin: str, workdir: Path) -> dict[str, Any]:
    """All four measurements against one database."""
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    urls = await bootstrap_database(admin, "ecogate_bench_ingest", recreate=True)
    await asyncio.to_thread(upgrade, urls.owner_url)
    dsn = superuser_dsn(admin, urls.app_url)
    tenants = max(1, args.agents // 10)
    sites = await make_sites(urls, tenants=tenants, agents_per_tenant=-(-args.agents // tenants))
    sites = sites[: args.agents]
    per_agent_latency = max(1, int(args.latency_seconds * args.rate / args.agents))
    agents = [SimAgent(s, chain(s, args.events + per_agent_latency)) for s in sites]
    cloud = Cloud(urls, workdir, pool_size=args.pool)
    await asyncio.to_thread(cloud.start)
    assert cloud.proc is not None
    pid = cloud.proc.pid
    result: dict[str, Any] = {"agents": args.agents, "events_per_agent": args.events, "cloud_pool": args.pool}
    metrics_url = f"http://127.0.0.1:{cloud.port}/metrics"
    token = os.environ.get("ECOGATE_METRICS_TOKEN") or None

    def read() -> Scrape:
        return scrape(metrics_url, token=token)

    scraped: dict[str, Any] = {}
    result["scrape"] = scraped
    try:
        result["rss_idle_mb"] = round(memory_kb(pid)["VmRSS"] / 1024, 1)
        await asyncio.gather(*(a.open(cloud.url) for a in agents))
        result["rss_connected_mb"] = round(memory_kb(pid)["VmRSS"] / 1024, 1)

        # 1. throughput
        m0 = await asyncio.to_thread(read)
        start = time.perf_counter()
        await asyncio.gather(*(a.stream(a.events[: args.events], batch=100, window=4) for a in agents))
        seconds = time.perf_counter() - start
        streamed = args.events * len(agents)
        result["throughput_events"] = streamed
        result["throughput_eps"] = round(streamed / seconds)
        result["throughput_s"] = round(seconds, 2)
        throughput_lat = [x for a in agents for x in a.latencies]
        result["throughput_ack_p50_ms"] = round(pct(throughput_lat, 0.5), 1)
        result["throughput_ack_p99_ms"] = round(pct(throughput_lat, 0.99), 1)
        batches_1 = len(agents) * -(-args.events // 100)
        m1 = await asyncio.to_thread(wait_for, read, _acks_at_least(m0, batches_1))
        scraped["throughput"] = _hub_phase(m0, m1, events=streamed, batches=batches_1, client=throughput_lat)
        for a in agents:
            a.latencies.clear()
            a.timeline.clear()

        # The logic checks (issue 6) run in the cloud's checks process after ingest. The steady phase
        # measures the steady state, so it starts once they have caught up with the burst above; the
        # time that took is reported.
        result["checks_catch_up_s"] = await checks_caught_up(dsn, limit_s=args.checks_wait)

        # 2. steady rate
        interval = args.agents / args.rate
        load_before = os.getloadavg()[0]
        cpu_before = cpu_s(pid)
        kids_before = {c: cpu_s(c) for c in children_of(pid)}
        spy = None
        m2 = await asyncio.to_thread(read)
        if args.py_spy:  # collapsed stacks of the cloud process during the steady phase
            spy = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for in a thread
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--nonblocking",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    args.py_spy,
                    "-d",
                    str(int(args.latency_seconds)),
                    "-p",
                    str(pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        start = time.perf_counter()
        result["steady_started_at"] = round(time.time(), 3)  # wall clock: to line up with the cloud's log
        batches = await asyncio.gather(
            *(
                a.steady(a.events[args.events :], interval_s=interval, offset_s=i * interval / len(agents))
                for i, a in enumerate(agents)
            )
        )
        seconds = time.perf_counter() - start
        hub_cpu = cpu_s(pid) - cpu_before
        if spy is not None:
            await asyncio.to_thread(spy.wait)
        kids_cpu = sum(cpu_s(c) - kids_before.get(c, 0.0) for c in children_of(pid))
        result["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        result["steady_hub_cpu_pct"] = round(100 * hub_cpu / seconds, 1)
        result["steady_checks_cpu_pct"] = round(100 * kids_cpu / seconds, 1)
        result["steady_hub_cpu_ms_per_batch"] = round(1000 * hub_cpu / max(1, sum(batches)), 3)
        lat = [x for a in agents for x in a.latencies]
        m3 = await asyncio.to_thread(wait_for, read, _acks_at_least(m2, sum(batches)))
        scraped["steady"] = _hub_phase(m2, m3, events=len(lat), batches=sum(batches), client=lat)
        result["steady_rate_eps"] = round(len(lat) / seconds)
        result["steady_events_per_batch"] = round(len(lat) / sum(batches), 2)
        result["steady_ack_p50_ms"] = round(pct(lat, 0.5), 1)
        result["steady_ack_p99_ms"] = round(pct(lat, 0.99), 1)
        result["steady_ack_max_ms"] = round(pct(lat, 1.0), 1)
        buckets: dict[int, list[float]] = {}
        for sent, latency in (x for a in agents for x in a.timeline):
            buckets.setdefault(int(sent - start), []).append(latency)
        result["steady_p99_ms_per_second"] = [round(pct(buckets[k], 0.99)) for k in sorted(buckets)]
        result["steady_autovacuum"] = await autovacuum_since(dsn, result["steady_started_at"])
        mem = memory_kb(pid)
        result["rss_peak_mb"] = round(mem["VmHWM"] / 1024, 1)
        result["rss_after_mb"] = round(mem["VmRSS"] / 1024, 1)
        children = children_of(pid)
        result["checks_rss_peak_mb"] = round(sum(memory_kb(c).get("VmHWM", 0) for c in children) / 1024, 1)
        for a in agents:
            if a.ws is not None:
                await a.ws.close()

        # baselines (same run, same database)
        raw_eps, raw_rows = await raw_baseline(dsn, [a.site.agent_id for a in agents], args.raw_conns, 100)
        result["raw_copy_eps"] = round(raw_eps)
        result["raw_copy_rows"] = raw_rows
        result["ratio_hub_vs_raw"] = round(result["throughput_eps"] / raw_eps, 3)
        single = await raw_single_latency(dsn, 500)
        result["raw_commit_p50_ms"] = round(pct(single, 0.5), 2)
        result["raw_commit_p99_ms"] = round(pct(single, 0.99), 2)

        # 4. drain
        if args.drain_events:
            m4 = await asyncio.to_thread(read)
            result["drain"] = await drain(urls, cloud, workdir, args.drain_events)
            m5 = await asyncio.to_thread(read)
            d = result["drain"]
            stored = int(total(delta(m4, m5), "ecogate_ingest_events_total", result="stored"))
            scraped["drain"] = {
                "events": d["events"],
                "stored": stored,
                "agent_link_up": d["agent_cloud_connected"],
                "agent_connections": f"{d['agent_connections_scraped']:g} ({d['connections']})",
                "agent_clock_skew_s": d["agent_clock_skew_s"],  # same machine: well under a second
                "agree": stored == d["events"]
                and d["agent_cloud_connected"] == 1
                and d["agent_connections_scraped"] == d["connections"]
                and abs(d["agent_clock_skew_s"]) < 5.0,
            }
        scraped["agree"] = all(phase["agree"] for phase in scraped.values() if isinstance(phase, dict))
        stored = await (await asyncpg.connect(dsn)).fetchval("SELECT count(*) FROM pass_event")
        result["ledger_rows"] = int(stored)
        expected = streamed + per_agent_latency * len(agents) + args.drain_events
        result["ledger_rows_expected"] = expected
    finally:
        await asyncio.to_thread(cloud.stop)
    return result


def report(result: dict[str, Any]) -> None:
    """Print the figures beside their baselines."""
    rows = [
        ("agents connected", result["agents"], ""),
        (
            "throughput, events/s committed+acked",
            result["throughput_eps"],
            f"raw asyncpg COPY {result['raw_copy_eps']}/s, ratio {result['ratio_hub_vs_raw']}",
        ),
        (
            "logic checks caught up with that burst after, s",
            result["checks_catch_up_s"],
            f"{result['throughput_events']} events; -1 = not within --checks-wait",
        ),
        (
            "ack latency under full load p50/p99 ms",
            f"{result['throughput_ack_p50_ms']}/{result['throughput_ack_p99_ms']}",
            "batches of 100, window 4",
        ),
        (
            f"ack latency at {result['steady_rate_eps']} ev/s p50/p99/max ms",
            f"{result['steady_ack_p50_ms']}/{result['steady_ack_p99_ms']}/{result['steady_ack_max_ms']}",
            f"raw 1-row commit p50/p99 {result['raw_commit_p50_ms']}/{result['raw_commit_p99_ms']} ms",
        ),
        (
            "hub CPU during the steady phase, % of a core",
            result["steady_hub_cpu_pct"],
            (
                f"{result['steady_hub_cpu_ms_per_batch']} ms/batch, {result['steady_events_per_batch']} events/batch;"
                f" checks process {result['steady_checks_cpu_pct']} %; load avg {result['load_avg_1m']}"
            ),
        ),
        (
            "cloud RSS MB idle/connected/peak",
            f"{result['rss_idle_mb']}/{result['rss_connected_mb']}/{result['rss_peak_mb']}",
            f"goal peak <= 400; + logic-checks process peak {result['checks_rss_peak_mb']}",
        ),
    ]
    if "drain" in result:
        d = result["drain"]
        rows.append(
            (
                f"agent drain after outage of {d['events']} events, ev/s",
                d["rate"],
                f"{d['drain_s']} s; hub throughput {result['throughput_eps']}/s",
            )
        )
    rows.append(("ledger rows (expected)", f"{result['ledger_rows']} ({result['ledger_rows_expected']})", ""))
    for label, value, base in rows:
        print(f"{label:<46}{value!s:>20}   {base}")
    scraped = result["scrape"]
    print("\nscraped from the cloud's /metrics (and the agent's registry) beside the bench's own figures:")
    for phase in ("throughput", "steady"):
        if phase not in scraped:
            continue
        p = scraped[phase]
        print(
            f"  {phase:<10} events stored {p['stored']} (bench {p['events']}), batches acked {p['acks']}"
            f" (bench {p['batches']}), duplicate/refused {p['duplicate']}/{p['refused']}"
        )
        print(
            f"  {'':<10} ack p50 hub {p['hub_ack_p50']} / bench {p['bench_ack_p50_ms']} ms,"
            f" p99 hub {p['hub_ack_p99']} / bench {p['bench_ack_p99_ms']} ms   {'agree' if p['agree'] else 'DISAGREE'}"
        )
    if "drain" in scraped:
        p = scraped["drain"]
        print(
            f"  drain      events stored {p['stored']} (bench {p['events']}), agent link up {p['agent_link_up']:g},"
            f" agent connections {p['agent_connections']}, agent clock skew {p['agent_clock_skew_s']} s"
            f"   {'agree' if p['agree'] else 'DISAGREE'}"
        )


async def main_async(args: argparse.Namespace) -> int:
    """Start a database (unless DATABASE_URL), run, print."""
    with tempfile.TemporaryDirectory(prefix="ecogate-bench-ingest-") as tmp:
        async with admin_url(Path(tmp)) as admin:
            result = await run(args, admin, Path(tmp))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        report(result)
    ok = result["ledger_rows"] == result["ledger_rows_expected"] and result["scrape"].get("agree", False)
    return 0 if ok else 1


def main() -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description="云端接入基准：50 个模拟代理")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000, help="events per agent in the throughput phase")
    parser.add_argument("--rate", type=float, default=500.0, help="total events/s of the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--drain-events", type=int, default=50_000)
    parser.add_argument("--pool", type=int, default=10, help="DATABASE_POOL_SIZE of the cloud process")
    parser.add_argument("--raw-conns", type=int, default=10, help="connections of the raw COPY baseline")
    parser.add_argument(
        "--checks-wait", type=float, default=900.0, help="longest wait for the logic checks to catch up, seconds"
    )
    parser.add_argument(
        "--py-spy", metavar="FILE", help="record the cloud process during the steady phase (raw stacks)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
