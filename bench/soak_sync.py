"""Fault soaks of agent ↔ cloud sync (issue 5): outage, kills, PostgreSQL restarts, a faulty network.

Everything is a real process over real TCP: the cloud is ``ecogate cloud serve`` in a subprocess,
the agent is this script's ``agent`` subcommand in another subprocess (the real SQLite outbox with
``synchronous=FULL`` and the real :class:`agent.sync.SyncClient`), the network faults come from
:class:`infra.faultproxy.FaultProxy`, the database is an embedded PostgreSQL (or ``DATABASE_URL``,
an admin URL). Scenarios:

* ``outage``: the cloud is down while the agent records ``--passes`` passes with two photos each;
  the cloud starts; the bench times the drain.
* ``proxy``: the agent records passes at ``--rate`` per second through the fault proxy (drops,
  resets, stalls, refusals) for ``--seconds``; then the proxy heals and the queue drains.
* ``kill-agent``: SIGKILL the agent ``--kills`` times while a batch is in flight (sent, not acked).
* ``kill-cloud``: the test-only launcher tests/sync/crash_cloud.py kills the cloud right
  after a commit and before its ack, ``--kills`` times; the bench checks that the ledger held more
  than the agent had been acked (the window really was hit) and restarts the cloud.
* ``pg-restart``: restart PostgreSQL ``--restarts`` times while the agent streams.

After each scenario every outbox event is compared with the ledger: zero lost, zero duplicated
(rows vs distinct event ids and read ids), per-lane order (seq and time), hashes equal, every photo
in the blob store byte-identical (sha256 recomputed). Prints one line of counts per scenario
(``--json`` for JSON lines); exit code 0 only without violations::

    .venv/bin/python bench/soak_sync.py outage --passes 5000
    .venv/bin/python bench/soak_sync.py proxy --seconds 600
    .venv/bin/python bench/soak_sync.py all
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Generator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from agent.outbox.blobs import BlobStore as AgentBlobs  # noqa: E402
from agent.outbox.store import Status  # noqa: E402
from agent_protocol.events import Decision, Direction, PassEvent, decode_event, new_event_id  # noqa: E402
from infra.faultproxy import FaultProxy, FaultSettings  # noqa: E402
from infra.pg import EmbeddedPostgres  # noqa: E402

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
PLATFORM_LOGIN = "bench-platform"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- processes


class Cloud:
    """``ecogate cloud serve`` in a subprocess on a fixed port: start, SIGKILL, start again."""

    def __init__(self, urls: Any, workdir: Path, *, pool_size: int = 4) -> None:
        """Prepare (not start) a cloud on a free port with its blob store under ``workdir``."""
        self.port = free_port()
        self.blob_root = workdir / "cloud-blobs"
        self.blob_root.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "cloud.log"
        self.env = {
            **os.environ,
            "DATABASE_APP_URL": urls.app_url,
            "DATABASE_OWNER_URL": urls.owner_url,
            "DATABASE_REGULATOR_URL": urls.regulator_url,
            "DATABASE_POOL_SIZE": str(pool_size),
            "ECOGATE_SESSION_SECRET": "soak-sync-secret-" + "x" * 32,
            "ECOGATE_ENV": "development",
            "ECOGATE_BLOB_ROOT": str(self.blob_root),
            "ECOGATE_DATA_DIR": str(workdir),
            "ECOGATE_LOG_LEVEL": os.environ.get("BENCH_CLOUD_LOG_LEVEL", "warning"),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The agent websocket URL."""
        return f"ws://127.0.0.1:{self.port}/agent/ws"

    def start(self, extra_env: dict[str, str] | None = None, *, wait: bool = True, crash_after: int = 0) -> None:
        """Start the process and (by default) wait until ``/health`` answers.

        ``crash_after``: run it through tests/sync/crash_cloud.py, which exits after that many committed
        batches, before their ack (the fault lives in the tests, not in the hub).
        """
        launcher = ["-m", "tests.sync.crash_cloud", str(crash_after)] if crash_after else ["-m", "ecogate_cli"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *launcher, "cloud", "serve", "--no-migrate", "--port", str(self.port)],
                env={**self.env, **(extra_env or {})},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, limit_s: float = 60.0) -> None:
        """Wait until ``/health`` answers 200."""
        assert self.proc is not None
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"cloud exited: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("cloud did not start")

    def kill(self) -> None:
        """SIGKILL the process (no-op when not running)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@dataclass
class Site:
    """An agent credential and the site and lanes its passes go to."""

    tenant_id: uuid.UUID
    site_id: uuid.UUID
    lanes: tuple[uuid.UUID, uuid.UUID]
    agent_id: uuid.UUID
    token: str


async def make_sites(urls: Any, tenants: int = 1, agents_per_tenant: int = 1) -> list[Site]:
    """Onboard ``tenants`` tenants, each with a site (a gate, an in and an out lane) and agents."""
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.hub.credentials import issue_agent_credential  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import AccountSpec, TenantSpec, onboard_tenant  # noqa: PLC0415

    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    platform = Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login=PLATFORM_LOGIN)
    sites: list[Site] = []
    try:
        for n in range(tenants):
            suffix = uuid.uuid4().hex[:8]
            spec = TenantSpec(
                name=f"同步压测企业{n}-{suffix}",
                uscc=f"9142{suffix.upper()}{n:06d}"[:18].ljust(18, "0"),
                industry="steel",
                region_code="420102",
                grade="B",
            )
            admin = AccountSpec(login=f"soak-{suffix}", display_name="管理员", password_hash=hash_password("x" * 12))
            tenant_id = await onboard_tenant(database.session, spec, admin, platform)
            principal = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="soak")
            async with database.session(principal) as session, session.begin():
                site = m.Site(tenant_id=tenant_id, name="一厂区", address="")
                session.add(site)
                await session.flush()
                gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code=f"G{suffix[:6]}", name="东门")
                session.add(gate)
                await session.flush()
                lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="IN1", name="入口", direction="in")
                lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="OUT1", name="出口", direction="out")
                session.add_all([lane_in, lane_out])
                await session.flush()
                site_id, lanes = site.id, (lane_in.id, lane_out.id)
            for k in range(agents_per_tenant):
                agent_id, token = await issue_agent_credential(database, principal, site_id, f"压测代理{k}")
                sites.append(Site(tenant_id, site_id, lanes, agent_id, token))
    finally:
        await database.dispose()
    return sites


def draft(site: Site, n: int) -> PassEvent:
    """The n-th pass of a soak agent: lanes alternate, one second apart, a read id per pass."""
    inbound = n % 2 == 1
    return PassEvent(
        event_id=new_event_id(),
        agent_id=str(site.agent_id),
        site_id=str(site.site_id),
        lane_id=str(site.lanes[0] if inbound else site.lanes[1]),
        direction=Direction.IN if inbound else Direction.OUT,
        occurred_at=T0 + timedelta(seconds=n),
        plate=f"鄂A{n % 100000:05d}",
        confidence=0.93,
        decision=Decision.ALLOW if n % 7 else Decision.REFUSE,
        reasons=() if n % 7 else ("emission_stage_low",),
        read_id=f"read-{n}",
    )


def photos(n: int, size: int) -> list[Any]:
    """Two deterministic photos (scene, plate) for pass ``n`` (a restarted agent makes the same bytes)."""
    from agent.outbox import PhotoData  # noqa: PLC0415
    from agent_protocol.events import SnapshotRole  # noqa: PLC0415

    rng = random.Random(n)
    return [
        PhotoData(role=SnapshotRole.SCENE, data=rng.randbytes(size + n % 997)),
        PhotoData(role=SnapshotRole.PLATE, data=rng.randbytes(size // 6 + n % 101)),
    ]


def _bench_backoff(max_s: float) -> Any:
    from agent.sync.client import jittered_backoff  # noqa: PLC0415

    def delays() -> Generator[float]:
        return jittered_backoff(initial_s=0.2, max_s=max_s)

    return delays


async def run_agent(args: argparse.Namespace) -> int:
    """The agent process: record passes into the outbox (resuming after a kill) while syncing."""
    from agent.outbox import Outbox  # noqa: PLC0415
    from agent.sync import SyncClient  # noqa: PLC0415

    site = Site(
        uuid.UUID(args.tenant),
        uuid.UUID(args.site),
        (uuid.UUID(args.lanes.split(",")[0]), uuid.UUID(args.lanes.split(",")[1])),
        uuid.UUID(args.agent_id),
        args.token,
    )
    box = Outbox(Path(args.dir), agent_id=args.agent_id)
    sync = SyncClient(
        args.url,
        args.token,
        box,
        heartbeat_s=2.0,
        poll_s=0.05,
        reconnect_delays=_bench_backoff(args.max_backoff),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    syncer = asyncio.create_task(sync.run(stop))
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    start = time.monotonic()
    n, _ = box.head()
    first = n
    while n < args.passes and not stop.is_set():
        n += 1
        await asyncio.to_thread(box.append, draft(site, n), photos=photos(n, args.photo_bytes))
        if interval:
            delay = start + (n - first) * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if syncer.done():
            break
    while args.exit_when_drained and not stop.is_set() and not syncer.done():
        if box.stats().acked >= args.passes:
            stop.set()
            break
        await asyncio.sleep(0.1)
    if not args.exit_when_drained:
        await stop.wait()
    stop.set()
    await syncer
    box.close()
    return 0


class AgentProcess:
    """The ``agent`` subcommand in a subprocess over one outbox folder (SIGKILL and restart freely)."""

    def __init__(self, site: Site, workdir: Path, url: str, *, passes: int, rate: float, photo_bytes: int) -> None:
        """Prepare (not start) an agent recording ``passes`` passes at ``rate`` per second (0: flat out)."""
        self.site = site
        self.dir = workdir / f"agent-{site.agent_id}"
        self.log_path = workdir / f"agent-{site.agent_id}.log"
        self.url = url
        self.passes = passes
        self.rate = rate
        self.photo_bytes = photo_bytes
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, max_backoff: float = 2.0) -> None:
        """Start the agent process."""
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "agent",
            "--dir",
            str(self.dir),
            "--url",
            self.url,
            "--token",
            self.site.token,
            "--tenant",
            str(self.site.tenant_id),
            "--agent-id",
            str(self.site.agent_id),
            "--site",
            str(self.site.site_id),
            "--lanes",
            ",".join(str(x) for x in self.site.lanes),
            "--passes",
            str(self.passes),
            "--rate",
            str(self.rate),
            "--photo-bytes",
            str(self.photo_bytes),
            "--max-backoff",
            str(max_backoff),
            "--exit-when-drained",
        ]
        env = {**os.environ, "ECOGATE_LOG_LEVEL": "warning"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        """Tell whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the agent."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def counts(self) -> dict[str, int]:
        """Outbox counts read directly from SQLite (read-only): recorded, pending, sent, acked, acked_seq."""
        path = self.dir / "outbox.db"
        out = {"recorded": 0, "pending": 0, "sent": 0, "acked": 0, "acked_seq": 0}
        if not path.exists():
            return out
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db,
        ):
            for status, count in db.execute("SELECT status, count(*) FROM event GROUP BY status"):
                key = {Status.PENDING: "pending", Status.SENT: "sent", Status.ACKED: "acked"}.get(Status(status))
                if key:
                    out[key] = int(count)
            out["recorded"] = out["pending"] + out["sent"] + out["acked"]
            row = db.execute("SELECT max(seq) FROM event WHERE status = ?", (int(Status.ACKED),)).fetchone()
            out["acked_seq"] = int(row[0] or 0)
        return out

    async def wait_exit(self, limit_s: float) -> int:
        """Wait for the agent to exit by itself (it does once every pass is acked)."""
        assert self.proc is not None
        deadline = time.monotonic() + limit_s
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent did not drain in {limit_s} s: {self.counts()}")
            await asyncio.sleep(0.1)
        code = int(self.proc.returncode)
        self.proc = None
        return code


