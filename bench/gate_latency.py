"""Gate latency end to end: generated lane video → real recognizer → voter → decision → outbox commit
→ Modbus RTU open command received by the relay simulator on a real pty.

Runs the real :class:`agent.runtime.app.Agent` (two camera lanes, booth on, command journal, relay
barriers on ptys) in this process, with the agent's voter (early emission on); the video files are
paced in real time. Per allowed vehicle it measures:

* ``appear → open`` (the issue 4 figure): from the moment the vehicle's FIRST frame is due from the
  camera (the generated video knows the frame each vehicle enters; its due time is the first
  frame's arrival + index / fps, so any lag of the pipeline behind the camera counts) to the open
  command on the wire (simulator side): includes recognition of every frame until the voter is
  confident, decision, fsync'd outbox commit, journal fsync and the Modbus write.
* ``frame → open``: from the arrival of the frame whose read completed the vote.
* baselines from the same run: recognition of one frame alone, and decision + commit + open alone
  (a spool-style read handed straight to the lane pipeline); ``--end-of-track`` runs the old voter
  (emission only when the track ends) for comparison.

Also: refused vehicles never get an open command; RSS and CPU% of the process while idle between
vehicles (all lanes, booth and devices running). Usage::

    .venv/bin/python bench/gate_latency.py --vehicles 40 --idle-s 10
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import structlog

from agent.booth.auth import hash_pin
from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator
from agent.runtime.app import Agent
from agent.runtime.config import LaneConfig, parse_config
from agent.runtime.motion import MotionGate
from agent.runtime.pipeline import LaneRead, ReadSource
from agent.runtime.sources import VisionReadSource
from agent.sources.opencv import FileSource
from agent.synth.video import write_lane_video
from agent.vision import PlateRecognizer, PlateVoter
from agent.vision.types import PlateRead
from agent.vision.voter import VehicleRead
from agent_protocol.events import Decision, new_event_id
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def plates(n: int) -> list[str]:
    """``n`` distinct valid blue-plate numbers (a letter in the second or third position)."""
    out = []
    for i in range(n):
        letter = LETTERS[(i * 7) % len(LETTERS)]
        digits = f"{(i * 37 + 11) % 10000:04d}"
        out.append(f"鄂A{digits[0]}{letter}{digits[1:]}" if i % 2 else f"鄂A{letter}{digits}")
    return out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` in milliseconds-as-given (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class StampedSource(VisionReadSource):
    """Remembers, per read, when the frame that completed its vote arrived and when its vehicle appeared."""

    stamps: dict[str, float]
    appeared: dict[str, float]
    early_reads: dict[str, bool]
    recog_ms: list[float]
    truth: dict[str, int]  # plate → the frame index the vehicle enters
    fps: float

    _frame_ts: float = 0.0

    async def recognise(self, ts: float, frame: Any) -> list[PlateRead]:
        """As the parent, remembering the frame's arrival and timing the models when they ran."""
        self._frame_ts = ts
        t0 = time.perf_counter()
        before = self.gate.passed if self.gate is not None else 0
        plate_reads = await super().recognise(ts, frame)
        if self.gate is None or self.gate.passed != before:  # the models ran on this frame
            self.recog_ms.append((time.perf_counter() - t0) * 1000)
        return plate_reads

    def _to_read(self, vr: VehicleRead) -> LaneRead:
        """As the parent, stamping the read with its decisive frame's arrival and its vehicle's first frame."""
        read = super()._to_read(vr)
        self.stamps[read.read_id] = self._frame_ts
        self.early_reads[read.read_id] = vr.early
        if vr.plate in self.truth:
            assert isinstance(self.frames, FileSource)
            self.appeared[read.read_id] = self.frames.start + self.truth[vr.plate] / self.fps
        return read

    async def reads(self) -> Any:
        """As the parent; when the video ends the lane stays empty (no restart, no replay)."""
        async for read in super().reads():
            yield read
        await asyncio.Event().wait()


