"""Crash soak of the gate: SIGKILL the real agent at random points, restart it, check the physical truth.

The agent runs as a subprocess (``python bench/soak_gate.py --agent-child agent.toml``, which is
``ecogate agent run``): the real outbox (SQLite WAL, ``synchronous=FULL``), the real decision engine
with a registry seed, the real Modbus relay barrier driver talking to
:class:`agent.devices.sim.RelayBarrierSimulator` over a real pty, and the command journal
(``barrier-commands.log``: the intent fsync'd before each open command, the relay's confirmation
after it). Two lanes:

* ``soak-in``, a **spool lane**: this process appends vehicle reads (registered plates, allowed, and
  unregistered ones, refused) to the lane's spool file while the agent runs; each line carries its
  read time, so reads left over from before a kill are older than the lane's ``max_read_age_s``
  after a slow restart (they must be recorded and never opened);
* ``soak-cam``, a **camera lane** (issue 16): this process is the world in front of a camera — an
  MJPEG stream over HTTP that the agent's real :class:`~agent.sources.opencv.StreamSource`,
  :class:`~agent.runtime.sources.VisionReadSource` and :class:`~agent.vision.PlateVoter` read.
  One truck at a time drives up and **waits at the barrier until the agent has recorded it**, stays a
  random 1–8 s longer (kills land there: the restarted agent sees the same truck again), then
  leaves. Each frame carries the truck's plate as a stamped code that a stand-in recognizer reads
  (``--real-recognizer`` uses the ONNX recognizer on rendered plates instead; loading it takes
  seconds per restart, so the default stand-in keeps 200 kills to minutes; recognition is not what
  this soak tests). Its barrier is a second relay simulator whose relay log counts the openings.

Kills: some during start-up and crash recovery, most a random moment after an open command on the
spool lane's barrier, a share a random moment (≤ 1 s) after the camera lane recorded a truck.

After every kill (before the restart) and at the end it checks:

* every journaled open is of exactly one stored, allowed event of a registered plate; the relays took
  no more opens than were journaled; no event got a second open intent that was not a retry of a
  failed one (**0 double openings**); no open was sent for a read older than its lane's limit;
* no read id is stored twice (spool); **each truck visit is recorded exactly once** (camera: 0 double
  records of one physical pass, no event without a truck);
* at the end: every spool read stored once; every allowed event opened (or recorded as stale /
  unknown-after-crash, with an alarm), every refused one never; every camera visit recorded (0 lost);
  the outbox hash chain verifies.

The agent serves its Prometheus metrics (``ECOGATE_AGENT_METRICS_PORT``, issue 21); the soak scrapes
them just before every kill (counters start again with each process: the sum over the runs is a lower
bound, printed) and at the end of the clean final run, where they must agree with the physical record:
barrier commands confirmed/failed by the agent's counter = open intents of that process in the command
journal and their outcomes (the relay's open writes in that run printed beside), the outbox-depth gauge =
the outbox's unacked events, no failed command, the cloud link down (the soak has no cloud). A
disagreement is a violation.

Prints counts (``--json`` for a JSON line); exit code 0 only without violations::

    .venv/bin/python bench/soak_gate.py --kills 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot  # noqa: E402
from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator  # noqa: E402
from agent_protocol.events import decode_event, verify_chain  # noqa: E402
from bench.metrics_scrape import Scrape, histogram_quantile, scrape, total, wait_for  # noqa: E402
from bench.soak_sync import free_port  # noqa: E402
from hj1321.emission import EmissionStage  # noqa: E402
from hj1321.plates import PlateColour  # noqa: E402
from hj1321.vehicles import FuelType, VehicleCategory  # noqa: E402

PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
SPOOL_LANE = "soak-in"
CAM_LANE = "soak-cam"
#: Journal outcomes that end an allowed event without an opening (recorded, alarmed).
NOT_OPENED = {"open_skipped_stale", "open_unknown"}


def plate_for(i: int) -> str:
    """The soak's plate number ``i`` (0–199 registered, 200–399 not)."""
    return f"{PROVINCES[i % len(PROVINCES)]}{'ABCDEFGH'[i % 8]}{10000 + i * 37:05d}"[:7]