# --------------------------------------------------------------------------- verification


@dataclass
class Report:
    """Counts of one scenario; ``violations`` must be empty."""

    scenario: str
    passes: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    photos_checked: int = 0
    photos_bad: int = 0
    seconds: float = 0.0
    drain_s: float = 0.0
    drain_rate: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violation."""
        return not self.violations


async def ledger_count(dsn: str, agent_id: uuid.UUID) -> tuple[int, int]:
    """Rows in the ledger for one agent and their highest seq (superuser DSN: no RLS)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, coalesce(max(seq), 0) AS top FROM pass_event WHERE agent_id = $1", agent_id
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["top"])


def _outbox_events(folder: Path) -> list[PassEvent]:
    with contextlib.closing(sqlite3.connect(f"file:{folder / 'outbox.db'}?mode=ro", uri=True)) as db:
        return [decode_event(r[0]) for r in db.execute("SELECT body FROM event ORDER BY seq")]


async def verify(report: Report, dsn: str, agent: AgentProcess, blob_root: Path) -> Report:
    """Compare the agent's outbox with the ledger and the blob store; fill ``report``."""
    events = _outbox_events(agent.dir)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, seq, hash, lane_id, occurred_at, payload->>'read_id' AS read_id FROM pass_event"
            " WHERE agent_id = $1 ORDER BY seq",
            agent.site.agent_id,
        )
        blob_rows = await conn.fetchval(
            "SELECT count(*) FROM blob WHERE tenant_id = $1 AND sha256 = ANY($2::text[])",
            agent.site.tenant_id,
            list({h for e in events for h in e.evidence.blob_hashes()}),
        )
    finally:
        await conn.close()
    report.passes = len(events)
    report.stored = len(rows)
    ids_out = {e.event_id for e in events}
    ids_db = [str(r["id"]) for r in rows]
    report.lost = len(ids_out - set(ids_db))
    report.unexpected = len(set(ids_db) - ids_out)
    report.duplicated = (len(ids_db) - len(set(ids_db))) + (len(rows) - len({r["read_id"] for r in rows}))
    if len(events) != agent.passes:
        report.violations.append(f"agent recorded {len(events)} of {agent.passes} passes")
    if len({e.read_id for e in events}) != len(events):
        report.violations.append("outbox holds a read id twice")
    for name in ("lost", "unexpected", "duplicated"):
        if getattr(report, name):
            report.violations.append(f"{name}: {getattr(report, name)}")
    if [r["seq"] for r in rows] != list(range(1, len(rows) + 1)):
        report.violations.append("ledger seqs are not 1..n")
    by_id = {e.event_id: e for e in events}
    for r in rows:
        e = by_id.get(str(r["id"]))
        if e is not None and (e.hash != r["hash"] or e.seq != r["seq"]):
            report.violations.append(f"event {e.event_id} differs in the ledger")
            break
    last: dict[uuid.UUID, tuple[int, datetime]] = {}
    for r in rows:  # per-lane order: seq and time both increase along each lane
        prev = last.get(r["lane_id"])
        if prev is not None and not (r["seq"] > prev[0] and r["occurred_at"] >= prev[1]):
            report.violations.append(f"lane {r['lane_id']} out of order at seq {r['seq']}")
            break
        last[r["lane_id"]] = (r["seq"], r["occurred_at"])
    report.extra["lanes"] = len(last)
    local = AgentBlobs(agent.dir / "blobs")
    hashes = list(dict.fromkeys(h for e in events for h in e.evidence.blob_hashes()))
    for digest in hashes:
        report.photos_checked += 1
        path = blob_root / digest[:2] / digest[2:4] / digest
        data = path.read_bytes() if path.exists() else b""
        if hashlib.sha256(data).hexdigest() != digest or data != local.read(digest):
            report.photos_bad += 1
    if report.photos_bad:
        report.violations.append(f"{report.photos_bad} photos missing or altered in the blob store")
    if int(blob_rows) != len(hashes):
        report.violations.append(f"blob rows {blob_rows} != {len(hashes)} photos")
    return report


