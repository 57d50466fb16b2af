"""Chaos at every layer (issue 16): agent, cloud and PostgreSQL SIGKILLs, a database outage, link cuts.

Everything is a real process over real TCP: PostgreSQL (embedded, or ``DATABASE_URL``, an admin URL),
``ecogate cloud serve`` with its regulator uplink workers (``ECOGATE_UPLINK_WORKERS=1``), the
regulator platform simulator (``infra.regsim``, in this process) configured as the tenant's
``transport_control`` platform, and the real agent (``ecogate agent run`` through
``bench/soak_gate.py --agent-child``) with a spool lane, the Modbus relay barrier driver on a pty to a
:class:`~agent.devices.sim.RelayBarrierSimulator` (its relay log counts openings) and a ``[cloud]``
section that reaches the hub through :class:`infra.faultproxy.FaultProxy` (clean, except during a
link cut). For ``--minutes`` this script writes vehicle reads (registered plates allowed, others
refused) and, at random, one of:

* SIGKILL the agent (restart after 0.5–2 s);
* SIGKILL the cloud (restart after 1–3 s);
* SIGKILL PostgreSQL's postmaster and its backends (crash recovery on restart);
* a link cut: every connection through the proxy is reset and new ones refused for 5–30 s;

and, once per run, a **20 s database outage** (``pg_ctl -m immediate`` stop, start 20 s later) during
which it counts the agent's connection attempts at the proxy (limit: ≤ 5, issue 16: 243 before).

Then it stops the faults, lets everything drain (agent outbox acked, uplink queue empty), stops the
agent with SIGTERM and prints one table: per layer — agent outbox, cloud ledger rows, barrier
(journal opens, relay log), regulator simulator records, the portal's upload figures
(``cloud.uplink.outbox.upload_status``: records held by the platform) — the count, how many are
lost against the layer before, how many are doubled. Exit code 0 only with 0 lost and 0 doubled
everywhere, the upload figure equal to the simulator's stored count and ≤ 5 reconnects during the
outage::

    .venv/bin/python bench/chaos.py --minutes 10
    .venv/bin/python bench/chaos.py --minutes 2 --json     # CI size (tests/sync/test_chaos.py, slow)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from agent.decision.registry import save_snapshot  # noqa: E402
from agent.sync import enroll  # noqa: E402
from infra.faultproxy import FaultProxy, FaultSettings  # noqa: E402
from infra.pg import EmbeddedPostgres  # noqa: E402

#: Connection attempts an agent may make during the 20 s database outage.
OUTAGE_RECONNECT_LIMIT = 5
OUTAGE_S = 20.0


def _bench(name: str) -> ModuleType:
    """Another bench script as a module (``bench/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


soak_gate = _bench("soak_gate")
soak_sync = _bench("soak_sync")


@dataclass
class Layer:
    """One row of the table."""

    layer: str
    count: int
    lost: int = 0
    doubled: int = 0
    note: str = ""


@dataclass
class Figures:
    """What the chaos run did and counted."""

    minutes: float = 0.0
    agent_kills: int = 0
    cloud_kills: int = 0
    pg_kills: int = 0
    link_cuts: int = 0
    outages: int = 0
    outage_reconnects: list[int] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    upload_held: int | None = None
    upload_rate: str | None = None
    regsim_records: int = 0
    drained: bool = False
    agent_exit: int | None = None
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)