@dataclass
class Figures:
    """What the soak counted."""

    kills: int = 0
    kills_in_startup: int = 0
    kills_after_open: int = 0
    kills_after_camera_record: int = 0
    reads_written: int = 0
    reads_allowed: int = 0
    reads_refused: int = 0
    events_stored: int = 0
    opens_journaled: int = 0
    opens_confirmed: int = 0
    opens_on_wire: int = 0
    double_openings: int = 0
    stale_reads_recorded: int = 0
    stale_opens: int = 0
    unknown_after_kill: int = 0
    cam_visits: int = 0
    cam_visits_allowed: int = 0
    cam_events: int = 0
    cam_double_records: int = 0
    cam_lost: int = 0
    cam_relay_opens: int = 0
    partial_journal_lines: int = 0
    checks: int = 0
    violations: list[str] = field(default_factory=list)
    final_exit_code: int | None = None
    chain_ok: bool = False
    seconds: float = 0.0
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Scraped from the agent's /metrics (issue 21): summed over the runs (just before each kill, a lower
    #: bound), and the clean final run beside the journal's and the relays' record of that process.
    metrics_scrapes: int = 0
    metrics_opens_confirmed_runs: int = 0
    metrics_opens_confirmed_final: int = 0
    metrics_opens_failed_final: int = 0
    journal_opens_confirmed_final: int = 0
    journal_opens_failed_final: int = 0
    relay_opens_final: int = 0
    metrics_outbox_depth_final: int = -1
    outbox_unacked_final: int = 0
    metrics_cloud_connected_final: int = -1
    metrics_reads_final: int = 0
    metrics_recognition_p95_ms_final: str = ""
    metrics_agree: bool = False


class BarrierSim:
    """A relay barrier simulator on a pty, on its own event loop thread; counts open commands on the wire."""

    def __init__(self, link: Path, relay_log: Path | None = None, auto_close_s: float = 0.0) -> None:
        self.link = link
        self.relay_log = relay_log
        self.auto_close_s = auto_close_s
        self.opens = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"barrier-sim-{link.name}", daemon=True)
        self.sim: RelayBarrierSimulator | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.sim = RelayBarrierSimulator(
            PtyEndpoint(self.link), travel_s=0.02, relay_log=self.relay_log, auto_close_s=self.auto_close_s
        )
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
    """Appends reads (with their read time) to the spool file while enabled; remembers which plate is which."""

    def __init__(
        self,
        spool: Path,
        *,
        rate: float,
        refuse_share: float,
        rng: random.Random,
        outbox_db: Path | None = None,
        max_backlog: int = 0,
    ) -> None:
        self.spool = spool
        #: With an outbox and a backlog limit, writing pauses while the lane is that many reads behind
        #: (a loaded machine must not turn the soak into a queue the final run cannot drain).
        self.outbox_db = outbox_db
        self.max_backlog = max_backlog
        self.interval = 1.0 / rate
        self.refuse_share = refuse_share
        self.rng = rng
        self.allowed_plates = [plate_for(i) for i in range(200)]
        self.refused_plates = [plate_for(i) for i in range(200, 400)]
        self.reads: dict[str, bool] = {}  # read_id -> allowed?
        self.plates: dict[str, str] = {}
        self.enabled = threading.Event()
        self._stop = threading.Event()
        self._fd = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self._lock = threading.Lock()

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
            if self.outbox_db is not None and self.max_backlog and n % 20 == 0 and self._behind(n):
                time.sleep(0.2)
                continue
            n += 1
            allowed = self.rng.random() >= self.refuse_share
            plate = self.rng.choice(self.allowed_plates if allowed else self.refused_plates)
            read_id = f"soak-{n:07d}"
            line = json.dumps(
                {
                    "read_id": read_id,
                    "plate": plate,
                    "colour": "yellow",
                    "confidence": 0.97,
                    "photo_size": 2048,
                    "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}Z",
                },
                ensure_ascii=False,
            )
            with self._lock:
                self.reads[read_id] = allowed
                self.plates[read_id] = plate
            os.write(self._fd, (line + "\n").encode())
            time.sleep(self.interval)

    def _behind(self, written: int) -> bool:
        assert self.outbox_db is not None
        if not self.outbox_db.exists():
            return written > self.max_backlog
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.outbox_db}?mode=ro", uri=True, timeout=5)) as conn:
                stored = int(conn.execute("SELECT count(*) FROM event WHERE read_id LIKE 'soak-%'").fetchone()[0])
        except sqlite3.Error:
            return False
        return written - stored > self.max_backlog

    def snapshot(self) -> tuple[dict[str, bool], dict[str, str]]:
        with self._lock:
            return dict(self.reads), dict(self.plates)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)


# ------------------------------------------------------------------ the camera lane's world

_STAMP_BITS = 16  # 9 bits of plate index, 7 bits of check
_BLOCK = 16


def _check(index: int) -> int:
    return (index * 37 + 11) % 128