# --------------------------------------------------------------------------- scenarios


@dataclass
class Env:
    """Where a scenario runs: database URLs, a superuser DSN on the same database, a work folder."""

    urls: Any
    dsn: str
    workdir: Path
    seed: int = 1
    pg: EmbeddedPostgres | None = None
    photo_bytes: int = 4000


@contextlib.asynccontextmanager
async def _cloud(env: Env, name: str, *, start: bool = True) -> AsyncIterator[Cloud]:
    workdir = env.workdir / name
    workdir.mkdir(parents=True, exist_ok=True)
    cloud = Cloud(env.urls, workdir)
    if start:
        await asyncio.to_thread(cloud.start)
    try:
        yield cloud
    finally:
        await asyncio.to_thread(cloud.stop)


async def _agent(env: Env, cloud: Cloud, url: str | None, *, passes: int, rate: float) -> AgentProcess:
    (site,) = await make_sites(env.urls)
    return AgentProcess(
        site, cloud.blob_root.parent, url or cloud.url, passes=passes, rate=rate, photo_bytes=env.photo_bytes
    )


async def outage(env: Env, passes: int) -> Report:
    """The cloud is down while the agent records ``passes`` passes; then it returns and the queue drains."""
    report = Report("outage")
    started = time.monotonic()
    async with _cloud(env, "outage", start=False) as cloud:
        agent = await _agent(env, cloud, None, passes=passes, rate=0)
        agent.start()
        while agent.counts()["recorded"] < passes:
            if not agent.running():
                report.violations.append("agent exited while recording")
                return report
            await asyncio.sleep(0.2)
        report.extra["acked_during_outage"] = agent.counts()["acked"]
        drain_start = time.monotonic()
        await asyncio.to_thread(cloud.start)
        code = await agent.wait_exit(max(120.0, passes / 20))
        report.drain_s = round(time.monotonic() - drain_start, 2)
        report.drain_rate = round(passes / report.drain_s, 1)
        report.extra["agent_exit"] = code
        await verify(report, env.dsn, agent, cloud.blob_root)
    report.seconds = round(time.monotonic() - started, 2)
    return report


