"""Scale-out bench (issue 20): HAProxy in front of 3 cloud replicas on one PostgreSQL, one replica killed.

Everything is a real process over real TCP: HAProxy from Debian (:mod:`infra.balancer`), N × ``ecogate
cloud serve`` sharing one embedded PostgreSQL (or ``DATABASE_URL``, an admin URL) and one blob folder,
and, with ``--pg-replica``, a PostgreSQL streaming replica (:mod:`infra.replica`) serving the
regulator's reads. Simulated agents (websocket clients in this process speaking the real protocol
with real sealed hash chains) stream passes through the balancer at ``--rate`` passes per second
each, reconnecting with a short jittered backoff whenever their connection drops, resuming from the
welcome's ``last_stored_seq``. API and portal clients (tenant admins and a regulator) load the
balancer at the same time.

Two runs in the same invocation, same sizes:

* **single**: one replica behind the balancer, nothing killed — the baseline.
* **scale-out**: ``--replicas`` replicas; after a third of ``--seconds`` the replica holding the most
  agents is SIGKILLed. Its agents' reconnect time (kill → welcome from another replica) is timed.

Figures per run: lost and duplicated passes (pass_event rows against the event ids sent, by UUID),
reconnect p50/p95/max, commands issued on one replica and delivered to an agent held by another
(LISTEN/NOTIFY, ADR 0008) with their latency, API/portal p50/p95 and errors under load, ingest rate,
the replica's replay lag (``pg_stat_replication.replay_lag``) and the load average::

    .venv/bin/python bench/scale_out.py                       # 200 agents, 3 replicas, 60 s
    .venv/bin/python bench/scale_out.py --agents 20 --seconds 20 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402

from agent_protocol import messages as msg  # noqa: E402
from agent_protocol.events import GENESIS_HASH, PassEvent, seal_event  # noqa: E402
from bench.soak_sync import Cloud, Site, draft, superuser_dsn  # noqa: E402
from infra.balancer import REPLICA_HEADER, HAProxy  # noqa: E402
from infra.pg import EmbeddedPostgres  # noqa: E402

PASSWORD = "scale-out-Passw0rd!"
#: Region of the bench's tenants and its regulator (the bench and its test run on a database of their own).
REGION = "420102"


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def until(predicate: Callable[[], bool], limit_s: float, step_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds (True) or ``limit_s`` passed (False)."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


# --------------------------------------------------------------------------- onboarding


@dataclass
class Fleet:
    """The onboarded tenants: agent credentials, tenant admin logins, a regulator login."""

    sites: list[Site]
    admins: dict[uuid.UUID, str]
    regulator: str


async def onboard(urls: Any, agents: int, *, per_tenant: int = 10, region: str = REGION) -> Fleet:
    """Onboard ``ceil(agents / per_tenant)`` tenants of ``region`` and its regulator (product write paths)."""
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.hub.credentials import issue_agent_credential  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import AccountSpec, TenantSpec, create_staff_account, onboard_tenant  # noqa: PLC0415

    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    platform = Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login="scale-out-platform")
    digest = hash_password(PASSWORD)
    sites: list[Site] = []
    admins: dict[uuid.UUID, str] = {}
    try:
        regulator = f"scale-reg-{uuid.uuid4().hex[:8]}"
        await create_staff_account(
            database.session,
            AccountSpec(login=regulator, display_name="监管压测", password_hash=digest),
            "regulator",
            region,
        )
        for n in range(-(-agents // per_tenant)):
            suffix = uuid.uuid4().hex[:8]
            spec = TenantSpec(
                name=f"扩展压测企业{n}-{suffix}",
                uscc=f"9142{suffix.upper()}{n:06d}"[:18].ljust(18, "0"),
                industry="steel",
                region_code=region,
                grade="B",
            )
            login = f"scale-{suffix}"
            admin = AccountSpec(login=login, display_name="管理员", password_hash=digest)
            tenant_id = await onboard_tenant(database.session, spec, admin, platform)
            admins[tenant_id] = login
            principal = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login=login)
            for k in range(min(per_tenant, agents - len(sites))):
                async with database.session(principal) as session, session.begin():
                    site = m.Site(tenant_id=tenant_id, name=f"厂区{k}", address="")
                    session.add(site)
                    await session.flush()
                    gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code=f"G{k}", name="东门")
                    session.add(gate)
                    await session.flush()
                    lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="IN1", name="入口", direction="in")
                    lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="OUT1", name="出口", direction="out")
                    session.add_all([lane_in, lane_out])
                    await session.flush()
                    site_id, lanes = site.id, (lane_in.id, lane_out.id)
                agent_id, token = await issue_agent_credential(database, principal, site_id, f"扩展代理{k}")
                sites.append(Site(tenant_id, site_id, lanes, agent_id, token))
    finally:
        await database.dispose()
    return Fleet(sites, admins, regulator)


# --------------------------------------------------------------------------- simulated agents


def chain(site: Site, count: int) -> list[PassEvent]:
    """``count`` sealed events of one agent, seq 1..count."""
    prev, out = GENESIS_HASH, []
    for n in range(1, count + 1):
        event = seal_event(draft(site, n), seq=n, prev_hash=prev)
        prev = event.hash
        out.append(event)
    return out


@dataclass
class ScaleAgent:
    """A simulated agent: passes born at a steady rate, sent in batches, resent after a reconnect."""

    site: Site
    events: list[PassEvent]
    url: str
    born: int = 0
    acked: int = 0
    replica: str = ""
    #: (monotonic time of the welcome, replica name) per connection.
    connects: list[tuple[float, str]] = field(default_factory=list)
    drops: list[float] = field(default_factory=list)
    #: command id → monotonic time it arrived.
    commands: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def produce(self, interval_s: float, offset_s: float) -> None:
        """Give birth to the events one every ``interval_s`` (after ``offset_s``)."""
        start = time.monotonic() + offset_s
        for k in range(len(self.events)):
            delay = start + k * interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.born = k + 1
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected (reconnecting through the balancer) until ``stop``, like a real agent."""
        rng = random.Random(str(self.site.agent_id))
        delay = 0.1
        while not stop.is_set():
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.site.token}"},
                    max_size=msg.MAX_FRAME_BYTES,
                    open_timeout=10,
                ) as ws:
                    replica = ws.response.headers.get(REPLICA_HEADER, "") if ws.response is not None else ""
                    await ws.send(
                        msg.encode(
                            msg.Hello(
                                agent_id=str(self.site.agent_id),
                                last_acked_seq=self.acked,
                                agent_clock=datetime.now(UTC),
                                features=[msg.FEATURE_COMMANDS],
                            )
                        )
                    )
                    welcome = msg.decode(await asyncio.wait_for(ws.recv(decode=False), 15))
                    if not isinstance(welcome, msg.Welcome):
                        raise TypeError(f"no welcome: {welcome!r}")  # noqa: TRY301
                    self.replica = replica
                    self.connects.append((time.monotonic(), replica))
                    self.acked = max(self.acked, welcome.last_stored_seq)
                    delay = 0.1
                    await self._session(ws, stop)
            except (OSError, TimeoutError, WebSocketException, TypeError) as exc:
                self.errors.append(type(exc).__name__)
            if self.replica:
                self.drops.append(time.monotonic())
            self.replica = ""
            if not stop.is_set():
                await asyncio.sleep(delay * (0.5 + rng.random()))
                delay = min(1.0, delay * 2)

    async def _session(self, ws: Any, stop: asyncio.Event) -> None:
        inflight: list[int] = []
        slots = asyncio.Semaphore(4)
        total = len(self.events)

        async def read() -> None:
            while True:
                message = msg.decode(await ws.recv(decode=False))
                if isinstance(message, msg.Ack):
                    self.acked = max(self.acked, message.up_to_seq)
                    for seq in [s for s in inflight if s <= message.up_to_seq]:
                        inflight.remove(seq)
                        slots.release()
                elif isinstance(message, msg.Command):
                    self.commands.setdefault(message.command_id, time.monotonic())
                    await ws.send(msg.encode(msg.CommandResult(command_id=message.command_id, ok=True, message="ok")))

        async def send() -> None:
            next_seq = self.acked + 1
            while next_seq <= total:
                while self.born < next_seq:
                    self._wake.clear()
                    await self._wake.wait()
                await slots.acquire()
                chunk = self.events[next_seq - 1 : min(self.born, next_seq - 1 + 100)]
                inflight.append(chunk[-1].seq)
                await ws.send(msg.encode(msg.EventBatch(events=chunk)))
                next_seq += len(chunk)
            await asyncio.Future()  # the reader ends the session

        reader = asyncio.create_task(read())
        sender = asyncio.create_task(send())
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({reader, sender, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()
        finally:
            for task in (reader, sender, stopper):
                task.cancel()
            with contextlib.suppress(Exception):
                await ws.close()


# --------------------------------------------------------------------------- API / portal load


@dataclass
class Probe:
    """Latencies (seconds) and failures of the API/portal clients."""

    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


async def login(client: httpx.AsyncClient, who: str) -> dict[str, str]:
    """Log in through the API; bearer headers (the session cookie is kept by the client too)."""
    response = await client.post("/api/v1/auth/login", json={"login": who, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def api_load(base_url: str, fleet: Fleet, clients: int, stop: asyncio.Event, probe: Probe) -> None:
    """``clients`` loops of tenant-admin API calls, portal pages and regulator reads until ``stop``."""
    tenants = list(fleet.admins.items())

    async def one(k: int) -> None:
        tenant_id, admin = tenants[k % len(tenants)]
        regulator = k % 4 == 3
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            for attempt in range(20):
                try:
                    headers = await login(client, fleet.regulator if regulator else admin)
                    break
                except (httpx.HTTPError, KeyError):
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.5)
            if regulator:
                paths = [
                    "/api/v1/regulator/enterprises",
                    f"/api/v1/regulator/enterprises/{tenant_id}/passes?limit=20",
                    "/regulator",
                ]
            else:
                paths = ["/api/v1/passes?limit=20", "/api/v1/agents", "/api/v1/sites", "/portal/ledger"]
            n = 0
            while not stop.is_set():
                path = paths[n % len(paths)]
                n += 1
                started = time.monotonic()
                try:
                    response = await client.get(path, headers=headers)
                    if response.status_code != 200:
                        key = f"{response.status_code}"
                        probe.failures[key] = probe.failures.get(key, 0) + 1
                    else:
                        probe.latencies.append(time.monotonic() - started)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    probe.failures[key] = probe.failures.get(key, 0) + 1
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one(k) for k in range(clients)))


async def cross_replica_commands(
    clouds: dict[str, Cloud], agents: list[ScaleAgent], fleet: Fleet, per_replica: int, limit_s: float = 20.0
) -> dict[str, Any]:
    """From every live replica's own port, ``reload_config`` to agents held by *other* replicas.

    Latency runs from the API call on the issuing replica to the command's arrival at the agent (it
    crossed replicas by LISTEN/NOTIFY, ADR 0008).
    """
    issued: list[tuple[ScaleAgent, str, float]] = []
    for name, cloud in clouds.items():
        if cloud.proc is None:
            continue
        others = [a for a in agents if a.replica and a.replica != name and a.replica in clouds]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cloud.port}", timeout=30) as client:
            headers: dict[str, dict[str, str]] = {}
            for agent in others[:per_replica]:
                admin = fleet.admins[agent.site.tenant_id]
                if admin not in headers:
                    headers[admin] = await login(client, admin)
                started = time.monotonic()
                response = await client.post(
                    f"/api/v1/agents/{agent.site.agent_id}/commands",
                    json={"name": "reload_config"},
                    headers=headers[admin],
                )
                response.raise_for_status()
                issued.append((agent, str(response.json()["id"]), started))
    await until(lambda: all(cid in a.commands for a, cid, _ in issued), limit_s)
    latencies = [a.commands[cid] - t0 for a, cid, t0 in issued if cid in a.commands]
    return {
        "issued": len(issued),
        "delivered": len(latencies),
        "p50_ms": round(1000 * pct(latencies, 0.5), 1),
        "max_ms": round(1000 * pct(latencies, 1.0), 1),
    }