def stamp_frame(index: int | None, *, noise: int = 0) -> bytes:
    """A JPEG of the lane: empty road, or a truck whose plate is ``plate_for(index)`` (stamped code)."""
    img = np.full((240, 320, 3), 96, np.uint8)
    if index is not None:
        cv2.rectangle(img, (60, 40), (260, 200), (40, 90, 160), -1)  # the truck's front
        bits = (index & 0x1FF) | (_check(index) << 9)
        for i in range(_STAMP_BITS):
            x = 16 + i * (_BLOCK + 2)
            cv2.rectangle(img, (x, 10), (x + _BLOCK, 10 + _BLOCK), (255, 255, 255), -1)  # marker row
            if bits >> i & 1:
                cv2.rectangle(img, (x, 210), (x + _BLOCK, 210 + _BLOCK), (255, 255, 255), -1)
            else:
                cv2.rectangle(img, (x, 210), (x + _BLOCK, 210 + _BLOCK), (0, 0, 0), -1)
    if noise:
        img = np.clip(img.astype(np.int16) + np.random.default_rng().integers(-noise, noise, img.shape), 0, 255)
    ok, buf = cv2.imencode(".jpg", img.astype(np.uint8), [int(cv2.IMWRITE_JPEG_QUALITY), 85])
    assert ok
    return bytes(buf.tobytes())


def read_stamp(frame: Any) -> int | None:
    """The plate index stamped in ``frame`` (None: no truck, or a frame that does not decode)."""
    if frame is None or frame.shape[0] < 240 or frame.shape[1] < 320:
        return None
    gray = frame.mean(axis=2) if frame.ndim == 3 else frame
    bits = 0
    for i in range(_STAMP_BITS):
        x = 16 + i * (_BLOCK + 2)
        if gray[13 : 10 + _BLOCK - 3, x + 3 : x + _BLOCK - 3].mean() < 200:
            return None
        if gray[213 : 210 + _BLOCK - 3, x + 3 : x + _BLOCK - 3].mean() > 128:
            bits |= 1 << i
    index = bits & 0x1FF
    return index if bits >> 9 == _check(index) else None


class StampRecognizer:
    """Stand-in for :class:`agent.vision.PlateRecognizer` in the soak: reads the world's stamped plate code."""

    def recognize(self, frame: Any, roi: Any = None, lane: str = "") -> list[Any]:  # noqa: ARG002 - its signature
        from agent.vision.types import PlateRead  # noqa: PLC0415

        index = read_stamp(frame)
        if index is None:
            return []
        plate = plate_for(index)
        return [
            PlateRead(
                plate=plate, colour="yellow", confidence=0.99, box=(60, 40, 260, 200), char_confidences=(0.99,) * 7
            )
        ]


@dataclass
class Visit:
    """One truck in front of the camera: from when it appears to when it has left."""

    n: int
    plate: str
    allowed: bool
    start: float
    recorded_at: float | None = None
    end: float | None = None


