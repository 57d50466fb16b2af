"""Regulator pre-pass check latency (issues 4 and 8): through the cloud vs. straight to the platform.

Real processes over real TCP: the platform simulator (``python -m infra.regsim``, transportControl
``getCheckVehicle``) and the cloud (``ecogate cloud serve``) run as subprocesses on an embedded PostgreSQL
(or ``DATABASE_URL``, an admin URL); this script is the agent (:class:`agent.sync.SyncClient` with its
:class:`~agent.sync.precheck.PrecheckBroker`). It times ``--checks`` sequential pre-pass checks the way the
decision engine asks them (agent → hub → adapter → platform → back), and, in the same run, the same number
of direct ``pre_pass_check`` calls of a :class:`TransportControlAdapter` to the same simulator (the
baseline: what the cloud hop adds is the difference). Every tenth plate ends in ``X`` (the simulator
refuses those), so both verdicts are exercised. Prints one line per path with p50/p95/max in ms::

    .venv/bin/python bench/precheck.py --checks 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import structlog  # noqa: E402
from soak_sync import Cloud, free_port, make_sites  # noqa: E402

from agent.decision.engine import DecisionRequest  # noqa: E402
from agent.outbox import Outbox  # noqa: E402
from agent.sync import SyncClient  # noqa: E402
from agent.sync.precheck import PrecheckBroker  # noqa: E402
from agent_protocol.events import Direction  # noqa: E402
from cloud.uplink.adapters import PlatformConfig  # noqa: E402
from cloud.uplink.adapters.transport_control import TransportControlAdapter  # noqa: E402
from hj1321.plates import PlateColour  # noqa: E402
from infra.pg import EmbeddedPostgres  # noqa: E402

ENTERPRISE = "410100000001"
ACCOUNT = ("ecogate", "EcoGate@2026")


def _plate(n: int) -> str:
    return f"豫A{n % 10000:04d}" + ("X" if n % 10 == 0 else "8")


def _stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    return f"p50={statistics.median(ms):.1f} ms p95={p95:.1f} ms max={ms[-1]:.1f} ms (n={len(ms)})"


class Simulator:
    """``python -m infra.regsim`` on a free port."""

    def __init__(self, workdir: Path) -> None:
        """Prepare (not start)."""
        self.port = free_port()
        self.log_path = workdir / "regsim.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until the inspection endpoint answers."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "infra.regsim", "--port", str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ECOGATE_LOG_LEVEL": "warning"},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_sim/state", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("simulator did not start")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


async def _configure(urls: object, tenant_id: uuid.UUID, base_url: str) -> None:
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from cloud.uplink import platforms  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    database = Database.from_settings(
        DatabaseSettings(
            app_url=urls.app_url,  # type: ignore[attr-defined]
            owner_url=urls.owner_url,  # type: ignore[attr-defined]
            regulator_url=urls.regulator_url,  # type: ignore[attr-defined]
            pool_size=1,
        )
    )
    actor = Principal(user_id=uuid.UUID(int=4), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="bench")
    try:
        async with database.session(actor) as session, session.begin():
            await platforms.configure(
                session,
                tenant_id,
                profile="transport_control",
                base_url=base_url,
                enterprise_code=ENTERPRISE,
                credentials={"username": ACCOUNT[0], "password": ACCOUNT[1]},
            )
    finally:
        await database.dispose()


async def _through_cloud(cloud: Cloud, site: object, workdir: Path, checks: int) -> tuple[list[float], Counter[str]]:
    box = Outbox(workdir / "agent-outbox", agent_id=str(site.agent_id))  # type: ignore[attr-defined]
    broker = PrecheckBroker(budget_s=5.0)
    sync = SyncClient(cloud.url, site.token, box, heartbeat_s=30.0, prechecks=broker)  # type: ignore[attr-defined]
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    lane = str(site.lanes[0])  # type: ignore[attr-defined]
    samples: list[float] = []
    verdicts: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + 30
        while not broker.available:
            if time.monotonic() > deadline or task.done():
                raise RuntimeError("the agent did not connect to a cloud offering pre-pass checks")
            await asyncio.sleep(0.05)
        for n in range(checks + 5):
            req = DecisionRequest(
                lane_id=lane,
                direction=Direction.IN,
                moment=datetime.now(UTC),
                plate=_plate(n),
                plate_colour=PlateColour.YELLOW,
            )
            started = time.perf_counter()
            verdict = await sync.precheck(req)
            if n >= 5:  # the first checks build the adapter and fetch the token
                samples.append(time.perf_counter() - started)
                verdicts[verdict.code or "none"] += 1
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        box.close()
    return samples, verdicts


async def _direct(base_url: str, checks: int) -> tuple[list[float], Counter[str]]:
    adapter = TransportControlAdapter(
        PlatformConfig(
            profile="transport_control",
            base_url=base_url,
            enterprise_code=ENTERPRISE,
            credentials={"username": ACCOUNT[0], "password": ACCOUNT[1]},
        )
    )
    samples: list[float] = []
    verdicts: Counter[str] = Counter()
    try:
        for n in range(checks + 5):
            started = time.perf_counter()
            result = await adapter.pre_pass_check(_plate(n), "yellow", "G01")
            if n >= 5:
                samples.append(time.perf_counter() - started)
                verdicts["allow" if result is not None and result.allowed else "refuse"] += 1
    finally:
        await adapter.close()
    return samples, verdicts


async def _main(args: argparse.Namespace) -> int:
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="ecogate-bench-precheck-") as tmp:
        workdir = Path(tmp)
        admin = os.environ.get("DATABASE_URL", "")
        server = None
        if not admin:
            server = await asyncio.to_thread(EmbeddedPostgres(workdir / "pg").start)
            admin = server.admin_url
        sim = Simulator(workdir)
        cloud: Cloud | None = None
        try:
            urls = await bootstrap_database(admin, "ecogate_bench_precheck", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            await asyncio.to_thread(sim.start)
            (site,) = await make_sites(urls)
            await _configure(urls, site.tenant_id, sim.url)
            cloud = Cloud(urls, workdir / "cloud")
            await asyncio.to_thread(cloud.start)
            # Interleave the two paths in rounds so a busy machine weighs on both alike.
            through: list[float] = []
            direct: list[float] = []
            via_counts: Counter[str] = Counter()
            direct_counts: Counter[str] = Counter()
            per_round = max(1, args.checks // args.rounds)
            for _ in range(args.rounds):
                samples, counts = await _through_cloud(cloud, site, workdir, per_round)
                through += samples
                via_counts += counts
                samples, counts = await _direct(sim.url, per_round)
                direct += samples
                direct_counts += counts
            print(f"precheck through cloud (agent→hub→platform): {_stats(through)} {dict(via_counts)}", flush=True)
            print(f"precheck direct to simulator (baseline):     {_stats(direct)} {dict(direct_counts)}", flush=True)
            added = statistics.median(through) - statistics.median(direct)
            print(f"cloud hop adds p50 {added * 1000:.1f} ms; engine budget (precheck_timeout_s) 1000 ms", flush=True)
        finally:
            if cloud is not None:
                await asyncio.to_thread(cloud.stop)
            await asyncio.to_thread(sim.stop)
            if server is not None:
                server.stop()
    return 0


def main() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--checks", type=int, default=500, help="timed checks per path")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the two paths")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # figures only
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