# --------------------------------------------------------------------------- verification


async def ledger_counts(dsn: str, agents: list[ScaleAgent]) -> dict[str, int]:
    """pass_event rows against the event ids sent (by UUID): stored, lost, duplicated, unexpected."""
    sent = {uuid.UUID(e.event_id) for a in agents for e in a.events}
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM pass_event WHERE agent_id = ANY($1::uuid[])", [a.site.agent_id for a in agents]
        )
    finally:
        await conn.close()
    ids = [r["id"] for r in rows]
    distinct = set(ids)
    return {
        "sent": len(sent),
        "stored": len(ids),
        "lost": len(sent - distinct),
        "duplicated": len(ids) - len(distinct),
        "unexpected": len(distinct - sent),
    }


async def sample_replay_lag(primary_dsn: str, stop: asyncio.Event, out: list[float]) -> None:
    """Sample ``pg_stat_replication.replay_lag`` (seconds) every 250 ms until ``stop``."""
    conn = await asyncpg.connect(primary_dsn)
    try:
        while not stop.is_set():
            lag = await conn.fetchval(
                "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0)::float8 FROM pg_stat_replication"
            )
            out.append(float(lag or 0.0))
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def standby_transactions(dsn: str, replica_url: str) -> int:
    """Transactions the standby has run in the bench's database (the regulator's reads land there)."""
    from cloud.db.engine import on_replica  # noqa: PLC0415

    conn = await asyncpg.connect(on_replica(dsn, replica_url).replace("postgresql+asyncpg://", "postgresql://"))
    try:
        count = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return int(count or 0)