async def proxy_soak(env: Env, seconds: float, rate: float) -> Report:
    """The agent streams through the fault proxy for ``seconds``; then the proxy heals and the queue drains."""
    report = Report("proxy")
    started = time.monotonic()
    passes = max(1, int(seconds * rate))
    async with _cloud(env, "proxy") as cloud:
        settings = FaultSettings(mean_fault_s=2.0, stall_s=(0.3, 3.0), refuse_probability=0.15)
        async with FaultProxy(upstream_port=cloud.port, seed=env.seed, settings=settings) as proxy:
            agent = await _agent(env, cloud, f"ws://127.0.0.1:{proxy.port}/agent/ws", passes=passes, rate=rate)
            agent.start(max_backoff=1.0)
            await asyncio.sleep(seconds)
            report.extra["acked_under_faults"] = agent.counts()["acked"]
            proxy.enabled = False
            drain_start = time.monotonic()
            report.extra["agent_exit"] = await agent.wait_exit(120)
            report.drain_s = round(time.monotonic() - drain_start, 2)
            report.extra["proxy"] = proxy.counts.as_dict()
        await verify(report, env.dsn, agent, cloud.blob_root)
    faults = report.extra["proxy"]
    if faults["drops"] + faults["resets"] + faults["stalls"] + faults["refused"] == 0:
        report.violations.append("the proxy injected no fault")
    report.seconds = round(time.monotonic() - started, 2)
    return report


