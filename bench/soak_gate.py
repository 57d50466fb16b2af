"""Crash soak of the gate: SIGKILL the real agent at random points, restart it, check persist-before-actuate.

The agent runs as ``python -m agent.runtime.cli_run agent.toml`` in a subprocess: the real outbox
(SQLite WAL, ``synchronous=FULL``), the real decision engine with a registry seed, the real Modbus
relay barrier driver talking to :class:`agent.devices.sim.RelayBarrierSimulator` over a real pty,
and the command journal (``barrier-commands.log``, fsync'd before each open command). This process
owns the simulator (so it survives the kills), appends vehicle reads to the lane's spool file while
the agent runs — registered plates (allowed) and unregistered ones (refused) — and SIGKILLs the agent
``--kills`` times: some kills land during start-up and crash recovery, most a random moment after
the barrier has received an open command of this run.

After every kill (before the restart) it checks:

* every event id journaled with an open command is in the outbox **exactly once**, with decision
  ``allow`` and the plate of a registered vehicle (refused vehicles never got an open command);
* the barrier received no more open commands than were journaled (none was sent unjournaled);
* no read id is stored twice, and every event marked actuated that allows a pass has a journal entry.

At the end the agent runs once more until every read is stored and actuated, stops on SIGTERM,
and every read is checked (allowed: one event, actuated, opened at least once; refused: one event,
never opened) together with the outbox hash chain. Prints counts (``--json`` for a JSON line);
exit code 0 only without violations::

    .venv/bin/python bench/soak_gate.py --kills 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator
from agent_protocol.events import decode_event, verify_chain
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

ROOT = Path(__file__).resolve().parents[1]
PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"


@dataclass
class Figures:
    """What the soak counted."""

    kills: int = 0
    kills_in_startup: int = 0
    kills_after_open: int = 0
    reads_written: int = 0
    reads_allowed: int = 0
    reads_refused: int = 0
    events_stored: int = 0
    opens_journaled: int = 0
    opens_on_wire: int = 0
    events_opened_twice: int = 0
    partial_journal_lines: int = 0
    checks: int = 0
    violations: list[str] = field(default_factory=list)
    final_exit_code: int | None = None
    chain_ok: bool = False
    seconds: float = 0.0


class BarrierSim:
    """The relay barrier simulator on a pty, on its own event loop thread; counts open commands on the wire."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.opens = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="barrier-sim", daemon=True)
        self.sim: RelayBarrierSimulator | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.sim = RelayBarrierSimulator(PtyEndpoint(self.link), travel_s=0.02)
        slave = self.sim.slave
        original = slave._set_coil  # noqa: SLF001 - count every open write on the wire, changed or not

        def set_coil(address: int, value: bool) -> None:
            if value and address == RelayBarrierSimulator.OPEN_COIL:
                with self._lock:
                    self.opens += 1
            original(address, value)

        slave._set_coil = set_coil  # type: ignore[method-assign]  # noqa: SLF001
        self._loop.run_until_complete(self.sim.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("barrier simulator did not start")

    def wire_opens(self) -> int:
        with self._lock:
            return self.opens

    def stop(self) -> None:
        assert self.sim is not None
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Feeder:
    """Appends reads to the spool file at a steady rate while enabled; remembers which plate is which."""

    def __init__(self, spool: Path, *, rate: float, refuse_share: float, rng: random.Random) -> None:
        self.spool = spool
        self.interval = 1.0 / rate
        self.refuse_share = refuse_share
        self.rng = rng
        self.allowed_plates = [self._plate(i) for i in range(200)]
        self.refused_plates = [self._plate(i) for i in range(200, 400)]
        self.reads: dict[str, bool] = {}  # read_id -> allowed?
        self.plates: dict[str, str] = {}
        self.enabled = threading.Event()
        self._stop = threading.Event()
        self._fd = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self._lock = threading.Lock()

    @staticmethod
    def _plate(i: int) -> str:
        return f"{PROVINCES[i % len(PROVINCES)]}{'ABCDEFGH'[i % 8]}{10000 + i * 37:05d}"[:7]

    def registry(self) -> RegistrySnapshot:
        return RegistrySnapshot(
            version="soak-1",
            vehicles=tuple(
                RegistryVehicle(
                    registry_id=f"v{i}",
                    category=VehicleCategory.TRANSPORT,
                    plate=plate,
                    plate_colour=PlateColour.YELLOW,
                    fuel=FuelType.DIESEL,
                    emission_stage=EmissionStage("6"),
                )
                for i, plate in enumerate(self.allowed_plates)
            ),
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            if not self.enabled.wait(0.05):
                continue
            n += 1
            allowed = self.rng.random() >= self.refuse_share
            plate = self.rng.choice(self.allowed_plates if allowed else self.refused_plates)
            read_id = f"soak-{n:07d}"
            line = json.dumps(
                {"read_id": read_id, "plate": plate, "colour": "yellow", "confidence": 0.97, "photo_size": 2048},
                ensure_ascii=False,
            )
            with self._lock:
                self.reads[read_id] = allowed
                self.plates[read_id] = plate
            os.write(self._fd, (line + "\n").encode())
            time.sleep(self.interval)

    def snapshot(self) -> tuple[dict[str, bool], dict[str, str]]:
        with self._lock:
            return dict(self.reads), dict(self.plates)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)


def write_config(work: Path, barrier_link: Path, registry_seed: Path) -> Path:
    data = work / "data"
    cfg = f"""
registry_seed = "{registry_seed}"

[agent]
id = "soak-agent"
data_dir = "{data}"
log_level = "warning"
command_journal = true
restart_budget = 20

[site]
id = "soak-site"
name = "压力测试厂区"

[booth]
enabled = false

[[devices.barriers]]
type = "modbus_relay"
name = "soak-barrier"
port = "{barrier_link}"
pulse_s = 0.01
poll_s = 0.2
timeout_s = 0.5

[[lanes]]
id = "soak-in"
name = "压力测试入口"
direction = "in"
barrier = "soak-barrier"

[lanes.source]
type = "spool"
path = "{work / "reads.jsonl"}"
poll_s = 0.01

[evidence]
clip = false
"""
    path = work / "agent.toml"
    path.write_text(cfg, encoding="utf-8")
    return path


class Agent:
    """The agent subprocess."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent.runtime.cli_run", str(self.config)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def read_journal(path: Path) -> tuple[Counter[str], int]:
    """Open commands per event id, and the number of torn lines (a kill in the middle of a write)."""
    opens: Counter[str] = Counter()
    partial = 0
    if not path.exists():
        return opens, partial
    for raw in path.read_bytes().splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            partial += 1
            continue
        if item.get("command") == "open":
            opens[item["event_id"]] += 1
    return opens, partial


def read_outbox(db: Path) -> list[tuple[int, str, str | None, str, float | None, bytes]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    try:
        return list(conn.execute("SELECT seq, event_id, read_id, decision, actuated_at, body FROM event ORDER BY seq"))
    finally:
        conn.close()


def check(fig: Figures, work: Path, sim: BarrierSim, feeder: Feeder, *, final: bool = False) -> None:
    """Check the invariants on the files as the killed (or stopped) agent left them."""
    fig.checks += 1
    journal, fig.partial_journal_lines = read_journal(work / "data" / "barrier-commands.log")
    rows = read_outbox(work / "data" / "outbox" / "outbox.db")
    reads, plates = feeder.snapshot()
    by_event = Counter(r[1] for r in rows)
    by_read = Counter(r[2] for r in rows if r[2] is not None)
    events = {r[1]: r for r in rows}
    fig.events_stored = len(rows)
    fig.opens_journaled = sum(journal.values())
    fig.opens_on_wire = sim.wire_opens()
    fig.events_opened_twice = sum(1 for n in journal.values() if n > 1)
    bad = fig.violations
    where = "final" if final else f"kill {fig.kills}"
    for event_id in journal:
        if by_event[event_id] != 1:
            bad.append(f"{where}: open command for {event_id} but {by_event[event_id]} outbox rows")
            continue
        _, _, read_id, decision, _, _ = events[event_id]
        if decision != "allow":
            bad.append(f"{where}: open command for {event_id} with decision {decision}")
        if read_id is not None and not reads.get(read_id, False):
            bad.append(f"{where}: open command for refused vehicle {plates.get(read_id)} ({read_id})")
    for read_id, n in by_read.items():
        if n > 1:
            bad.append(f"{where}: read {read_id} stored {n} times")
    for _seq, event_id, read_id, decision, actuated, _body in rows:
        if actuated is not None and decision == "allow" and event_id not in journal:
            bad.append(f"{where}: {event_id} marked actuated without a journaled open command")
        if read_id is not None and read_id in reads and (decision == "allow") != reads[read_id]:
            bad.append(f"{where}: read {read_id} ({plates[read_id]}) decided {decision}")
    if fig.opens_on_wire > fig.opens_journaled:
        bad.append(f"{where}: {fig.opens_on_wire} open commands on the wire, only {fig.opens_journaled} journaled")
    if final:
        for read_id in reads:
            if by_read[read_id] != 1:
                bad.append(f"final: read {read_id} stored {by_read[read_id]} times")
        for _seq, event_id, read_id, decision, actuated, _body in rows:
            if actuated is None:
                bad.append(f"final: {event_id} never actuated")
            if decision == "allow" and journal[event_id] == 0:
                bad.append(f"final: allowed {event_id} ({read_id}) never got an open command")
        report = verify_chain(decode_event(r[5]) for r in rows)
        fig.chain_ok = report.ok
        if not report.ok:
            bad.append(f"final: hash chain broken at seq {report.broken_seq}: {report.reason}")


def _wait(predicate: Any, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def soak(args: argparse.Namespace) -> Figures:
    rng = random.Random(args.seed)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="soak-gate-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    fig = Figures()
    started = time.monotonic()
    sim = BarrierSim(work / "barrier")
    sim.start()
    feeder = Feeder(work / "reads.jsonl", rate=args.rate, refuse_share=args.refuse_share, rng=rng)
    save_snapshot(work / "registry-seed.json", feeder.registry())
    config = write_config(work, work / "barrier", work / "registry-seed.json")
    agent = Agent(config, work / "agent.log")
    feeder.start()
    try:
        for i in range(args.kills):
            opens_before = sim.wire_opens()
            agent.start()
            feeder.enabled.set()
            if rng.random() < args.startup_share:
                time.sleep(rng.uniform(0.0, args.max_startup_s))
                fig.kills_in_startup += 1
            else:
                if not _wait(lambda before=opens_before: sim.wire_opens() > before, timeout=args.open_timeout_s):
                    fig.violations.append(f"kill {i + 1}: no open command within {args.open_timeout_s} s")
                time.sleep(rng.uniform(0.0, args.max_after_open_s))
                fig.kills_after_open += 1
            if not agent.alive():
                fig.violations.append(
                    f"kill {i + 1}: agent exited on its own (code {agent.proc and agent.proc.returncode})"
                )
            agent.kill()
            feeder.enabled.clear()
            fig.kills += 1
            check(fig, work, sim, feeder)
            if args.progress and fig.kills % 10 == 0:
                print(
                    f"  {fig.kills} kills, {fig.events_stored} events, {fig.opens_journaled} opens journaled, "
                    f"{len(fig.violations)} violations, {time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                )
        # Drain: a clean run (up once it has opened the barrier for a new read) stores and actuates
        # everything written, then stops on SIGTERM.
        opens_before = sim.wire_opens()
        agent.start()
        feeder.enabled.set()
        if not _wait(lambda: sim.wire_opens() > opens_before, timeout=args.open_timeout_s):
            fig.violations.append(f"final: no open command within {args.open_timeout_s} s")
        feeder.enabled.clear()
        time.sleep(2 * feeder.interval + 0.05)
        reads, _ = feeder.snapshot()
        db = work / "data" / "outbox" / "outbox.db"

        def drained() -> bool:
            rows = read_outbox(db)
            return len({r[2] for r in rows} & reads.keys()) == len(reads) and all(r[4] is not None for r in rows)

        if not _wait(drained, timeout=args.drain_timeout_s, step=0.2):
            fig.violations.append("final: the agent did not store and actuate every read in time")
        fig.final_exit_code = agent.terminate()
        if fig.final_exit_code != 0:
            fig.violations.append(f"final: SIGTERM exit code {fig.final_exit_code}")
        check(fig, work, sim, feeder, final=True)
    finally:
        if agent.alive():
            agent.kill()
        feeder.stop()
        sim.stop()
    reads, _ = feeder.snapshot()
    fig.reads_written = len(reads)
    fig.reads_allowed = sum(reads.values())
    fig.reads_refused = fig.reads_written - fig.reads_allowed
    fig.seconds = round(time.monotonic() - started, 1)
    print(f"work dir: {work}", file=sys.stderr)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs (default 200)")
    parser.add_argument("--rate", type=float, default=25.0, help="reads per second written while the agent runs")
    parser.add_argument("--refuse-share", type=float, default=0.3, help="share of unregistered (refused) plates")
    parser.add_argument("--startup-share", type=float, default=0.25, help="share of kills at a random start-up moment")
    parser.add_argument("--max-startup-s", type=float, default=1.5, help="start-up kills: latest moment after spawn")
    parser.add_argument("--max-after-open-s", type=float, default=0.4, help="other kills: latest moment after an open")
    parser.add_argument("--open-timeout-s", type=float, default=20.0, help="wait for the first open of a run")
    parser.add_argument("--drain-timeout-s", type=float, default=120.0, help="final run: wait for every read")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--dir", default=None, help="work folder (default: a new temp folder)")
    parser.add_argument("--progress", action="store_true", help="a progress line every 10 kills (stderr)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    fig = soak(args)
    out = asdict(fig) | {"seed": args.seed, "violations": fig.violations[:50], "violation_count": len(fig.violations)}
    if args.json:
        print(msgspec.json.encode(out).decode())
    else:
        for key, value in out.items():
            if key != "violations":
                print(f"{key:>22}: {value}")
        for line in fig.violations[:50]:
            print(f"VIOLATION {line}")
    return 0 if not fig.violations else 1


if __name__ == "__main__":
    sys.exit(main())