class BenchAgent(Agent):
    """The real agent, with camera files paced in real time and reads stamped."""

    stamps: dict[str, float]
    appeared: dict[str, float]
    early_reads: dict[str, bool]
    sources: list[FileSource]
    recog_ms: list[float]
    truth: dict[str, dict[str, int]]
    fps: float
    gates: list[MotionGate | None]

    def _source(self, lane: LaneConfig) -> ReadSource:
        camera = next(c for c in self.cfg.cameras if c.id == lane.camera)
        frames = FileSource(camera.url, live=True)
        self.sources.append(frames)
        src = StampedSource(
            lane_id=lane.id,
            frames=frames,
            recognizer=PlateRecognizer(),
            voter=PlateVoter(early=lane.early_read, duplicate_window_s=lane.duplicate_window_s),
            gate=MotionGate() if lane.motion_gate else None,
        )
        self.gates.append(src.gate)
        src.stamps, src.appeared, src.recog_ms = self.stamps, self.appeared, self.recog_ms
        src.early_reads = self.early_reads
        src.truth, src.fps = self.truth[lane.id], self.fps
        return src


def config(
    work: Path, videos: list[Path], registered: list[str], *, early: bool = True, gate: bool = True
) -> dict[str, Any]:
    """Two camera lanes with Modbus relay barriers, booth on."""
    seed = work / "seed.json"
    vehicles = tuple(
        RegistryVehicle(
            registry_id=f"v{i}",
            category=VehicleCategory.TRANSPORT,
            plate=p,
            plate_colour=PlateColour.BLUE,
            fuel=FuelType.DIESEL,
            emission_stage=EmissionStage("6"),
        )
        for i, p in enumerate(registered)
    )
    save_snapshot(seed, RegistrySnapshot(vehicles=vehicles))
    lanes, barriers, cameras = [], [], []
    for i, video in enumerate(videos):
        barriers.append({"type": "modbus_relay", "name": f"b{i}", "port": str(work / f"relay{i}"), "pulse_s": 0.01})
        cameras.append({"id": f"cam{i}", "url": str(video)})
        lanes.append(
            {
                "id": f"lane{i}",
                "name": f"车道{i}",
                "direction": "in",
                "camera": f"cam{i}",
                "barrier": f"b{i}",
                "early_read": early,
                "motion_gate": gate,
            }
        )
    return {
        "registry_seed": str(seed),
        "agent": {"id": "bench-agent", "data_dir": str(work / "data"), "log_level": "warning"},
        "site": {"id": "bench", "name": "基准测试厂区"},
        "booth": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": 18431,
            "guards": [{"name": "门岗", "pin_hash": hash_pin("1234")}],
        },
        "devices": {"barriers": barriers},
        "cameras": cameras,
        "lanes": lanes,
        "policy": {"unknown_vehicle": "refuse_prompt"},
        "evidence": {"clip": True},  # the agent default: sealed clip before the barrier, late clip after
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scenario; return the figures."""
    work = Path(tempfile.mkdtemp(prefix="gate-latency-"))
    per_lane = max(1, args.vehicles // 2)
    all_plates = plates(2 * per_lane)
    videos = []
    truth: dict[str, dict[str, int]] = {}
    fps = args.fps
    last_s = 0.0
    for i in range(2):
        path = work / f"lane{i}.avi"
        # the empty lane keeps streaming after the last vehicle: the idle figure includes the camera's frames
        passages = write_lane_video(
            path, all_plates[i * per_lane : (i + 1) * per_lane], fps=fps, seed=i, tail_s=args.idle_s + 3.0
        )
        truth[f"lane{i}"] = {p.plate: p.first_frame for p in passages}
        last_s = max(last_s, *(p.last_s for p in passages))
        videos.append(path)
    registered = all_plates[::2]  # half the plates are registered; the others are refused
    sims = [RelayBarrierSimulator(PtyEndpoint(work / f"relay{i}"), travel_s=0.05) for i in range(2)]
    wire: list[float] = []
    for sim in sims:
        await sim.start()
        orig = sim.slave.on_coil_change

        def hook(address: int, value: bool, orig: Any = orig) -> None:
            if value and address == RelayBarrierSimulator.OPEN_COIL:
                wire.append(time.monotonic())
            if orig is not None:
                orig(address, value)

        sim.slave.on_coil_change = hook
    cfg = config(work, videos, registered, early=not args.end_of_track, gate=not args.no_motion_gate)
    agent = BenchAgent(parse_config(cfg))
    agent.stamps, agent.appeared, agent.recog_ms, agent.early_reads, agent.sources = {}, {}, [], {}, []
    agent.gates = []
    agent.truth, agent.fps = truth, fps
    opened_at: dict[str, float] = {}

    def on_lane(item: Any) -> None:
        if item.event is not None and item.barrier_opened and item.event.read_id:
            opened_at[item.event.read_id] = wire[-1] if wire else time.monotonic()

    agent.lane_listeners.append(on_lane)
    task = asyncio.create_task(agent.run(install_signals=False))
    expected = 2 * per_lane
    deadline = time.monotonic() + 30 + 6 * per_lane
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if agent.outbox is not None and len(agent.outbox.events(limit=10_000)) >= expected:
            break
    # idle: every lane, booth and device running, the cameras streaming the empty lanes
    started = min((s.start for s in agent.sources if s.start), default=time.monotonic())
    await asyncio.sleep(max(1.0, started + last_s + 1.0 - time.monotonic()))
    gone = sum(s.dropped for s in agent.sources)
    c0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.idle_s)
    idle_cpu = (time.process_time() - c0) / (time.monotonic() - t0) * 100
    idle_dropped = sum(s.dropped for s in agent.sources) - gone
    streaming = all(s.health().connected for s in agent.sources)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert agent.outbox is not None
    events = agent.outbox.events(limit=10_000)
    journal = [json.loads(x) for x in (agent.data / "barrier-commands.log").read_text().splitlines()]
    opened_ids = {j["event_id"] for j in journal if j["command"] == "open"}
    refused_opened = [e for e in events if e.decision is Decision.REFUSE and e.event_id in opened_ids]
    latencies = [(opened_at[r] - agent.stamps[r]) * 1000 for r in opened_at if r in agent.stamps]
    appear = [(opened_at[r] - agent.appeared[r]) * 1000 for r in opened_at if r in agent.appeared]
    # baseline: decision + commit + open alone on lane0 (no recognition)
    lane = agent.lanes["lane0"]
    base: list[float] = []
    base_missed = 0
    for _ in range(args.baseline):
        n = len(wire)
        t = time.monotonic()
        read = LaneRead(
            read_id=new_event_id(),
            plate=registered[0],
            colour=PlateColour.BLUE,
            confidence=0.99,
            moment=datetime.now(UTC),
        )
        await lane.handle_read(read)
        until = time.monotonic() + 5.0
        while len(wire) == n and time.monotonic() < until:  # noqa: ASYNC110 - polling is the measurement
            await asyncio.sleep(0.001)
        if len(wire) == n:
            base_missed += 1
        else:
            base.append((wire[-1] - t) * 1000)
    agent.supervisor.request_stop()
    code = await asyncio.wait_for(task, 15)
    for sim in sims:
        await sim.stop()
    return {
        "vehicles_in_video": expected,
        "events_stored": len(events),
        "allowed": sum(e.decision is Decision.ALLOW for e in events),
        "refused": sum(e.decision is Decision.REFUSE for e in events),
        "refused_with_open": len(refused_opened),
        "reads": [(e.plate, e.decision.value, list(e.reasons)) for e in events],
        "voter": "end_of_track" if args.end_of_track else "early",
        "early_emissions": sum(agent.early_reads.values()),
        "frames_dropped_behind": sum(s.dropped for s in agent.sources),
        "appear_to_open_ms": {
            "n": len(appear),
            "p50": pct(appear, 0.5),
            "p95": pct(appear, 0.95),
            "max": max(appear, default=float("nan")),
        },
        "frame_to_open_ms": {
            "n": len(latencies),
            "p50": pct(latencies, 0.5),
            "p95": pct(latencies, 0.95),
            "max": max(latencies, default=float("nan")),
        },
        "baseline_recognition_ms": {
            "p50": pct(agent.recog_ms, 0.5),
            "p95": pct(agent.recog_ms, 0.95),
            "mean": statistics.fmean(agent.recog_ms) if agent.recog_ms else float("nan"),
        },
        "baseline_decide_commit_open_ms": {"p50": pct(base, 0.5), "p95": pct(base, 0.95), "no_open": base_missed},
        "idle_cpu_percent": round(idle_cpu, 1),
        "idle_cameras_streaming": streaming,
        "idle_frames_dropped": idle_dropped,
        "motion_gate": {
            "on": not args.no_motion_gate,
            "recognised": sum(g.passed for g in agent.gates if g is not None),
            "skipped": sum(g.skipped for g in agent.gates if g is not None),
        },
        "fps": fps,
        "max_rss_mb": round(rss_mb, 1),
        "exit_code": code,
    }


def offline(vehicles: int, *, fps: float = 25.0, early_single: float | None = None) -> dict[str, Any]:
    """Frames from each vehicle's first frame to its emission, every frame recognised (no clock, no load).

    On a quiet machine appear → open ≈ frames × frame interval + recognition of the last frame +
    decide/commit/open; this count does not depend on the machine's load.
    """
    work = Path(tempfile.mkdtemp(prefix="gate-frames-"))
    path = work / "lane.avi"
    truth = {p.plate: p.first_frame for p in write_lane_video(path, plates(vehicles), fps=fps, seed=7)}
    recognizer = PlateRecognizer()
    early = PlateVoter(early=True, early_single=early_single)
    end = PlateVoter()
    after: dict[str, list[int]] = {"early": [], "end_of_track": []}
    capture = cv2.VideoCapture(str(path))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        reads = recognizer.recognize(frame)
        for name, voter in (("early", early), ("end_of_track", end)):
            for vr in voter.feed(reads, index / fps):
                if vr.plate in truth:
                    after[name].append(index - truth[vr.plate])
        index += 1
    capture.release()
    for vr in end.flush(float("inf")):
        if vr.plate in truth:
            after["end_of_track"].append(index - truth[vr.plate])
    return {
        name: {
            "n": len(v),
            "frames_p50": pct([float(x) for x in v], 0.5),
            "frames_p95": pct([float(x) for x in v], 0.95),
            "frames_max": max(v, default=-1),
        }
        for name, v in after.items()
    } | {"vehicles": vehicles, "fps": fps, "early_single": early_single}


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures; exit 1 when a refused vehicle got an open command or a bound is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=12, help="vehicles over both lanes")
    parser.add_argument("--idle-s", type=float, default=10.0, help="idle period measured for CPU%")
    parser.add_argument("--baseline", type=int, default=20, help="decide+commit+open baseline samples")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if appear→open p95 > 300 ms, RSS ≥ 600 MB or idle CPU ≥ 100 %%"
    )
    parser.add_argument("--no-motion-gate", action="store_true", help="recognise every frame (no motion gate)")
    parser.add_argument("--end-of-track", action="store_true", help="the old voter: emit only when a track ends")
    parser.add_argument(
        "--offline", action="store_true", help="only count frames from appearance to emission (every frame read)"
    )
    parser.add_argument(
        "--fps", type=float, default=25.0, help="frame rate of the generated lane videos (PAL cameras: 25)"
    )
    parser.add_argument("--early-single", type=float, default=None, help="with --offline: the voter's early_single")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a native crash (OpenCV, onnxruntime) prints every thread's stack
    if args.offline:
        print(json.dumps(offline(args.vehicles, fps=args.fps, early_single=args.early_single), indent=2))
        return 0
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    fig = asyncio.run(run(args))
    print(json.dumps(fig, ensure_ascii=False, indent=2))
    bad = fig["refused_with_open"] > 0 or fig["exit_code"] != 0 or fig["events_stored"] == 0
    if args.check:
        bad = bad or fig["appear_to_open_ms"]["p95"] > 300 or fig["max_rss_mb"] >= 600 or fig["idle_cpu_percent"] >= 100
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
