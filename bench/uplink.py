"""Uplink benchmark: records delivered per second to the local regulator-platform simulator.

The simulator runs as its own process (``python -m infra.regsim``). Measured in one run:

  1. baseline — the simulator's own accept rate: pre-built ``shareDrivingRecord`` requests (fresh
     serials, one token) posted with the same concurrency, nothing else in the way;
  2. the uplink — ``--records`` pass events queued in the transactional outbox (the back-fill path,
     ``resend_period``) and delivered by ``--workers`` workers (claim a batch with a lease and commit,
     build each record from the ledger, send outside any transaction, settle the answers and attempt rows
     in short transactions; docs/adr/0027, 0042), while ``pg_stat_activity`` is sampled for the longest-open
     transaction (goal ≤ 1 s) and the load average is noted with each figure; with ``--repeat`` each further
     pair delivers new records of a new tenant (re-queueing delivered ones would measure a 补传);
  3. optionally (``--flaky``) the same with 20 % bad answers and a token expiry, reporting the
     duplicate submissions the simulator absorbed.

Prints each rate beside the baseline and their ratio, and the CPU each part spent per record (worker
processes, simulator, PostgreSQL's backends, baseline clients; psutil), which says where the time goes when the
machine is shared: on 2 busy cores the ratio of rates is close to the ratio of CPU per record. A run is timed
from the commit that queued the records to the last settle, on the database's clock. ``--processes`` runs the
workers as ``ecogate uplink run`` processes and the baseline from as many client processes (same concurrency
each, same event loop: ``--loop``, uvloop by default as the cloud and ``ecogate uplink run`` use).
``ECOGATE_BENCH_CPROFILE=/tmp/prefix`` writes each worker process's cProfile (CPU time) to ``prefix.<pid>``.
``--profile`` picks the platform family (the
simulator process is started with the same profile; its baseline is that family's pre-built requests:
``transport_serial`` a ``check`` then a ``record/pass`` per record, ``tianjin`` envelopes signed before
the clock starts, ``hengshui`` record lines over ``concurrency`` logged-in TCP connections).

    .venv/bin/python bench/uplink.py                                  # 20,000 records, transportControl
    .venv/bin/python bench/uplink.py --records 2000                   # quick run
    .venv/bin/python bench/uplink.py --profile hengshui --flaky       # another family, with faults
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil  # type: ignore[import-untyped]
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.blobs import BlobStore  # noqa: E402
from cloud.db.engine import Database  # noqa: E402
from cloud.db.migrate import upgrade  # noqa: E402
from cloud.settings import DatabaseSettings  # noqa: E402
from cloud.uplink import outbox, platforms, worker  # noqa: E402
from cloud.uplink.adapters import PlatformConfig  # noqa: E402
from cloud.uplink.adapters.tianjin import TianjinAdapter, public_key_of  # noqa: E402
from cloud.uplink.worker import UplinkWorker  # noqa: E402
from tenants.bootstrap import bootstrap_database  # noqa: E402
from tenants.context import Principal, Role  # noqa: E402
from tenants.ids import new_id  # noqa: E402

ENTERPRISE = "420107000001"
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
PROFILES = ("transport_control", "transport_serial", "tianjin", "hengshui")
SM2_PRIVATE = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"  # a bench-only key
CREDENTIALS = {"username": "ecogate", "password": "EcoGate@2026", "prksm2": SM2_PRIVATE}
#: Worker settings of the run (``--batch``, ``--pipelines``), passed to worker processes too.
WORKER: dict[str, int] = {"batch": 200, "pipelines": 2}
#: The event loop of the worker and baseline-client processes (``--loop``): the same for both, like for like.
LOOP = {"name": "uvloop"}
CLIENT_CPU = {"s": 0.0}  # the baseline client processes' CPU seconds (requests built and sent)


def run_loop(main: Any, loop: str) -> Any:
    """``asyncio.run`` on ``loop`` (``uvloop``, as ``ecogate uplink run`` and ``ecogate cloud serve`` use, or
    ``asyncio``)."""
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415

        return uvloop.run(main)
    return asyncio.run(main)


class CpuMeter:
    """CPU seconds (user + system) of groups of processes between :meth:`start` and :meth:`stop`.

    A group is a list of pids; the children of each pid are included (live ones, and those already reaped:
    PostgreSQL's backends come and go with the pools), so a figure is CPU per record per part, which a
    loaded machine does not change the way it changes a rate.
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    @staticmethod
    def _cpu(pid: int) -> float:
        try:
            proc = psutil.Process(pid)
            t = proc.cpu_times()
            children = proc.children(recursive=True)
        except psutil.Error:
            return 0.0
        total = t.user + t.system + t.children_user + t.children_system
        for child in children:
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
        return float(total)

    def _read(self) -> dict[str, float]:
        return {name: sum(self._cpu(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        self.seconds = {name: max(0.0, end[name] - self._start.get(name, 0.0)) for name in end}
        return self.seconds


def postmaster_pid(server: Any) -> int | None:
    """The embedded PostgreSQL's postmaster (its first backends' parent); None for an external server."""
    if server is None:
        return None
    pid_file = Path(server.data_dir) / "pgdata" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(pid_file.read_text().splitlines()[0])
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_http(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(url)
            await asyncio.sleep(0.1)


async def sim(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        call = (
            http.post(url + path, json=body or {})
            if body is not None or path != "/_sim/state"
            else http.get(url + path)
        )
        async with call as r:
            return dict(await r.json())


async def populate(admin_db: str, records: int, n: int = 1) -> uuid.UUID:
    """One tenant (site, gate, two lanes, agent) and ``records`` pass events, as the superuser (``n``: the
    tenant's number, distinct per tenant of a run)."""
    conn = await asyncpg.connect(admin_db)
    try:
        tid, site, gate, agent = new_id(), new_id(), new_id(), new_id()
        await conn.execute(
            "INSERT INTO tenant (id, name, uscc, industry, region_code, grade, key_vehicle_unit, plan, status, settings)"
            " VALUES ($1, '上传基准钢铁有限公司' || $2, 'BENCHUPLINK' || lpad($2, 6, '0'), 'steel', '420107', 'B',"
            " true, 'standard', 'active', '{}')",
            tid,
            str(n),
        )
        await conn.execute("INSERT INTO site (tenant_id, id, name, address) VALUES ($1, $2, '厂区', '')", tid, site)
        await conn.execute(
            "INSERT INTO gate (tenant_id, id, site_id, code, name) VALUES ($1,$2,$3,'G1','东门')", tid, gate, site
        )
        lane = new_id()
        await conn.execute(
            "INSERT INTO lane (tenant_id, id, gate_id, code, name, direction) VALUES ($1,$2,$3,'L1','L1','in')",
            tid,
            lane,
            gate,
        )
        await conn.execute(
            "INSERT INTO agent (tenant_id, id, site_id, name, status, health) VALUES ($1,$2,$3,'agent','active','{}')",
            tid,
            agent,
            site,
        )
        rows: list[tuple[Any, ...]] = [
            (
                tid, new_id(), site, lane, agent, i + 1, "in", START + dt.timedelta(seconds=20 * i),
                START + dt.timedelta(seconds=20 * i + 3), f"鄂A{10000 + i % 89999}", "yellow", 0.97, "allow",
                "auto", [], [], "0" * 64, f"{i:064x}", json.dumps({"vehicle": {"emission_stage": "6", "fuel": "B"}}),
            )
            for i in range(records)
        ]  # fmt: skip
        await conn.copy_records_to_table(
            "pass_event",
            records=rows,
            columns=[
                "tenant_id", "id", "site_id", "lane_id", "agent_id", "seq", "direction", "occurred_at", "received_at",
                "plate", "plate_colour", "confidence", "decision", "trigger", "reason_codes", "anomaly_flags",
                "prev_hash", "hash", "payload",
            ],
        )  # fmt: skip
        # Statistics as a live database has them (autovacuum would analyze the bulk load only some time into
        # the first run, whose claims were planned on a freshly created table's guesses meanwhile).
        await conn.execute("ANALYZE")
        return tid
    finally:
        await conn.close()


def client() -> aiohttp.ClientSession:
    """A baseline client's HTTP session, set up like the adapters' (cloud/uplink/adapters/http.py: no cookie jar)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def baseline(profile: str, url: str, records: int, concurrency: int) -> float:
    """The simulator's accept rate for pre-built requests of ``profile`` (records/s)."""
    if profile == "transport_serial":
        return await baseline_serial(url, records, concurrency)
    if profile == "tianjin":
        return await baseline_tianjin(url, records, concurrency)
    if profile == "hengshui":
        return await baseline_hengshui(url, records, concurrency)
    return await baseline_transport_control(url, records, concurrency)


async def _drain(bodies: list[Any], concurrency: int, post: Any) -> float:
    queue = iter(bodies)
    started = time.perf_counter()

    async def run() -> None:
        for body in queue:
            await post(body)

    await asyncio.gather(*(run() for _ in range(concurrency)))
    return len(bodies) / (time.perf_counter() - started)


async def baseline_serial(url: str, records: int, concurrency: int) -> float:
    """``/transport/*``: ``check`` (the platform issues the serial) then ``record/pass``, pre-built bodies."""
    async with client() as http:
        login = {"companyCode": ENTERPRISE, "companynum": "ecogate", "companypassword": "EcoGate@2026"}
        async with http.post(url + "/transport/login", json=login) as r:
            headers = {"token": (await r.json())["data"]["token"]}
        bodies = [
            (
                {"license": f"鄂A{10000 + i % 89999}", "companyCode": ENTERPRISE, "licenseColor": "1",
                 "passStatus": "1", "gateCode": "G1", "clientSerial": uuid.uuid4().hex},
                {"companyCode": ENTERPRISE, "gateCode": "G1", "license": f"鄂A{10000 + i % 89999}",
                 "licenseColor": "1", "passStatus": "1", "gateSignal": "1", "passTime": "2026-11-01 08:00:00",
                 "imageNo": "0", "imageType": "", "imageUrl": "", "imageRecordTime": ""},
            )
            for i in range(records)
        ]  # fmt: skip

        async def post(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
            check, record = pair
            async with http.post(url + "/transport/check", json=check, headers=headers) as r:
                serial = (await r.json())["data"]["serialNum"]
            async with http.post(
                url + "/transport/record/pass", json={**record, "serialNum": serial}, headers=headers
            ) as r:
                answer = await r.json()
                assert answer["code"] == "200", answer

        return await _drain(bodies, concurrency, post)


async def baseline_tianjin(url: str, records: int, concurrency: int) -> float:
    """Tianjin: envelopes SM3-digested and SM2-signed before the clock starts; the platform verifies each."""
    signer = TianjinAdapter(
        PlatformConfig(profile="tianjin", base_url=url, enterprise_code=ENTERPRISE, credentials=CREDENTIALS)
    )
    bodies = [
        signer.envelope(
            {"serialNum": uuid.uuid4().hex, "gateSn": "G1", "entranceNo": "L1", "license": f"鄂A{10000 + i % 89999}",
             "licenseColor": "1", "passStatus": "1", "authStatus": "1", "passTime": "2026-11-01 08:00:00",
             "photos": []}
        )
        for i in range(records)
    ]  # fmt: skip
    async with client() as http:
        login = {"companyCode": ENTERPRISE, "username": "ecogate", "password": "EcoGate@2026"}
        async with http.post(url + "/tj/api/login", json=login) as r:
            headers = {"token": (await r.json())["data"]["token"]}

        async def post(body: dict[str, Any]) -> None:
            async with http.post(url + "/tj/api/pass", json=body, headers=headers) as r:
                answer = await r.json()
                assert answer["code"] == "200", answer

        return await _drain(bodies, concurrency, post)


async def baseline_hengshui(url: str, records: int, concurrency: int) -> float:
    """Hengshui: pre-built record lines, each connection sending one and awaiting its ack."""
    host, port = url.removeprefix("tcp://").split(":")
    links = []
    for _ in range(concurrency):
        reader, writer = await asyncio.open_connection(host, int(port), limit=8 * 1024 * 1024)
        login = {"type": "login", "msgId": "1", "enterpriseCode": ENTERPRISE, "username": "ecogate",
                 "password": "EcoGate@2026"}  # fmt: skip
        writer.write(json.dumps(login).encode() + b"\n")
        assert json.loads(await reader.readline())["code"] == "200"
        links.append((reader, writer))
    lines = [
        json.dumps(
            {"type": "record", "msgId": str(i), "serial": uuid.uuid4().hex,
             "data": {"enterpriseCode": ENTERPRISE, "gateCode": "G1", "laneCode": "L1",
                      "plate": f"鄂A{10000 + i % 89999}", "plateColor": "1", "direction": "1", "passed": "1",
                      "passTime": "2026-11-01 08:00:00", "photos": []}},
            ensure_ascii=False,
        ).encode() + b"\n"
        for i in range(records)
    ]  # fmt: skip
    queue = iter(lines)
    started = time.perf_counter()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for line in queue:
            writer.write(line)
            answer = json.loads(await reader.readline())
            assert answer["code"] == "200", answer

    await asyncio.gather(*(run(r, w) for r, w in links))
    rate = records / (time.perf_counter() - started)
    for _, writer in links:
        writer.close()
    return rate


async def baseline_transport_control(url: str, records: int, concurrency: int) -> float:
    """The simulator's accept rate for pre-built requests (records/s)."""
    async with client() as http:
        async with http.post(
            url + "/restapi/transportControl/get_data",
            json={
                "organ": ENTERPRISE,
                "ipctype": "getAccessToken",
                "value": {"username": "ecogate", "password": "EcoGate@2026"},
            },
        ) as r:
            token = (await r.json())["access_token"]
        bodies = [
            {
                "organ": ENTERPRISE,
                "ipctype": "shareDrivingRecord",
                "access_token": token,
                "value": {
                    "lsh": uuid.uuid4().hex, "qybh": ENTERPRISE, "dzbh": "G1", "cphm": f"鄂A{10000 + i % 89999}",
                    "cpys": "1", "tgsjq": "2026-11-01 08:00:00", "tgzt": "1", "emissionStandard": "6", "fuelType": "B",
                },
            }
            for i in range(records)
        ]  # fmt: skip
        queue = iter(bodies)
        started = time.perf_counter()

        async def post_all() -> None:
            for body in queue:
                async with http.post(url + "/restapi/transportControl/put_data", json=body) as r:
                    answer = await r.json(content_type=None)
                    assert answer["code"] == "200", answer

        await asyncio.gather(*(post_all() for _ in range(concurrency)))
        return records / (time.perf_counter() - started)


async def deliver(
    db: Database,
    tenant: uuid.UUID,
    profile: str,
    url: str,
    records: int,
    workers: int,
    concurrency: int,
    admin_db: str,
    processes: list[str] | None = None,
    parts: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Configure the platform, queue every record (back-fill) and deliver them; records/s and counts.

    ``processes`` (the app, owner and regulator URLs): run the workers as processes instead of tasks.
    ``parts``: other processes whose CPU is counted per record (the simulator, PostgreSQL).

    The time runs from the commit that queued the records to the last settle (``max(delivered_at)``, both on
    the database's clock), so the bench's own polling interval does not count.
    """
    actor = Principal(user_id=uuid.UUID(int=9), role=Role.TENANT_ADMIN, tenant_id=tenant, login="bench")
    children = [  # worker processes, as `ecogate uplink run` would be deployed (one event loop each)
        subprocess.Popen(  # noqa: ASYNC220 - started once per run
            [
                sys.executable,
                __file__,
                "--worker-process",
                json.dumps([*(processes or []), concurrency, WORKER["batch"], WORKER["pipelines"], LOOP["name"]]),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers if processes else 0)
    ]
    for child in children:  # started (imports, pools) before the clock: nothing is queued yet
        assert child.stdout is not None
        while (await asyncio.to_thread(child.stdout.readline)).strip() != "ready":
            pass
    # Their output (log lines, then the outcome counts) is read all along: a full pipe would stop a worker.
    drains = [asyncio.create_task(asyncio.to_thread(_last_line, c.stdout)) for c in children]
    stop = asyncio.Event()
    watch = Watch(admin_db)
    meter = CpuMeter({"worker": [c.pid for c in children] or [os.getpid()], **(parts or {})})
    async with db.session(actor) as session, session.begin():
        await platforms.configure(
            session,
            tenant,
            profile=profile,
            base_url=url,
            enterprise_code=ENTERPRISE,
            credentials=CREDENTIALS,
        )
        queued = await outbox.resend_period(session, tenant, START, START + dt.timedelta(days=365))
    # From here the delivery only (the workers start as the queueing commits; the bench's own queueing
    # transaction is not watched).
    await watch.open()
    sampling = CpuMeter({"sampling": [watch.backend_pid]})
    meter.start()
    sampling.start()
    queued_at = await watch.fetchval("SELECT clock_timestamp()")
    assert queued == records, (queued, records)
    tmp = Path(tempfile.mkdtemp(prefix="ecogate-bench-uplink-blobs-"))
    senders = [
        UplinkWorker(
            db,
            BlobStore(tmp),
            batch=WORKER["batch"],
            pipelines=WORKER["pipelines"],
            concurrency=concurrency,
            idle_s=0.05,
        )
        for _ in range(0 if processes else workers)
    ]
    started = time.perf_counter()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    await watch.until_drained(records)
    polled = time.perf_counter() - started
    cpu = meter.stop()
    own = sampling.stop()["sampling"]
    if "postgresql" in cpu:  # the bench's own sampling backend is PostgreSQL's work, not the uplink's
        cpu["postgresql"] = max(0.0, cpu["postgresql"] - own)
    cpu["bench sampling (PostgreSQL)"] = own
    load = os.getloadavg()[0]
    async with db.session(actor) as session, session.begin():
        status = await outbox.upload_status(session, tenant, START, START + dt.timedelta(days=365))
        last_settle = await session.scalar(text("SELECT max(delivered_at) FROM uplink_outbox"))
    assert status is not None
    # Every record is held at the end (the faults are all transient): the last settle ends the run.
    elapsed = (last_settle - queued_at).total_seconds() if status["pending"] == 0 and last_settle else polled
    stop.set()
    await asyncio.gather(*tasks)
    longest = await watch.close()
    outcomes: dict[str, int] = {}
    counted = [s.stats.outcomes for s in senders]
    for child, drain in zip(children, drains, strict=True):
        child.send_signal(signal.SIGTERM)
        await asyncio.to_thread(child.wait, 60)
        counted.append(json.loads(await drain))
    for stats in counted:
        for k, v in stats.items():
            outcomes[k] = outcomes.get(k, 0) + v
    return {
        "rate": records / elapsed,
        "seconds": elapsed,
        "status": status,
        "outcomes": outcomes,
        "longest_xact_s": longest,
        "load": load,
        "cpu_us_per_record": {k: v * 1e6 / records for k, v in cpu.items()},
    }


def _last_line(stream: Any) -> str:
    """Read ``stream`` to its end; its last non-empty line."""
    last = ""
    for line in stream:
        if line.strip():
            last = line.strip()
    return last


class Watch:
    """The bench's eye on the database, on one connection of its own (its CPU is reported apart).

    Every 20 ms the longest-open transaction of the bench database in ``pg_stat_activity`` (``xact_start``, any
    state; goal ≤ 1 s); every 100 ms whether a record is still pending (an index probe).
    """

    def __init__(self, admin_db: str) -> None:
        self.admin_db = admin_db
        self.longest, self.query = 0.0, ""
        self.backend_pid = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def fetchval(self, query: str) -> Any:
        """One value, on the watch's connection (one statement at a time on it)."""
        assert self._conn is not None
        async with self._lock:
            return await self._conn.fetchval(query)

    async def open(self) -> None:
        self._conn = await asyncpg.connect(self.admin_db)
        self.backend_pid = int(await self.fetchval("SELECT pg_backend_pid()"))
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while not self._stop.is_set():
            await self._longest()
            await asyncio.sleep(0.02)

    async def _longest(self) -> None:
        assert self._conn is not None
        async with self._lock:
            row = await self._conn.fetchrow(
                "SELECT extract(epoch FROM clock_timestamp() - xact_start) AS s, state, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                "ORDER BY xact_start LIMIT 1"
            )
        if row is not None and float(row["s"]) > self.longest:
            self.longest, self.query = float(row["s"]), f"{row['state']}: {' '.join(str(row['query']).split())[:100]}"

    async def until_drained(self, records: int) -> None:
        """Return once no record is pending; progress every 2 s."""
        shown = time.perf_counter()
        while True:
            await asyncio.sleep(0.1)
            if self._task is not None and self._task.done():
                self._task.result()  # the sampling failed: say so
            pending = await self.fetchval("SELECT EXISTS (SELECT 1 FROM uplink_outbox WHERE state = 'pending')")
            if not pending:
                return
            if time.perf_counter() - shown >= 2:
                shown = time.perf_counter()
                # Records minus the pending ones: the tenants of earlier pairs hold delivered rows too.
                pending_n = await self.fetchval("SELECT count(*) FROM uplink_outbox WHERE state = 'pending'")
                print(f"  已送达 {records - pending_n:,}/{records:,}", flush=True)

    async def close(self) -> float:
        """Stop sampling; the longest transaction seen (seconds)."""
        self._stop.set()
        if self._task is not None:
            await self._task
        assert self._conn is not None
        await self._conn.close()
        print(f"  longest transaction {self.longest * 1000:.0f} ms ({self.query})", flush=True)
        return self.longest


async def main_async(args: argparse.Namespace) -> int:
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415

    worker.BACKOFF_BASE_S, worker.BACKOFF_CAP_S = 0.1, 2.0  # the flaky run retries at bench pace
    WORKER.update(batch=args.batch, pipelines=args.pipelines)
    LOOP["name"] = args.loop
    port, admin_port = free_port(), free_port()
    scheme = "tcp" if args.profile == "hengshui" else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    # The inspection API: the platform's own for transportControl, the admin port for the others.
    inspect = url if args.profile == "transport_control" else f"http://127.0.0.1:{admin_port}"
    command = [sys.executable, "-m", "infra.regsim", "--profile", args.profile, "--port", str(port)]
    command += ["--admin-port", str(admin_port), "--sm2-public-key", public_key_of(SM2_PRIVATE)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: ASYNC220 - started once
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ecogate-bench-uplink-") as tmp:
        admin = os.environ.get("DATABASE_URL", "")
        server = None
        if not admin:
            server = EmbeddedPostgres(Path(tmp) / "pg").start()
            admin = server.admin_url
        try:
            await wait_http(inspect + "/_sim/state")

            async def measure_baseline() -> tuple[float, float, dict[str, float | None]]:
                print(f"基准（{args.profile}）：模拟器直接接收 {args.records:,} 条预先构造的请求 …", flush=True)
                meter = CpuMeter({"simulator": [proc.pid]})
                meter.start()
                if args.processes:  # as many client processes as worker processes, the same concurrency each
                    rate = await baseline_processes(args.profile, url, args.records, args)
                else:
                    rate = await baseline(args.profile, url, args.records, args.concurrency * args.workers)
                cpu = {
                    "client": CLIENT_CPU["s"] * 1e6 / args.records if args.processes else None,
                    "simulator": meter.stop()["simulator"] * 1e6 / args.records,
                }
                await sim(inspect, "/_sim/reset", {})
                return rate, os.getloadavg()[0], cpu

            (
                figures["baseline"],
                figures["baseline_load"],
                figures["baseline_cpu_us_per_record"],
            ) = await measure_baseline()
            urls = await bootstrap_database(admin, "ecogate_bench_uplink", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            admin_db = admin.rsplit("/", 1)[0] + "/ecogate_bench_uplink"
            tenant = await populate(admin_db, args.records)
            db = Database.from_settings(
                DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url)
            )
            procs = [urls.app_url, urls.owner_url, urls.regulator_url] if args.processes else None
            postmaster = postmaster_pid(server)
            parts = {"simulator": [proc.pid], **({"postgresql": [postmaster]} if postmaster else {})}
            try:
                print(f"上传：{args.workers} 个上传进程 × 并发 {args.concurrency}，{args.records:,} 条 …", flush=True)
                figures["uplink"] = await deliver(
                    db, tenant, args.profile, url, args.records, args.workers, args.concurrency, admin_db, procs, parts
                )
                state = await sim(inspect, "/_sim/state")
                figures["sim_records"] = state["records"]
                figures["sim_duplicates"] = state["duplicates"]
                # --repeat: more (baseline, uplink) pairs back to back; on a shared machine the load moves between
                # two phases, so the ratio of each pair and their median say more than one pair.
                figures["pairs"] = [(figures["baseline"], figures["uplink"]["rate"], figures["baseline_load"])]
                figures["pairs_cpu"] = [(figures["baseline_cpu_us_per_record"], figures["uplink"]["cpu_us_per_record"])]
                for n in range(2, args.repeat + 1):
                    await sim(inspect, "/_sim/reset", {})
                    rate, load, cpu = await measure_baseline()
                    # New records of a new tenant, like the first pair's: re-queueing the delivered ones would be
                    # a 补传 (re-sends, each an attempt row, ADR 0042), not the uplink of new passes.
                    fresh = await populate(admin_db, args.records, n)
                    print(f"上传（重复）：{args.records:,} 条 …", flush=True)
                    again = await deliver(
                        db,
                        fresh,
                        args.profile,
                        url,
                        args.records,
                        args.workers,
                        args.concurrency,
                        admin_db,
                        procs,
                        parts,
                    )
                    held = (await sim(inspect, "/_sim/state"))["records"]
                    assert held == args.records, (held, args.records)
                    figures["pairs"].append((rate, again["rate"], load))
                    figures["pairs_cpu"].append((cpu, again["cpu_us_per_record"]))
                if args.flaky:
                    await sim(inspect, "/_sim/reset", {})
                    await sim(
                        inspect,
                        "/_sim/faults",
                        {"error_rate": 0.08, "malformed_rate": 0.05, "html_rate": 0.05, "timeout_rate": 0.01,
                         "lost_answer_rate": 0.01, "timeout_s": 2.0},
                    )  # fmt: skip
                    bench = Principal(user_id=uuid.UUID(int=9), role=Role.TENANT_ADMIN, tenant_id=tenant, login="bench")
                    async with db.session(bench) as session, session.begin():
                        await session.execute(text("UPDATE uplink_platform SET timeout_s = 1"))
                        # The reset platform forgot the serials it issued (/transport/*): start afresh.
                        await session.execute(text("UPDATE uplink_outbox SET platform_serial = NULL"))
                    print("上传（20% 异常应答）…", flush=True)
                    figures["flaky"] = await deliver(
                        db,
                        tenant,
                        args.profile,
                        url,
                        args.records,
                        args.workers,
                        args.concurrency,
                        admin_db,
                        procs,
                        parts,
                    )
                    flaky_state = await sim(inspect, "/_sim/state")
                    figures["flaky_sim_records"] = flaky_state["records"]
                    figures["flaky_sim_duplicates"] = flaky_state["duplicates"]
            finally:
                await db.dispose()
        finally:
            if server is not None:
                server.stop()
            proc.terminate()
            proc.wait(10)
    base = figures["baseline"]
    print()
    kind = "processes (baseline: as many client processes)" if args.processes else "workers in one process"
    print(f"profile {args.profile}, {args.workers} {kind} × concurrency {args.concurrency}")
    print(f"{'figure':<52}{'records/s':>12}   vs baseline   (event loop of workers and clients: {args.loop})")
    print(
        f"{'baseline: simulator accepting pre-built requests':<52}{base:>12,.0f}   load {figures['baseline_load']:.1f}"
    )
    up = figures["uplink"]
    print(
        f"{'uplink: outbox → worker → simulator (healthy)':<52}{up['rate']:>12,.0f}   {up['rate'] / base:.2f}×"
        f"   load {up['load']:.1f}"
    )
    print(
        f"  {args.records:,} records in {up['seconds']:.2f} s; simulator holds {figures['sim_records']:,}, "
        f"duplicates {figures['sim_duplicates']}; outcomes {up['outcomes']}; "
        f"longest transaction {up['longest_xact_s'] * 1000:.0f} ms"
    )
    print(f"  CPU µs per record — baseline: {_cpu_text(figures['baseline_cpu_us_per_record'])}")
    print(f"  CPU µs per record — uplink:   {_cpu_text(up['cpu_us_per_record'])}")
    if len(figures["pairs"]) > 1:
        ratios = sorted(u / b for b, u, _ in figures["pairs"])
        text_pairs = "; ".join(f"{u:,.0f} / {b:,.0f} = {u / b:.2f}× (load {ld:.1f})" for b, u, ld in figures["pairs"])
        print(f"  {len(ratios)} pairs (uplink / baseline): {text_pairs}; median {statistics.median(ratios):.2f}×")
        for n, (base_cpu, up_cpu) in enumerate(figures["pairs_cpu"], start=1):
            print(f"  pair {n} CPU µs per record — baseline: {_cpu_text(base_cpu)}; uplink: {_cpu_text(up_cpu)}")
    if "flaky" in figures:
        fl = figures["flaky"]
        print(
            f"{'uplink with 20 % bad answers':<52}{fl['rate']:>12,.0f}   {fl['rate'] / base:.2f}×   load {fl['load']:.1f}"
        )
        print(
            f"  simulator holds {figures['flaky_sim_records']:,} (every record once), absorbed "
            f"{figures['flaky_sim_duplicates']} duplicate submissions; outcomes {fl['outcomes']}; "
            f"longest transaction {fl['longest_xact_s'] * 1000:.0f} ms"
        )
        print(f"  CPU µs per record — flaky:    {_cpu_text(fl['cpu_us_per_record'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


def _cpu_text(parts: dict[str, float | None]) -> str:
    return ", ".join(f"{name} {value:,.0f}" for name, value in parts.items() if value is not None)


async def baseline_processes(profile: str, url: str, records: int, args: argparse.Namespace) -> float:
    """The baseline from ``--workers`` client processes started together (sum of their rates)."""
    share = records // args.workers
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--baseline-client",
            json.dumps([profile, url, share, args.concurrency, args.loop]),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for _ in range(args.workers)
    ]
    outs = [(await c.communicate())[0].decode().strip().splitlines()[-1].split() for c in children]
    CLIENT_CPU["s"] = sum(float(cpu) for _, cpu in outs)
    return sum(float(rate) for rate, _ in outs)


def worker_process(spec: str) -> int:
    """``--worker-process``: one uplink worker until SIGTERM; prints its outcome counts as JSON."""
    app_url, owner_url, regulator_url, concurrency, batch, pipelines, loop = json.loads(spec)

    async def run() -> dict[str, int]:
        worker.BACKOFF_BASE_S, worker.BACKOFF_CAP_S = 0.1, 2.0
        db = Database.from_settings(DatabaseSettings(app_url=app_url, owner_url=owner_url, regulator_url=regulator_url))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        tmp = Path(tempfile.mkdtemp(prefix="ecogate-bench-uplink-blobs-"))
        sender = UplinkWorker(
            db, BlobStore(tmp), batch=int(batch), pipelines=int(pipelines), concurrency=int(concurrency), idle_s=0.05
        )
        await sender.run_once()  # connections open; nothing queued yet

        async def hold() -> None:  # one connection each: the pool as warm as a running worker's (SCRAM logins)
            async with db.system_session("bench: warm the pool") as session, session.begin():
                await session.execute(text("SELECT 1"))
                await asyncio.sleep(0.05)

        await asyncio.gather(*(hold() for _ in range(int(pipelines) + 2)))  # claims, settles, a renewal
        print("ready", flush=True)
        try:
            await sender.run(stop)
        finally:
            await db.dispose()
        return sender.stats.outcomes

    profile_to = os.environ.get("ECOGATE_BENCH_CPROFILE")  # a worker's cProfile stats go to this file + pid
    if profile_to:
        import cProfile  # noqa: PLC0415

        with cProfile.Profile(time.process_time) as prof:
            outcomes = run_loop(run(), loop)
        prof.dump_stats(f"{profile_to}.{os.getpid()}")
    else:
        outcomes = run_loop(run(), loop)
    print(json.dumps(outcomes), flush=True)
    return 0


def baseline_client(spec: str) -> int:
    """``--baseline-client``: one baseline client process; prints its records/s."""
    profile, url, records, concurrency, loop = json.loads(spec)
    cpu = time.process_time()  # building the requests and sending them (not the imports)
    rate = run_loop(baseline(profile, url, int(records), int(concurrency)), loop)
    print(rate, time.process_time() - cpu, flush=True)
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker-process":
        return worker_process(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "--baseline-client":
        return baseline_client(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="transport_control")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=200, help="rows per claim")
    parser.add_argument("--pipelines", type=int, default=2, help="claim-send-settle loops per worker")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="workers as processes (as deployed) and as many baseline client processes",
    )
    parser.add_argument("--flaky", action="store_true", help="also run with 20 % bad answers")
    parser.add_argument("--repeat", type=int, default=1, help="(baseline, healthy uplink) pairs, back to back")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the worker and baseline-client processes (uvloop: as `ecogate uplink run` runs)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