class World:
    """The camera lane's world: an MJPEG stream and trucks that wait at the barrier until recorded."""

    def __init__(self, outbox_db: Path, rng: random.Random, *, refuse_share: float, fps: float = 8.0) -> None:
        self.db = outbox_db
        self.rng = rng
        self.refuse_share = refuse_share
        self.fps = fps
        self.visits: list[Visit] = []
        self.enabled = threading.Event()
        self.timeout_s = 90.0
        self._frame = stamp_frame(None)
        self._empty = self._frame
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = {True: 0, False: 200}
        world = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not world._stop.is_set():
                        with world._lock:
                            jpeg = world._frame
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(jpeg)).encode()
                            + b"\r\n\r\n"
                            + jpeg
                            + b"\r\n"
                        )
                        time.sleep(1.0 / world.fps)
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cam.mjpg"
        self._threads = [
            threading.Thread(target=self.server.serve_forever, name="mjpeg", daemon=True),
            threading.Thread(target=self._run, name="world", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        for t in self._threads:
            t.join(5)

    def _show(self, index: int | None) -> None:
        frame = stamp_frame(index) if index is not None else self._empty
        with self._lock:
            self._frame = frame

    def _recorded(self, visit: Visit) -> bool:
        return any(
            e.plate == visit.plate and e.occurred_at.timestamp() >= visit.start - 1.0
            for e in lane_events(self.db, CAM_LANE)
        )

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            if not self.enabled.wait(0.05):
                continue
            n += 1
            allowed = self.rng.random() >= self.refuse_share
            index = self._next[allowed]
            self._next[allowed] = (index + 1) % 200 + (0 if allowed else 200)
            visit = Visit(n=n, plate=plate_for(index), allowed=allowed, start=time.time())
            self.visits.append(visit)
            self._show(index)
            deadline = time.monotonic() + self.timeout_s
            while not self._stop.is_set() and time.monotonic() < deadline:
                if self._recorded(visit):
                    visit.recorded_at = time.time()
                    break
                time.sleep(0.1)
            if visit.recorded_at is not None:
                self._stop.wait(self.rng.uniform(1.0, 8.0))  # the truck stays a while: kills land here
            self._show(None)
            visit.end = time.time()
            self._stop.wait(2.5)  # the lane is empty long enough for the voter to close the track

    def last_recorded(self) -> float | None:
        done = [v.recorded_at for v in self.visits if v.recorded_at is not None]
        return max(done) if done else None


# ------------------------------------------------------------------ the agent and its files


def write_config(work: Path, registry_seed: Path, camera_url: str, max_read_age_s: float) -> Path:
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

[[cameras]]
id = "soak-camera"
url = "{camera_url}"
fps = 8.0

[[devices.barriers]]
type = "modbus_relay"
name = "soak-barrier"
port = "{work / "barrier"}"
pulse_s = 0.01
poll_s = 0.2
timeout_s = 0.5

[[devices.barriers]]
type = "modbus_relay"
name = "cam-barrier"
port = "{work / "cam-barrier"}"
pulse_s = 0.01
poll_s = 0.2
timeout_s = 0.5

[[lanes]]
id = "{SPOOL_LANE}"
name = "压力测试入口"
direction = "in"
barrier = "soak-barrier"
max_read_age_s = {max_read_age_s}

[lanes.source]
type = "spool"
path = "{work / "reads.jsonl"}"
poll_s = 0.01

[[lanes]]
id = "{CAM_LANE}"
name = "压力测试相机车道"
direction = "in"
camera = "soak-camera"
barrier = "cam-barrier"
motion_gate = false
duplicate_window_s = 60.0
max_read_age_s = {max_read_age_s}

[evidence]
clip = false
"""
    path = work / "agent.toml"
    path.write_text(cfg, encoding="utf-8")
    return path


class Agent:
    """The agent subprocess."""

    def __init__(self, config: Path, log: Path, *, real_recognizer: bool, mutation: str | None = None) -> None:
        self.config = config
        self.log = log
        self.real_recognizer = real_recognizer
        self.mutation = mutation
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()

    def metrics(self, timeout_s: float = 1.0) -> Scrape:
        """The agent's /metrics (raises OSError while it is not serving yet)."""
        return scrape(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout_s=timeout_s)

    def start(self) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--agent-child", str(self.config)]
        if self.real_recognizer:
            cmd.append("--real-recognizer")
        if self.mutation:
            cmd += ["--mutation", self.mutation]
        with self.log.open("ab") as out:
            env = {**os.environ, "ECOGATE_AGENT_METRICS_PORT": str(self.metrics_port)}
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class JournalEntry:
    lane: str
    command: str
    at: float


def read_journal(path: Path) -> tuple[dict[str, list[JournalEntry]], int]:
    """Journal lines per event id (in order), and the number of torn lines (a kill in the middle of a write)."""
    out: dict[str, list[JournalEntry]] = defaultdict(list)
    partial = 0
    if not path.exists():
        return out, partial
    for raw in path.read_bytes().splitlines():
        try:
            item = json.loads(raw)
            at = time.mktime(time.strptime(item["at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            at += float("0." + item["at"][20:26]) if item["at"][19:20] == "." else 0.0
        except (ValueError, KeyError):
            partial += 1
            continue
        out[item["event_id"]].append(JournalEntry(item.get("lane", ""), str(item.get("command")), at))
    return out, partial


def read_outbox(db: Path) -> list[tuple[int, str, str | None, str, str, float | None, bytes]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return list(
            conn.execute("SELECT seq, event_id, read_id, lane_id, decision, actuated_at, body FROM event ORDER BY seq")
        )
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def lane_events(db: Path, lane: str) -> list[Any]:
    return [decode_event(r[6]) for r in read_outbox(db) if r[3] == lane]


def relay_opens(path: Path) -> list[float]:
    if not path.exists():
        return []
    return [json.loads(x)["at"] for x in path.read_text(encoding="utf-8").splitlines() if '"open"' in x]


def journal_of_process(path: Path, pid: int) -> tuple[dict[str, int], dict[str, int]]:
    """Per lane: the open outcomes (``open_ok``, ``open_failed``) process ``pid`` journaled after its own intent."""
    confirmed: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    intents: set[str] = set()
    for raw in path.read_bytes().splitlines() if path.exists() else []:
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if item.get("pid") != pid:
            continue
        event, command, lane = item.get("event_id"), item.get("command"), item.get("lane", "")
        if command == "open":
            intents.add(event)
        elif command == "open_ok" and event in intents:
            confirmed[lane] += 1
        elif command == "open_failed" and event in intents:
            failed[lane] += 1
    return confirmed, failed


def final_metrics(fig: Figures, agent: Agent, work: Path, db: Path, relay_opens_final: int) -> None:
    """Scrape the clean final run and compare with the journal, the relays and the outbox (before SIGTERM)."""
    assert agent.proc is not None
    confirmed, failed = journal_of_process(work / "data" / "barrier-commands.log", agent.proc.pid)
    fig.journal_opens_confirmed_final = sum(confirmed.values())
    fig.journal_opens_failed_final = sum(failed.values())
    fig.relay_opens_final = relay_opens_final
    fig.outbox_unacked_final = len(read_outbox(db))  # no cloud: nothing is ever acked

    def settled(samples: Scrape) -> bool:  # the sampler copies the outbox's stats every 15 s
        return total(samples, "ecogate_gate_outbox_depth") == fig.outbox_unacked_final

    try:
        samples = wait_for(agent.metrics, settled, limit_s=25.0)
    except OSError as exc:
        fig.violations.append(f"final: the agent's metrics endpoint did not answer ({exc})")
        return
    fig.metrics_scrapes += 1
    name = "ecogate_gate_barrier_commands_total"
    fig.metrics_opens_confirmed_final = int(total(samples, name, outcome="confirmed"))
    fig.metrics_opens_failed_final = int(total(samples, name, outcome="failed"))
    fig.metrics_outbox_depth_final = int(total(samples, "ecogate_gate_outbox_depth"))
    fig.metrics_cloud_connected_final = int(total(samples, "ecogate_gate_cloud_connected"))
    fig.metrics_reads_final = int(total(samples, "ecogate_gate_reads_total"))
    fig.metrics_recognition_p95_ms_final = histogram_quantile(
        samples, "ecogate_gate_recognition_seconds", 0.95, lane=CAM_LANE
    ).ms()
    per_lane_ok = all(
        int(total(samples, name, lane=lane, outcome="confirmed")) == confirmed.get(lane, 0)
        and int(total(samples, name, lane=lane, outcome="failed")) == failed.get(lane, 0)
        for lane in (SPOOL_LANE, CAM_LANE)
    )
    fig.metrics_agree = (
        per_lane_ok
        and fig.metrics_opens_confirmed_final <= relay_opens_final
        and fig.metrics_outbox_depth_final == fig.outbox_unacked_final
        and fig.metrics_cloud_connected_final == 0
    )
    if not fig.metrics_agree:
        fig.violations.append(
            "final: the agent's metrics disagree: barrier commands confirmed/failed "
            f"{fig.metrics_opens_confirmed_final}/{fig.metrics_opens_failed_final} scraped, "
            f"{fig.journal_opens_confirmed_final}/{fig.journal_opens_failed_final} journaled by the process, "
            f"{relay_opens_final} relay opens; outbox depth {fig.metrics_outbox_depth_final} scraped, "
            f"{fig.outbox_unacked_final} unacked; cloud link {fig.metrics_cloud_connected_final}"
        )


def _opens(entries: list[JournalEntry]) -> tuple[int, int]:
    """(open intents that were not retries of a failed open, confirmed opens) of one event."""
    intents = confirmed = 0
    failed_before = False
    for e in entries:
        if e.command == "open":
            if not failed_before:
                intents += 1
            failed_before = False
        elif e.command == "open_failed":
            failed_before = True
        elif e.command == "open_ok":
            confirmed += 1
    return intents, confirmed


def check(
    fig: Figures,
    work: Path,
    sims: dict[str, BarrierSim],
    feeder: Feeder,
    world: World,
    limit_s: float,
    *,
    final: bool = False,
) -> None:
    """Check the invariants on the files as the killed (or stopped) agent left them."""
    fig.checks += 1
    journal, fig.partial_journal_lines = read_journal(work / "data" / "barrier-commands.log")
    rows = read_outbox(work / "data" / "outbox" / "outbox.db")
    reads, plates = feeder.snapshot()
    by_event = Counter(r[1] for r in rows)
    by_read = Counter(r[2] for r in rows if r[2] is not None)
    events = {r[1]: r for r in rows}
    decoded = {r[1]: decode_event(r[6]) for r in rows}
    fig.events_stored = len(rows)
    fig.opens_journaled = sum(_opens(e)[0] for e in journal.values())
    fig.opens_confirmed = sum(_opens(e)[1] for e in journal.values())
    fig.opens_on_wire = sum(s.wire_opens() for s in sims.values())
    fig.double_openings = sum(1 for e in journal.values() if _opens(e)[0] > 1 or _opens(e)[1] > 1)
    fig.unknown_after_kill = sum(1 for e in journal.values() if any(x.command == "open_unknown" for x in e))
    fig.stale_reads_recorded = sum(1 for ev in decoded.values() if "stale_read" in ev.anomalies) + sum(
        1
        for eid, e in journal.items()
        if any(x.command == "open_skipped_stale" for x in e)
        and eid in decoded
        and "stale_read" not in decoded[eid].anomalies
    )
    bad = fig.violations
    where = "final" if final else f"kill {fig.kills}"
    stale_opens = 0
    for event_id, entries in journal.items():
        intents, confirmed = _opens(entries)
        if intents == 0 and confirmed == 0:
            continue
        if by_event[event_id] != 1:
            bad.append(f"{where}: open command for {event_id} but {by_event[event_id]} outbox rows")
            continue
        _, _, read_id, _lane, decision, _, _ = events[event_id]
        if decision != "allow":
            bad.append(f"{where}: open command for {event_id} with decision {decision}")
        if read_id is not None and read_id in reads and not reads[read_id]:
            bad.append(f"{where}: open command for refused vehicle {plates.get(read_id)} ({read_id})")
        if intents > 1 or confirmed > 1:
            bad.append(f"{where}: {event_id} opened twice ({intents} intents, {confirmed} confirmed)")
        occurred = decoded[event_id].occurred_at.timestamp()
        for e in entries:
            if e.command == "open" and e.at - occurred > limit_s + 0.5:
                stale_opens += 1
                bad.append(f"{where}: {event_id} opened for a read {e.at - occurred:.1f} s old (limit {limit_s:g} s)")
    fig.stale_opens = stale_opens
    for read_id, n in by_read.items():
        if n > 1:
            bad.append(f"{where}: read {read_id} stored {n} times")
    for _seq, event_id, read_id, _lane, decision, actuated, _body in rows:
        state = journal[event_id][-1].command if journal.get(event_id) else None
        if actuated is not None and decision == "allow" and state != "open_ok":
            bad.append(f"{where}: {event_id} marked actuated without a confirmed open (journal: {state})")
        if read_id is not None and read_id in reads and (decision == "allow") != reads[read_id]:
            bad.append(f"{where}: read {read_id} ({plates[read_id]}) decided {decision}")
    for lane, sim in sims.items():
        journaled = sum(_opens(e)[0] for e in journal.values() if e and e[0].lane == lane)
        if sim.wire_opens() > journaled:
            bad.append(f"{where}: {lane}: {sim.wire_opens()} open commands on the wire, only {journaled} journaled")
    _check_camera(fig, work, world, decoded, journal, where, final=final)
    if final:
        for read_id in reads:
            if by_read[read_id] != 1:
                bad.append(f"final: read {read_id} stored {by_read[read_id]} times")
        for _seq, event_id, read_id, _lane, decision, actuated, _body in rows:
            state = journal[event_id][-1].command if journal.get(event_id) else None
            if actuated is None and state not in NOT_OPENED:
                bad.append(f"final: {event_id} never actuated (journal: {state})")
            if decision == "allow" and state not in NOT_OPENED and _opens(journal.get(event_id, []))[1] == 0:
                bad.append(f"final: allowed {event_id} ({read_id}) never got a confirmed open (journal: {state})")
        report = verify_chain(decode_event(r[6]) for r in rows)
        fig.chain_ok = report.ok
        if not report.ok:
            bad.append(f"final: hash chain broken at seq {report.broken_seq}: {report.reason}")


def _check_camera(
    fig: Figures,
    work: Path,
    world: World,
    decoded: dict[str, Any],
    journal: dict[str, list[JournalEntry]],
    where: str,
    *,
    final: bool,
) -> None:
    """One record per truck visit; no record without a truck; the camera barrier opened at most once per visit."""
    bad = fig.violations
    visits = list(world.visits)
    cam = [e for e in decoded.values() if e.lane_id == CAM_LANE]
    per_visit: Counter[int] = Counter()
    for event in cam:
        at = event.occurred_at.timestamp()
        match = [v for v in visits if v.plate == event.plate and v.start - 1.0 <= at <= (v.end or time.time()) + 1.0]
        if not match:
            bad.append(f"{where}: camera event {event.event_id} ({event.plate}) matches no truck visit")
            continue
        per_visit[match[0].n] += 1
    fig.cam_visits = len(visits)
    fig.cam_visits_allowed = sum(v.allowed for v in visits)
    fig.cam_events = len(cam)
    doubles = [n for n, k in per_visit.items() if k > 1]
    fig.cam_double_records = len(doubles)
    for n in doubles:
        v = visits[n - 1]
        bad.append(f"{where}: truck visit {n} ({v.plate}) recorded {per_visit[n]} times")
    fig.cam_relay_opens = len(relay_opens(work / "cam-relay.jsonl"))
    cam_ids = {e.event_id for e in cam}
    journaled = sum(_opens(journal.get(eid, []))[0] for eid in cam_ids)
    if fig.cam_relay_opens > journaled:
        bad.append(f"{where}: camera barrier relay opened {fig.cam_relay_opens} times, {journaled} journaled")
    if fig.cam_relay_opens > fig.cam_visits_allowed:
        bad.append(
            f"{where}: camera barrier relay opened {fig.cam_relay_opens} times for {fig.cam_visits_allowed} allowed trucks"
        )
    for event in cam:
        allowed_plate = event.plate in world_allowed()
        if (event.decision.value == "allow") != allowed_plate:
            bad.append(f"{where}: camera event {event.event_id} ({event.plate}) decided {event.decision.value}")
    if final:
        lost = [v for v in visits if v.end is not None and per_visit[v.n] == 0]
        fig.cam_lost = len(lost)
        for v in lost:
            bad.append(f"final: truck visit {v.n} ({v.plate}) never recorded")


def world_allowed() -> set[str]:
    return {plate_for(i) for i in range(200)}


def _wait(predicate: Any, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _cam_count(db: Path) -> int:
    return sum(1 for r in read_outbox(db) if r[3] == CAM_LANE)


def soak(args: argparse.Namespace) -> Figures:
    rng = random.Random(args.seed)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="soak-gate-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    db = work / "data" / "outbox" / "outbox.db"
    journal_path = work / "data" / "barrier-commands.log"
    fig = Figures()
    started = time.monotonic()
    sims = {
        SPOOL_LANE: BarrierSim(work / "barrier"),
        CAM_LANE: BarrierSim(work / "cam-barrier", work / "cam-relay.jsonl"),
    }
    for sim in sims.values():
        sim.start()
    spool_sim = sims[SPOOL_LANE]
    feeder = Feeder(
        work / "reads.jsonl",
        rate=args.rate,
        refuse_share=args.refuse_share,
        rng=rng,
        outbox_db=db,
        max_backlog=args.max_backlog,
    )
    world = World(db, random.Random(rng.random()), refuse_share=args.refuse_share)
    save_snapshot(work / "registry-seed.json", feeder.registry())
    config = write_config(work, work / "registry-seed.json", world.url, args.max_read_age_s)
    agent = Agent(config, work / "agent.log", real_recognizer=args.real_recognizer, mutation=args.mutation)
    feeder.start()
    world.start()
    world.enabled.set()
    try:
        for i in range(args.kills):
            opens_before = spool_sim.wire_opens()
            cam_before = _cam_count(db)
            agent.start()
            feeder.enabled.set()
            roll = rng.random()
            if roll < args.startup_share:
                time.sleep(rng.uniform(0.0, args.max_startup_s))
                fig.kills_in_startup += 1
            elif roll < args.startup_share + args.camera_share:
                if not _wait(lambda before=cam_before: _cam_count(db) > before, timeout=args.open_timeout_s, step=0.05):
                    fig.violations.append(f"kill {i + 1}: no camera record within {args.open_timeout_s} s")
                time.sleep(rng.uniform(0.0, 1.0))
                fig.kills_after_camera_record += 1
            else:
                # The spool lane acted: an open on the wire, or (a lane behind its reads) a stale read skipped.
                journal_before = _size(journal_path)
                if not _wait(
                    lambda before=opens_before, size=journal_before: (
                        spool_sim.wire_opens() > before or _size(journal_path) > size
                    ),
                    timeout=args.open_timeout_s,
                ):
                    fig.violations.append(f"kill {i + 1}: no barrier command within {args.open_timeout_s} s")
                time.sleep(rng.uniform(0.0, args.max_after_open_s))
                fig.kills_after_open += 1
            if not agent.alive():
                fig.violations.append(
                    f"kill {i + 1}: agent exited on its own (code {agent.proc and agent.proc.returncode})"
                )
            with contextlib.suppress(OSError):  # a kill during start-up comes before the endpoint is up
                before_kill = agent.metrics(timeout_s=0.5)
                fig.metrics_scrapes += 1
                fig.metrics_opens_confirmed_runs += int(
                    total(before_kill, "ecogate_gate_barrier_commands_total", outcome="confirmed")
                )
            agent.kill()
            feeder.enabled.clear()
            fig.kills += 1
            seen = len(fig.violations)
            check(fig, work, sims, feeder, world, args.max_read_age_s)
            if args.progress:
                for line in fig.violations[seen:][:5]:
                    print(f"  VIOLATION {line}", file=sys.stderr)
            if args.progress and fig.kills % 10 == 0:
                print(
                    f"  {fig.kills} kills, {fig.events_stored} events, {fig.cam_visits} truck visits, "
                    f"{len(fig.violations)} violations, {time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                )
        # Drain: a clean run stores and actuates everything written, then stops on SIGTERM.
        opens_before = spool_sim.wire_opens()
        wire_before = sum(sim.wire_opens() for sim in sims.values())
        agent.start()
        feeder.enabled.set()
        if not _wait(lambda: spool_sim.wire_opens() > opens_before, timeout=args.open_timeout_s):
            fig.violations.append(f"final: no open command within {args.open_timeout_s} s")
        feeder.enabled.clear()
        world.enabled.clear()  # no new truck; the one in front of the camera finishes its visit
        time.sleep(2 * feeder.interval + 0.05)
        reads, _ = feeder.snapshot()

        def drained() -> bool:
            rows = read_outbox(db)
            journal, _ = read_journal(work / "data" / "barrier-commands.log")
            done = all(
                r[5] is not None or (journal.get(r[1]) and journal[r[1]][-1].command in NOT_OPENED) for r in rows
            )
            visits_done = all(v.end is not None for v in world.visits)
            return len({r[2] for r in rows} & reads.keys()) == len(reads) and done and visits_done

        if not _wait(drained, timeout=args.drain_timeout_s, step=0.2):
            fig.violations.append("final: the agent did not store and actuate every read in time")
        final_metrics(fig, agent, work, db, sum(sim.wire_opens() for sim in sims.values()) - wire_before)
        fig.final_exit_code = agent.terminate()
        if fig.final_exit_code != 0:
            fig.violations.append(f"final: SIGTERM exit code {fig.final_exit_code}")
        check(fig, work, sims, feeder, world, args.max_read_age_s, final=True)
    finally:
        if agent.alive():
            agent.kill()
        feeder.stop()
        world.stop()
        for sim in sims.values():
            sim.stop()
    reads, _ = feeder.snapshot()
    fig.reads_written = len(reads)
    fig.reads_allowed = sum(reads.values())
    fig.reads_refused = fig.reads_written - fig.reads_allowed
    fig.seconds = round(time.monotonic() - started, 1)
    fig.load_avg = tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[assignment]
    print(f"work dir: {work}", file=sys.stderr)
    return fig


def agent_child(config: str, *, real_recognizer: bool, mutation: str | None = None) -> int:
    """The agent process of the soak: ``ecogate agent run`` (with the stamp reader as its recognizer).

    ``mutation`` breaks one guard on purpose, to show the soak catches it: ``no-duplicate-seed`` (the
    camera lane's duplicate window starts empty after a restart, as before issue 16).
    """
    if not real_recognizer:
        import agent.vision  # noqa: PLC0415

        agent.vision.PlateRecognizer = StampRecognizer  # type: ignore[misc,assignment]
    if mutation == "no-duplicate-seed":
        from agent.runtime.app import Agent as RuntimeAgent  # noqa: PLC0415

        RuntimeAgent._seed_duplicate_window = lambda *_a, **_k: None  # type: ignore[method-assign]  # noqa: SLF001
    from agent.runtime.cli_run import main as run  # noqa: PLC0415

    return run([config])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs (default 200)")
    parser.add_argument("--rate", type=float, default=25.0, help="spool reads per second written while the agent runs")
    parser.add_argument("--refuse-share", type=float, default=0.3, help="share of unregistered (refused) plates")
    parser.add_argument("--startup-share", type=float, default=0.2, help="share of kills at a random start-up moment")
    parser.add_argument("--camera-share", type=float, default=0.3, help="share of kills just after a camera record")
    parser.add_argument("--max-startup-s", type=float, default=1.5, help="start-up kills: latest moment after spawn")
    parser.add_argument("--max-after-open-s", type=float, default=0.4, help="other kills: latest moment after an open")
    parser.add_argument("--max-backlog", type=int, default=150, help="pause the spool while this many reads behind")
    parser.add_argument("--max-read-age-s", type=float, default=15.0, help="the lanes' read age limit")
    parser.add_argument("--open-timeout-s", type=float, default=30.0, help="wait for the first open of a run")
    parser.add_argument("--drain-timeout-s", type=float, default=120.0, help="final run: wait for every read")
    parser.add_argument("--real-recognizer", action="store_true", help="the ONNX recognizer (slow restarts)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--dir", default=None, help="work folder (default: a new temp folder)")
    parser.add_argument("--progress", action="store_true", help="a progress line every 10 kills (stderr)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--agent-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--mutation", choices=["no-duplicate-seed"], default=None, help="break one guard (mutation check)"
    )
    args = parser.parse_args(argv)
    if args.agent_child:
        return agent_child(args.agent_child, real_recognizer=args.real_recognizer, mutation=args.mutation)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    fig = soak(args)
    out = asdict(fig) | {"seed": args.seed, "violations": fig.violations[:50], "violation_count": len(fig.violations)}
    if args.json:
        print(msgspec.json.encode(out).decode())
    else:
        for key, value in out.items():
            if key != "violations":
                print(f"{key:>26}: {value}")
        for line in fig.violations[:50]:
            print(f"VIOLATION {line}")
    return 0 if not fig.violations else 1


if __name__ == "__main__":
    sys.exit(main())