def write_agent_config(work: Path, site: Any, proxy_url: str, credential_dir: Path) -> Path:
    """The agent's config: one spool lane (the cloud's 'in' lane) with a relay barrier, and [cloud]."""
    data = work / "agent-data"
    text = f"""
registry_seed = "{work / "registry-seed.json"}"

[agent]
id = "{site.agent_id}"
data_dir = "{data}"
log_level = "warning"
command_journal = true
restart_budget = 20

[site]
id = "{site.site_id}"
name = "混沌测试厂区"

[booth]
enabled = false

[[devices.barriers]]
type = "modbus_relay"
name = "chaos-barrier"
port = "{work / "barrier"}"
pulse_s = 0.01
poll_s = 0.2
timeout_s = 0.5

[[lanes]]
id = "{site.lanes[0]}"
name = "混沌测试入口"
direction = "in"
barrier = "chaos-barrier"
max_read_age_s = 30.0

[lanes.source]
type = "spool"
path = "{work / "reads.jsonl"}"
poll_s = 0.02

[evidence]
clip = false

[cloud]
url = "{proxy_url}"
credential_file = "{credential_dir / "credential.json"}"
heartbeat_s = 2.0
"""
    path = work / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def configure_platform(urls: Any, tenant_id: uuid.UUID, regsim_url: str) -> None:
    """The tenant's regulator platform: the simulator, ``transport_control`` profile."""
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from cloud.uplink import platforms  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.models import Tenant  # noqa: PLC0415

    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    scope = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="chaos")
    try:
        async with database.session(scope) as session, session.begin():
            tenant = (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
            await platforms.configure(
                session,
                tenant_id,
                profile="transport_control",
                base_url=regsim_url,
                enterprise_code=str(tenant.uscc),
                credentials={"username": "ecogate", "password": "EcoGate@2026"},
                enterprise_name=str(tenant.name),
            )
    finally:
        await database.dispose()


async def register_vehicles(urls: Any, dsn: str, tenant_id: uuid.UUID, plates: list[str]) -> None:
    """The allowed plates in the tenant's vehicle ledger (the agent's registry comes from the cloud)."""
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.domain.vehicles import create_vehicle  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from infra.demo import demo_vin  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    conn = await asyncpg.connect(dsn)
    try:
        admin = await conn.fetchval("SELECT user_id FROM membership WHERE tenant_id = $1 LIMIT 1", tenant_id)
    finally:
        await conn.close()
    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    scope = Principal(user_id=admin, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="chaos")
    try:
        for i, plate in enumerate(plates):
            data = {
                "plate": plate,
                "plate_colour": "yellow",
                "vin": demo_vin(500 + i),
                "vehicle_type": "H11",
                "total_mass_kg": 49_000,
                "fuel_type": "diesel",
                "emission_stage": "6",
            }
            async with database.session(scope) as session, session.begin():
                await create_vehicle(session, scope, "transport", data, reason="混沌测试")
    finally:
        await database.dispose()


async def upload_figures(urls: Any, tenant_id: uuid.UUID) -> dict[str, Any] | None:
    """What the portal shows: ``cloud.uplink.outbox.upload_status`` over the whole run."""
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from cloud.uplink.outbox import upload_status  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    scope = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="chaos")
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    try:
        async with database.session(scope) as session, session.begin():
            return await upload_status(session, tenant_id, start, end)
    finally:
        await database.dispose()