async def kill_agent(env: Env, kills: int, passes: int, rate: float) -> Report:
    """SIGKILL the agent ``kills`` times while a batch is in flight; restart it each time."""
    report = Report("kill-agent")
    rng = random.Random(env.seed)
    started = time.monotonic()
    in_flight = 0
    async with _cloud(env, "kill-agent") as cloud:
        agent = await _agent(env, cloud, None, passes=passes, rate=rate)
        agent.start(max_backoff=0.5)
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            deadline = time.monotonic() + 10
            while agent.counts()["sent"] == 0 and time.monotonic() < deadline and agent.running():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            in_flight += agent.counts()["sent"] > 0
            agent.kill()
            agent.start(max_backoff=0.5)
        report.extra["kills"] = kills
        report.extra["kills_with_batch_in_flight"] = in_flight
        drain_start = time.monotonic()
        report.extra["agent_exit"] = await agent.wait_exit(120)
        report.drain_s = round(time.monotonic() - drain_start, 2)
        await verify(report, env.dsn, agent, cloud.blob_root)
    if in_flight == 0:
        report.violations.append("no kill landed with a batch in flight")
    report.seconds = round(time.monotonic() - started, 2)
    return report


async def kill_cloud(env: Env, kills: int, passes: int, rate: float) -> Report:
    """The hub dies (test hook, like SIGKILL) after a commit and before its ack, ``kills`` times."""
    report = Report("kill-cloud")
    rng = random.Random(env.seed)
    started = time.monotonic()
    witnessed = 0
    async with _cloud(env, "kill-cloud", start=False) as cloud:
        agent = await _agent(env, cloud, None, passes=passes, rate=rate)
        agent.start(max_backoff=0.5)
        for _ in range(kills):
            # The first process dies after 1–4 batches; the later ones after 1–2, so that on a slow machine
            # (restarts of 20 s while the agent keeps recording) new events are still left to crash on.
            crash_after = rng.randint(1, 4) if witnessed == 0 else rng.randint(1, 2)
            cloud.start(wait=False, crash_after=crash_after)  # it may die before /health is polled
            assert cloud.proc is not None
            deadline = time.monotonic() + 60
            while cloud.proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if cloud.proc.poll() is None:
                report.violations.append("the crash hook did not fire")
                break
            await asyncio.sleep(0.2)  # let the agent notice (it cannot have been acked)
            _, top = await ledger_count(env.dsn, agent.site.agent_id)
            acked = agent.counts()["acked_seq"]
            witnessed += top > acked
            cloud.proc = None
        await asyncio.to_thread(cloud.start)
        report.extra["kills"] = kills
        report.extra["committed_not_acked"] = witnessed
        drain_start = time.monotonic()
        report.extra["agent_exit"] = await agent.wait_exit(120)
        report.drain_s = round(time.monotonic() - drain_start, 2)
        await verify(report, env.dsn, agent, cloud.blob_root)
    if witnessed < kills:
        report.violations.append(f"only {witnessed} of {kills} crashes left committed-but-unacked events")
    report.seconds = round(time.monotonic() - started, 2)
    return report