# --------------------------------------------------------------------------- one run


@dataclass
class Options:
    """Sizes of one run."""

    agents: int = 200
    replicas: int = 3
    seconds: float = 60.0
    rate: float = 1.0
    api_clients: int = 8
    kill: bool = True
    pool: int = 4
    commands_per_replica: int = 5
    replica_url: str = ""
    reconnect_limit_s: float = 10.0


async def run(opts: Options, urls: Any, dsn: str, workdir: Path, label: str) -> dict[str, Any]:
    """One run: onboard, start the replicas and HAProxy, stream, load, kill, verify."""
    fleet = await onboard(urls, opts.agents)
    events_per_agent = max(1, int(opts.seconds * opts.rate))
    blob_root = workdir / "blobs"
    blob_root.mkdir(parents=True, exist_ok=True)
    clouds: dict[str, Cloud] = {}
    for k in range(opts.replicas):
        folder = workdir / f"r{k}"
        folder.mkdir(parents=True, exist_ok=True)
        cloud = Cloud(urls, folder, pool_size=opts.pool)
        cloud.env["ECOGATE_BLOB_ROOT"] = str(blob_root)  # one shared store, as in production
        cloud.env["ECOGATE_TRUST_FORWARDED"] = "1"
        if opts.replica_url:
            cloud.env["DATABASE_REPLICA_URL"] = opts.replica_url
        clouds[f"r{k}"] = cloud
    await asyncio.gather(*(asyncio.to_thread(c.start) for c in clouds.values()))
    balancer = HAProxy(workdir / "haproxy", {name: c.port for name, c in clouds.items()})
    await asyncio.to_thread(balancer.start)
    result: dict[str, Any] = {"run": label, "agents": opts.agents, "replicas": opts.replicas, "seconds": opts.seconds}
    result["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]
    stop_load = asyncio.Event()
    stop_agents = asyncio.Event()
    probe = Probe()
    lags: list[float] = []
    agents = [ScaleAgent(s, chain(s, events_per_agent), balancer.ws_url) for s in fleet.sites]
    tasks: list[asyncio.Task[Any]] = []
    try:
        tasks = [asyncio.create_task(a.run(stop_agents)) for a in agents]
        started = time.monotonic()
        await until(lambda: all(a.connects for a in agents), 120, 0.1)
        result["all_connected_s"] = round(time.monotonic() - started, 2)
        result["spread_before"] = _spread(agents)
        interval = 1.0 / opts.rate
        producers = [
            asyncio.create_task(a.produce(interval, offset_s=k * interval / len(agents))) for k, a in enumerate(agents)
        ]
        load = asyncio.create_task(api_load(balancer.http_url, fleet, opts.api_clients, stop_load, probe))
        lag_task = asyncio.create_task(sample_replay_lag(dsn, stop_load, lags)) if opts.replica_url else None
        stream_start = time.monotonic()
        await asyncio.sleep(opts.seconds / 3)
        result["commands_before"] = await cross_replica_commands(clouds, agents, fleet, opts.commands_per_replica)
        if opts.kill and len(clouds) > 1:
            victim = max(clouds, key=lambda name: sum(1 for a in agents if a.replica == name))
            held = [a for a in agents if a.replica == victim]
            proc = clouds[victim].proc
            assert proc is not None
            killed_at = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            clouds[victim].proc = None
            result["killed"] = victim
            result["killed_held_agents"] = len(held)
            await until(lambda: all(any(t > killed_at for t, _ in a.connects) for a in held), 60)
            times = [
                min(t for t, _ in a.connects if t > killed_at) - killed_at
                for a in held
                if a.connects[-1][0] > killed_at
            ]
            result["reconnected"] = len(times)
            result["reconnect_p50_s"] = round(pct(times, 0.5), 2)
            result["reconnect_p95_s"] = round(pct(times, 0.95), 2)
            result["reconnect_max_s"] = round(pct(times, 1.0), 2)
            result["reconnect_over_limit"] = (
                sum(1 for t in times if t > opts.reconnect_limit_s) + len(held) - len(times)
            )
            result["landed_on_victim"] = sum(1 for a in held if a.connects[-1][1] == victim)
            result["spread_after"] = _spread(agents)
            result["commands_after"] = await cross_replica_commands(clouds, agents, fleet, opts.commands_per_replica)
        await asyncio.gather(*producers)
        await until(lambda: all(a.acked >= len(a.events) for a in agents), 180, 0.1)
        stream_s = time.monotonic() - stream_start
        stop_load.set()
        await load
        if lag_task is not None:
            await lag_task
        total = sum(len(a.events) for a in agents)
        result["ingest_eps"] = round(sum(a.acked for a in agents) / stream_s, 1)
        result["api_requests"] = len(probe.latencies)
        result["api_p50_ms"] = round(1000 * pct(probe.latencies, 0.5), 1)
        result["api_p95_ms"] = round(1000 * pct(probe.latencies, 0.95), 1)
        result["api_failures"] = probe.failures
        if opts.replica_url:
            result["replay_lag_p50_ms"] = round(1000 * pct(lags, 0.5), 1)
            result["replay_lag_p95_ms"] = round(1000 * pct(lags, 0.95), 1)
            result["replay_lag_max_ms"] = round(1000 * pct(lags, 1.0), 1)
        if opts.replica_url:
            result["replica_xacts"] = await standby_transactions(dsn, opts.replica_url)
        result["events_total"] = total
        result.update(await ledger_counts(dsn, agents))
        result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        log_text = (workdir / "haproxy" / "haproxy.log").read_text(errors="replace")
        result["balancer_down"] = [
            line.split("Server cloud/", 1)[1][:2] for line in log_text.splitlines() if " is DOWN" in line
        ]
    finally:
        stop_load.set()
        stop_agents.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(balancer.stop)
        for cloud in clouds.values():
            await asyncio.to_thread(cloud.stop)
    return result


def _spread(agents: list[ScaleAgent]) -> dict[str, int]:
    spread: dict[str, int] = {}
    for a in agents:
        spread[a.replica or "-"] = spread.get(a.replica or "-", 0) + 1
    return dict(sorted(spread.items()))


def ok(result: dict[str, Any]) -> bool:
    """Acceptance of one run: nothing lost or doubled, reconnects within the limit, commands delivered."""
    good = result["lost"] == 0 and result["duplicated"] == 0 and result["unexpected"] == 0
    if "killed" in result:
        good &= result["reconnect_over_limit"] == 0 and result["landed_on_victim"] == 0
        good &= result["commands_after"]["delivered"] == result["commands_after"]["issued"]
    good &= result["commands_before"]["delivered"] == result["commands_before"]["issued"]
    return bool(good)


# --------------------------------------------------------------------------- CLI


async def main_async(args: argparse.Namespace) -> int:
    """Database (embedded unless DATABASE_URL), optional streaming replica, the two runs."""
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ecogate-scale-out-") as tmp:
        admin = os.environ.get("DATABASE_URL", "")
        server: EmbeddedPostgres | None = None
        standby: Any = None
        if not admin:
            server = await asyncio.to_thread(EmbeddedPostgres(Path(tmp) / "pg").start)
            admin = server.admin_url
        try:
            urls = await bootstrap_database(admin, "ecogate_scale_out", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            dsn = superuser_dsn(admin, urls.app_url)
            replica_url = ""
            if args.pg_replica:
                if server is None:
                    raise SystemExit("--pg-replica needs the embedded server (no DATABASE_URL)")
                from infra.replica import StreamingReplica  # noqa: PLC0415

                standby = await asyncio.to_thread(StreamingReplica(server, Path(tmp) / "standby").start)
                replica_url = standby.url_for(urls.regulator_url)
            base = Options(
                agents=args.agents,
                seconds=args.seconds,
                rate=args.rate,
                api_clients=args.api_clients,
                pool=args.pool,
                replica_url=replica_url,
            )
            runs = [("single", 1, False), ("scale-out", args.replicas, True)]
            if args.only:
                runs = [r for r in runs if r[0] == args.only]
            for label, replicas, kill in runs:
                opts = Options(**{**base.__dict__, "replicas": replicas, "kill": kill})
                result = await run(opts, urls, dsn, Path(tmp) / label, label)
                result["ok"] = ok(result)
                results.append(result)
                print(json.dumps(result, ensure_ascii=False), flush=True)
        finally:
            if standby is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(standby.stop)
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(server.stop)
    if not args.json:
        table(results)
    return 0 if all(r["ok"] for r in results) else 1


def table(results: list[dict[str, Any]]) -> None:
    """The two runs side by side."""
    keys = [
        "replicas",
        "agents",
        "killed_held_agents",
        "lost",
        "duplicated",
        "reconnect_p50_s",
        "reconnect_p95_s",
        "reconnect_max_s",
        "api_p50_ms",
        "api_p95_ms",
        "api_requests",
        "api_failures",
        "ingest_eps",
        "commands_before",
        "commands_after",
        "replay_lag_p95_ms",
        "replay_lag_max_ms",
        "replica_xacts",
        "balancer_down",
        "load_avg_before",
        "load_avg_after",
    ]
    print(f"{'':<22}" + "".join(f"{r['run']:>34}" for r in results))
    for key in keys:
        print(f"{key:<22}" + "".join(f"{json.dumps(r.get(key, '-'), ensure_ascii=False):>34}" for r in results))


def main() -> int:
    """Parse the command line and run the bench."""
    parser = argparse.ArgumentParser(description="多副本扩展基准：HAProxy + 3 个云端副本，杀掉一个")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the streaming phase")
    parser.add_argument("--rate", type=float, default=1.0, help="passes per second per agent")
    parser.add_argument("--api-clients", type=int, default=8, help="concurrent API/portal clients")
    parser.add_argument("--pool", type=int, default=4, help="DATABASE_POOL_SIZE per replica")
    parser.add_argument("--pg-replica", action="store_true", help="a streaming replica serves the regulator's reads")
    parser.add_argument("--only", choices=["single", "scale-out"], help="one of the two runs")
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