async def cloud_rows(dsn: str, agent_id: uuid.UUID) -> list[str]:
    """Event ids of the agent's ledger rows (superuser DSN: no RLS)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id FROM pass_event WHERE agent_id = $1", agent_id)
    finally:
        await conn.close()
    return [str(r["id"]) for r in rows]


def pg_kill(pg: EmbeddedPostgres) -> None:
    """SIGKILL the postmaster and every backend of this cluster (a crash: recovery on the next start)."""
    pgdata = pg._pgdata  # noqa: SLF001 - the bench needs the cluster's folder
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    master = int(pid_file.read_text().splitlines()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    children.append(int(entry.name))
    for pid in [master, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in [master, *children]):
        time.sleep(0.05)


def pg_immediate_stop(pg: EmbeddedPostgres) -> None:
    """``pg_ctl -m immediate stop``: no checkpoint, crash recovery on the next start."""
    pg._run_as_service(["pg_ctl", "-D", str(pg._pgdata), "-m", "immediate", "-w", "stop"])  # noqa: SLF001


async def chaos(args: argparse.Namespace) -> Figures:
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from infra.regsim import RegulatorSimulator  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    fig = Figures(minutes=args.minutes)
    rng = random.Random(args.seed)
    started = time.monotonic()
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ecogate-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    admin = os.environ.get("DATABASE_URL", "")
    pg: EmbeddedPostgres | None = None
    if not admin:
        pg = await asyncio.to_thread(EmbeddedPostgres(work / "pg").start)
        admin = pg.admin_url
    urls = await bootstrap_database(admin, "ecogate_chaos", recreate=True)
    await asyncio.to_thread(upgrade, urls.owner_url)
    dsn = soak_sync.superuser_dsn(admin, urls.app_url)
    regsim = RegulatorSimulator()
    await regsim.start()
    (site,) = await soak_sync.make_sites(urls)
    await configure_platform(urls, site.tenant_id, str(regsim.url))
    cloud = soak_sync.Cloud(urls, work / "cloud")
    cloud_env = {"ECOGATE_UPLINK_WORKERS": "1"}
    await asyncio.to_thread(cloud.start, cloud_env)
    proxy = FaultProxy(upstream_port=cloud.port, settings=FaultSettings(refuse_probability=1.0), enabled=False)
    await proxy.start()
    proxy_url = f"ws://127.0.0.1:{proxy.port}/agent/ws"
    creds = work / "credential"
    enroll.save_credential(
        creds,
        enroll.Credential(
            agent_id=str(site.agent_id),
            tenant_id=str(site.tenant_id),
            site_id=str(site.site_id),
            token=site.token,
            hub_url=proxy_url,
        ),
    )
    # The arm comes down 1 s after it is up (the truck has passed): "arm up" after a crash then means
    # this pass's open reached the relay, not an earlier one's.
    barrier = soak_gate.BarrierSim(work / "barrier", work / "relay.jsonl", auto_close_s=1.0)
    barrier.start()
    feeder = soak_gate.Feeder(work / "reads.jsonl", rate=args.rate, refuse_share=0.3, rng=rng)
    feeder.allowed_plates = feeder.allowed_plates[: args.vehicles]
    await register_vehicles(urls, dsn, site.tenant_id, feeder.allowed_plates)
    save_snapshot(work / "registry-seed.json", feeder.registry())
    config = write_agent_config(work, site, proxy_url, creds)
    agent = soak_gate.Agent(config, work / "agent.log", real_recognizer=False)
    agent.start()
    feeder.start()
    feeder.enabled.set()
    outage_at = rng.uniform(0.3, 0.6) * args.minutes * 60
    end = time.monotonic() + args.minutes * 60
    try:
        while time.monotonic() < end:
            await asyncio.sleep(rng.uniform(args.gap_s * 0.5, args.gap_s * 1.5))
            now = time.monotonic() - started
            if pg is not None and fig.outages == 0 and now >= outage_at:
                before = proxy.counts.connections
                await asyncio.to_thread(pg_immediate_stop, pg)
                await asyncio.sleep(OUTAGE_S)
                fig.outage_reconnects.append(proxy.counts.connections - before)
                await asyncio.to_thread(pg.start)
                fig.outages += 1
                continue
            fault = rng.choice(["agent", "agent", "cloud", "pg", "link"])
            if fault == "agent":
                agent.kill()
                fig.agent_kills += 1
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                agent.start()
            elif fault == "cloud":
                await asyncio.to_thread(cloud.kill)
                fig.cloud_kills += 1
                await asyncio.sleep(rng.uniform(1.0, 3.0))
                await asyncio.to_thread(cloud.start, cloud_env)
            elif fault == "pg" and pg is not None:
                await asyncio.to_thread(pg_kill, pg)
                fig.pg_kills += 1
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                await asyncio.to_thread(pg.start)
            else:
                proxy.enabled = True
                proxy.cut_all(reset=True)
                fig.link_cuts += 1
                await asyncio.sleep(rng.uniform(5.0, 30.0))
                proxy.enabled = False
        # Drain: no more faults or reads; everything reaches the cloud and the platform.
        feeder.enabled.clear()
        if not agent.alive():
            agent.start()
        reads, _ = feeder.snapshot()
        db = work / "agent-data" / "outbox" / "outbox.db"
        deadline = time.monotonic() + args.drain_timeout_s
        while time.monotonic() < deadline:
            rows = soak_gate.read_outbox(db)
            stored_reads = {r[2] for r in rows}
            acked = await asyncio.to_thread(_acked_all, db)
            status = await upload_figures(urls, site.tenant_id)
            uploaded = status is not None and status["pending"] == 0 and status["total"] >= len(rows)
            if reads.keys() <= stored_reads and acked and uploaded:
                fig.drained = True
                break
            await asyncio.sleep(1.0)
        fig.agent_exit = agent.terminate()
        await _count(fig, work, dsn, site, urls, regsim, feeder)
    finally:
        if agent.alive():
            agent.kill()
        feeder.stop()
        barrier.stop()
        await proxy.stop()
        await asyncio.to_thread(cloud.stop)
        await regsim.stop()
        if pg is not None:
            await asyncio.to_thread(pg.stop)
    fig.seconds = round(time.monotonic() - started, 1)
    fig.load_avg = tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[assignment]
    print(f"work dir: {work}", file=sys.stderr)
    return fig


def _acked_all(db: Path) -> bool:
    import sqlite3  # noqa: PLC0415

    if not db.exists():
        return False
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM event WHERE status < 2").fetchone()[0]) == 0


async def _count(fig: Figures, work: Path, dsn: str, site: Any, urls: Any, regsim: Any, feeder: Any) -> None:
    """Fill the table and the violations."""
    reads, _ = feeder.snapshot()
    rows = soak_gate.read_outbox(work / "agent-data" / "outbox" / "outbox.db")
    by_read = Counter(r[2] for r in rows if r[2] is not None)
    outbox_ids = [r[1] for r in rows]
    fig.layers.append(
        Layer(
            "spool reads → agent outbox",
            len(rows),
            lost=sum(1 for r in reads if by_read[r] == 0),
            doubled=sum(n - 1 for n in by_read.values() if n > 1),
            note=f"{len(reads)} reads written",
        )
    )
    cloud = await cloud_rows(dsn, site.agent_id)
    in_cloud = Counter(cloud)
    fig.layers.append(
        Layer(
            "agent outbox → cloud ledger rows",
            len(cloud),
            lost=sum(1 for e in outbox_ids if in_cloud[e] == 0),
            doubled=len(cloud) - len(in_cloud),
        )
    )
    journal, _ = soak_gate.read_journal(work / "agent-data" / "barrier-commands.log")
    allowed = [r[1] for r in rows if r[4] == "allow"]
    opens = {e: soak_gate._opens(v) for e, v in journal.items()}  # noqa: SLF001
    not_opened = sum(1 for e in allowed if journal.get(e) and journal[e][-1].command in soak_gate.NOT_OPENED)
    relay = len(soak_gate.relay_opens(work / "relay.jsonl"))
    fig.layers.append(
        Layer(
            "allowed events → barrier opens (journal)",
            sum(c for _, c in opens.values()),
            lost=sum(1 for e in allowed if opens.get(e, (0, 0))[1] == 0) - not_opened,
            doubled=sum(1 for i, c in opens.values() if i > 1 or c > 1),
            note=f"{len(allowed)} allowed, {not_opened} recorded not opened (stale/unknown)",
        )
    )
    fig.layers.append(
        Layer(
            "barrier opens → relay log",
            relay,
            lost=max(0, sum(c for _, c in opens.values()) - relay),
            doubled=max(0, relay - sum(i for i, _ in opens.values())),
        )
    )
    fig.regsim_records = len(regsim.records)
    fig.layers.append(
        Layer(
            "cloud ledger → regulator simulator records",
            fig.regsim_records,
            lost=max(0, len(in_cloud) - fig.regsim_records),
            doubled=max(0, fig.regsim_records - len(in_cloud)),
            note=f"{regsim.state.duplicates} re-sends answered 记录已存在",
        )
    )
    status = await upload_figures(urls, site.tenant_id)
    if status is not None:
        fig.upload_held = int(status["held"])
        fig.upload_rate = status["upload_rate"]
        fig.layers.append(
            Layer(
                "portal upload figure (held) vs simulator",
                fig.upload_held,
                lost=max(0, fig.regsim_records - fig.upload_held),
                doubled=max(0, fig.upload_held - fig.regsim_records),
                note=f"upload rate {fig.upload_rate} % of {status['total']}",
            )
        )
    for layer in fig.layers:
        if layer.lost or layer.doubled:
            fig.violations.append(f"{layer.layer}: lost {layer.lost}, doubled {layer.doubled}")
    for n in fig.outage_reconnects:
        if n > OUTAGE_RECONNECT_LIMIT:
            fig.violations.append(f"{n} connection attempts during the {OUTAGE_S:g} s database outage")
    if not fig.drained:
        fig.violations.append("did not drain in time")
    if fig.agent_exit != 0:
        fig.violations.append(f"agent exit code {fig.agent_exit} after SIGTERM")


def print_table(fig: Figures) -> None:
    """One table, every layer."""
    print(f"{'layer':<46} {'count':>7} {'lost':>5} {'doubled':>8}  note")
    for layer in fig.layers:
        print(f"{layer.layer:<46} {layer.count:>7} {layer.lost:>5} {layer.doubled:>8}  {layer.note}")
    print(
        f"faults: {fig.agent_kills} agent kills, {fig.cloud_kills} cloud kills, {fig.pg_kills} PostgreSQL kills, "
        f"{fig.link_cuts} link cuts, {fig.outages} × {OUTAGE_S:g} s outage (pg_ctl -m immediate) with "
        f"{fig.outage_reconnects} connection attempts (limit {OUTAGE_RECONNECT_LIMIT}); "
        f"{fig.seconds} s, load {fig.load_avg}"
    )
    for line in fig.violations:
        print(f"VIOLATION {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the fault phase")
    parser.add_argument("--rate", type=float, default=5.0, help="reads per second")
    parser.add_argument("--gap-s", type=float, default=8.0, help="mean seconds between faults")
    parser.add_argument("--drain-timeout-s", type=float, default=240.0, help="wait for everything to arrive")
    parser.add_argument("--vehicles", type=int, default=20, help="registered (allowed) vehicles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default=None, help="work folder (default: a new temp folder)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)
    fig = asyncio.run(chaos(args))
    if args.json:
        print(json.dumps(asdict(fig), ensure_ascii=False))
    else:
        print_table(fig)
    return 0 if not fig.violations else 1


if __name__ == "__main__":
    sys.exit(main())