async def pg_restart(env: Env, restarts: int, passes: int, rate: float) -> Report:
    """Restart PostgreSQL ``restarts`` times while the agent streams passes."""
    report = Report("pg-restart")
    if env.pg is None:
        report.extra["skipped"] = "external database"
        return report
    rng = random.Random(env.seed)
    started = time.monotonic()
    async with _cloud(env, "pg-restart") as cloud:
        agent = await _agent(env, cloud, None, passes=passes, rate=rate)
        agent.start(max_backoff=1.0)
        for _ in range(restarts):
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            before = agent.counts()["acked"]
            await asyncio.to_thread(env.pg.stop)
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await asyncio.to_thread(env.pg.start)
            report.extra.setdefault("acked_at_restart", []).append(before)
        report.extra["restarts"] = restarts
        drain_start = time.monotonic()
        report.extra["agent_exit"] = await agent.wait_exit(180)
        report.drain_s = round(time.monotonic() - drain_start, 2)
        await verify(report, env.dsn, agent, cloud.blob_root)
    report.seconds = round(time.monotonic() - started, 2)
    return report


def embedded_handle(admin_url: str) -> EmbeddedPostgres | None:
    """An :class:`EmbeddedPostgres` for the running local server behind ``admin_url`` (None if not ours)."""

    async def data_dir() -> str:
        conn = await asyncpg.connect(admin_url)
        try:
            return str(await conn.fetchval("SHOW data_directory"))
        finally:
            await conn.close()

    pgdata = Path(asyncio.run(data_dir()))
    if pgdata.name != "pgdata" or not (pgdata.parent / "ecogate-server.json").exists():
        return None
    port = int(admin_url.rsplit(":", 1)[1].split("/", 1)[0])
    return EmbeddedPostgres(pgdata.parent, port=port)


