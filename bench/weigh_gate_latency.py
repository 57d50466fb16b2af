"""Read → open command on a weighbridge lane, beside the same lane without a weighbridge (same run).

Issue 15: the pass used to wait up to ``weigh_wait_s`` (3 s) for a stable weight before it was sealed
and the barrier opened; with the deck behind the barrier the truck is not on it yet, so the wait
usually ran out. Now the pass never waits and the weight is attached later. This runs the real
:class:`agent.runtime.app.Agent` with spool reads, a Modbus relay barrier and an XK3190-A9 weighbridge
simulator on real ptys; each truck drives onto the deck 2 s after its open command (deck behind the
barrier) and leaves after its plateau. It prints, per lane, read-file-append → open-coil write
received by the relay simulator (p50/p95/max), and how many passes got their own weight.

Usage::

    .venv/bin/python bench/weigh_gate_latency.py --trucks 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator, WeighbridgeSimulator
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

PLATES = tuple(f"鄂A{n:05d}" for n in range(10, 60))


def _config(tmp: Path) -> dict[str, Any]:
    seed = tmp / "seed.json"
    vehicles = tuple(
        RegistryVehicle(
            registry_id=f"v{i}",
            category=VehicleCategory.TRANSPORT,
            plate=plate,
            plate_colour=PlateColour.YELLOW,
            fuel=FuelType.DIESEL,
            emission_stage=EmissionStage("6"),
        )
        for i, plate in enumerate(PLATES)
    )
    save_snapshot(seed, RegistrySnapshot(vehicles=vehicles))

    def lane(lane_id: str, relay: str, *, scale: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": lane_id,
            "name": lane_id,
            "direction": "in",
            "barrier": relay,
            "source": {"type": "spool", "path": str(tmp / f"{lane_id}.jsonl"), "poll_s": 0.01},
        }
        if scale:
            out["weighbridge"] = "scale"
        return out

    return {
        "registry_seed": str(seed),
        "agent": {"id": "agent-bench", "data_dir": str(tmp / "data")},
        "site": {"id": "site-1", "name": "bench"},
        "booth": {"enabled": False},
        "devices": {
            "barriers": [
                {"type": "modbus_relay", "name": "relay-w", "port": str(tmp / "relay-w"), "pulse_s": 0.01},
                {"type": "modbus_relay", "name": "relay-p", "port": str(tmp / "relay-p"), "pulse_s": 0.01},
            ],
            "weighbridges": [{"type": "xk3190_a9", "name": "scale", "port": str(tmp / "scale")}],
        },
        "lanes": [lane("weighed", "relay-w", scale=True), lane("plain", "relay-p", scale=False)],
        "evidence": {"clip": False},
    }


def _feed(tmp: Path, lane_id: str, read_id: str, plate: str) -> None:
    line = {"read_id": read_id, "plate": plate, "colour": "yellow", "confidence": 0.97}
    with (tmp / f"{lane_id}.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")


async def _open_after(relay: RelayBarrierSimulator, before: int, t0: float, limit_s: float = 30.0) -> float:
    while relay.opens <= before:
        if time.monotonic() - t0 > limit_s:
            raise TimeoutError("no open command")
        await asyncio.sleep(0.002)
    return (time.monotonic() - t0) * 1000


def _stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "n": len(xs),
        "p50": round(statistics.median(xs), 1),
        "p95": round(xs[max(0, round(0.95 * len(xs)) - 1)], 1),
        "max": round(xs[-1], 1),
    }


async def run(trucks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        relay_w = RelayBarrierSimulator(PtyEndpoint(tmp / "relay-w"), travel_s=0.02)
        relay_p = RelayBarrierSimulator(PtyEndpoint(tmp / "relay-p"), travel_s=0.02)
        scale = WeighbridgeSimulator(PtyEndpoint(tmp / "scale"), "xk3190_a9", interval_s=0.05)
        for sim in (relay_w, relay_p, scale):
            await sim.start()
        agent = Agent(parse_config(_config(tmp)))
        task = asyncio.create_task(agent.run(install_signals=False))
        while len(agent.lanes) < 2:  # noqa: ASYNC110 - polling the agent's start-up
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        weighed: list[float] = []
        plain: list[float] = []
        kgs = [15_200.0 + 1_000 * i for i in range(trucks)]
        try:
            for i in range(trucks):
                t0 = time.monotonic()
                _feed(tmp, "plain", f"p{i}", PLATES[25 + i])
                plain.append(await _open_after(relay_p, i, t0))
                t0 = time.monotonic()
                _feed(tmp, "weighed", f"w{i}", PLATES[i])
                weighed.append(await _open_after(relay_w, i, t0))
                await asyncio.sleep(2.0)  # the truck reaches the deck behind the barrier
                scale.set_weight(kgs[i])
                await asyncio.sleep(2.8)
                scale.set_weight(0)
                await asyncio.sleep(0.8)
            await asyncio.sleep(4.0)  # any wait of the old pipeline ends
            assert agent.outbox is not None
            events = {e.read_id: e for e in agent.outbox.events(limit=10_000)}
            right = 0
            for i in range(trucks):
                event = events[f"w{i}"]
                late = getattr(agent.outbox, "weighings", None)
                rows = late(event.event_id) if late is not None else []
                kg = next((w.record.weight_kg for w in rows if w.record is not None), None)
                if kg is None and event.weighing is not None:
                    kg = float(event.weighing.gross_kg or 0)
                right += kg == kgs[i]
        finally:
            agent.supervisor.request_stop()
            await asyncio.wait_for(task, 20)
            for sim in (relay_w, relay_p, scale):
                await sim.stop()
    return {
        "trucks": trucks,
        "read_to_open_ms_weighbridge_lane": _stats(weighed),
        "baseline_read_to_open_ms_plain_lane": _stats(plain),
        "weighed_with_own_weight": right,
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trucks", type=int, default=8, help="trucks per lane")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.trucks))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