def superuser_dsn(admin_url: str, app_url: str) -> str:
    """The admin URL pointed at the application's database."""
    return admin_url.rsplit("/", 1)[0] + "/" + app_url.rsplit("/", 1)[1].split("?", 1)[0]


# --------------------------------------------------------------------------- CLI


def _print(report: Report, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(report), ensure_ascii=False, default=str), flush=True)
        return
    verdict = "OK" if report.ok else "VIOLATIONS: " + "; ".join(report.violations)
    print(
        f"{report.scenario:<11} passes={report.passes} stored={report.stored} lost={report.lost} "
        f"duplicated={report.duplicated} unexpected={report.unexpected} photos={report.photos_checked} "
        f"bad_photos={report.photos_bad} drain={report.drain_s}s ({report.drain_rate}/s) "
        f"total={report.seconds}s extra={json.dumps(report.extra, ensure_ascii=False)} {verdict}",
        flush=True,
    )


async def _main(args: argparse.Namespace) -> int:
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    kept = tempfile.mkdtemp(prefix="ecogate-soak-sync-", dir=args.workdir) if args.workdir else None
    with contextlib.nullcontext(kept) if kept else tempfile.TemporaryDirectory(prefix="ecogate-soak-sync-") as tmp:
        admin = os.environ.get("DATABASE_URL", "")
        server = None
        if not admin:
            server = await asyncio.to_thread(EmbeddedPostgres(Path(tmp) / "pg").start)
            admin = server.admin_url
        try:
            urls = await bootstrap_database(admin, "ecogate_soak_sync", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            env = Env(urls, superuser_dsn(admin, urls.app_url), Path(tmp), seed=args.seed, pg=server)
            scenarios = ["outage", "proxy", "kill-agent", "kill-cloud", "pg-restart"]
            chosen = scenarios if args.scenario == "all" else [args.scenario]
            failed = False
            for name in chosen:
                if name == "outage":
                    report = await outage(env, args.passes)
                elif name == "proxy":
                    report = await proxy_soak(env, args.seconds, args.rate)
                elif name == "kill-agent":
                    report = await kill_agent(env, args.kills, args.passes_streamed, args.rate)
                elif name == "kill-cloud":
                    report = await kill_cloud(env, args.kills, args.passes_streamed, args.rate)
                else:
                    report = await pg_restart(env, args.restarts, args.passes_streamed, args.rate)
                _print(report, as_json=args.json)
                failed |= not report.ok
        finally:
            if server is not None:
                server.stop()
    return 1 if failed else 0


def main() -> int:
    """Parse the command line and run a scenario (or the agent process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="scenario", required=True)
    for name in ("outage", "proxy", "kill-agent", "kill-cloud", "pg-restart", "all"):
        p = sub.add_parser(name)
        p.add_argument("--passes", type=int, default=5000, help="passes recorded during the outage")
        p.add_argument("--seconds", type=float, default=600.0, help="length of the proxy soak")
        p.add_argument("--rate", type=float, default=20.0, help="passes per second while streaming")
        p.add_argument("--passes-streamed", type=int, default=600, help="passes of the kill/restart scenarios")
        p.add_argument("--kills", type=int, default=10)
        p.add_argument("--restarts", type=int, default=3)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--json", action="store_true")
        p.add_argument("--workdir", default=None, help="parent folder of the work folder (default: the temp dir)")
    agent = sub.add_parser("agent", help="internal: the agent process")
    for flag in ("--dir", "--url", "--token", "--tenant", "--agent-id", "--site", "--lanes"):
        agent.add_argument(flag, required=True)
    agent.add_argument("--passes", type=int, required=True)
    agent.add_argument("--rate", type=float, default=0.0)
    agent.add_argument("--photo-bytes", type=int, default=4000)
    agent.add_argument("--max-backoff", type=float, default=2.0)
    agent.add_argument("--exit-when-drained", action="store_true")
    args = parser.parse_args()
    if args.scenario == "agent":
        return asyncio.run(run_agent(args))
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
