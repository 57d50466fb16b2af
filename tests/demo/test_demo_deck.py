"""The demo's weighbridge behind the barrier gives each truck its own weight (issue 15), on real ptys.

A fresh ``make demo`` at load 25 put 12 of 20 weights on the previous or next plate: the demo drove the
deck at each truck's first video frame for longer than the gap between two trucks, occupancies merged
and every later claim took the next truck's weight. ``infra.demo.Deck`` now sends a truck onto the deck
per open command of the barrier, one at a time. Here the production agent (spool reads, the relay
barrier and the XK3190 weighbridge simulators on ptys, the gate-flow harness of tests/agent/runtime)
runs against the demo's own ``Deck`` and barrier watcher: a recognizer that lags the camera by seconds
and two reads while the arm is still up still weigh each truck with its own load; the refused truck
between them never reaches the deck.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.demo import Deck, Figures, _watch_barrier
from infra.demo_video import CAST

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _gate_flow() -> Any:
    path = Path(__file__).resolve().parents[1] / "agent" / "runtime" / "test_gate_flow.py"
    spec = importlib.util.spec_from_file_location("demo_gate_flow_kit", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_each_truck_gets_its_own_weight_behind_the_barrier(tmp_path: Path) -> None:
    flow = _gate_flow()
    site = flow.Site(tmp_path, weigh_wait_s=30.0)
    await site.relay.start()
    await site.scale.start()
    lanes = SimpleNamespace(weighbridge=site.scale, barrier=site.relay)
    figures = Figures()
    deck = Deck(lanes, figures)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_watch_barrier(lanes, figures, deck, stop)), asyncio.create_task(deck.run(stop))]
    first, refused, second = CAST[0], CAST[2], CAST[1]
    assert (first.expected, refused.expected, second.expected) == ("allow", "refuse", "allow")
    try:
        async with site.agent() as agent:
            deck.truck_shown(0)  # 鄂A3H725, 49,000 kg
            deck.truck_shown(2)  # the 国四 truck the gate refuses: never on the deck
            deck.truck_shown(1)  # 鄂AF8261, 15,200 kg
            await asyncio.sleep(2.0)  # the recognizer lags the camera
            site.feed("gate-in", "a", flow.TRUCK)
            await asyncio.sleep(0.1)  # the second read while the arm is still up
            site.feed("gate-in", "b", flow.OTHER)
            await flow.until(lambda: flow._weighed(agent, "b") is not None, timeout_s=40.0)
            assert flow._kg(flow._weighed(agent, "a")) == first.kg_loaded
            assert flow._kg(flow._weighed(agent, "b")) == second.kg_loaded
            assert site.relay.opens == 2
            assert figures.trucks_on_scale == 2
            assert agent.outbox is not None
            assert [w for w in agent.outbox.weighings() if w.event_id is None] == []
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await site.scale.stop()
        await site.relay.stop()


def test_a_truck_on_the_deck_settles_and_leaves_within_one_truck_period() -> None:
    """Stable longer than the agent's 2 s window; the deck is empty again before the next truck of the video."""
    from agent.devices.stability import StabilitySettings  # noqa: PLC0415
    from infra.demo import DECK_EMPTY_S, camera_period_s  # noqa: PLC0415

    profile = Deck(None, Figures()).profile(CAST[0], seed=1)
    hold = profile.segments[3]
    assert hold.seconds > StabilitySettings().window_s + 0.5
    assert profile.final_kg == 0.0
    assert profile.duration + DECK_EMPTY_S <= camera_period_s() + 0.5


def test_the_exit_deck_weighs_each_truck_empty_and_its_video_loops_with_the_entries(tmp_path: Path) -> None:
    """The exit lane (issue 15: net weights in the demo): the trucks that came in leave with their tare."""
    from infra.demo_video import EXIT_CAST  # noqa: PLC0415

    assert [t.plate for t in EXIT_CAST] == [t.plate for t in CAST if t.expected == "allow"]
    exit_deck = Deck(None, Figures(), cast=EXIT_CAST, leaving=True)
    for truck in EXIT_CAST:
        profile = exit_deck.profile(truck, seed=2)
        settled = profile.segments[2]  # the ramp to the weight the truck then stands at (the plateau)
        assert settled.to_kg == truck.kg_tare, (truck, settled)
        assert truck.kg_tare < truck.kg_loaded, truck  # net > 0 on every trip
    exit_deck.truck_shown(0)
    assert [t.plate for _, t in exit_deck.approaching] == [EXIT_CAST[0].plate]


def test_the_demo_agent_config_has_both_lanes_and_the_booth(tmp_path: Path) -> None:
    """``write_config`` with the exit lane and the booth is a config the agent accepts."""
    from agent.booth.auth import hash_pin  # noqa: PLC0415
    from agent.runtime.config import load_config  # noqa: PLC0415
    from infra.demo_agent import AgentSetup, BoothSetup, LaneSetup, write_config  # noqa: PLC0415

    ids = [str(uuid.uuid4()) for _ in range(4)]
    setup = AgentSetup(ids[0], ids[1], ids[2], "东门入口", "token", ids[3], "东门出口")
    ports = {"barrier": "/dev/null", "weighbridge": "/dev/null", "led": "/dev/null"}
    path = write_config(
        tmp_path / "agent.toml",
        setup,
        data_dir=tmp_path / "data",
        camera_url="http://127.0.0.1:1/video.mjpg",
        ports=ports,
        registry_seed=tmp_path / "vehicles.json",
        exit_lane=LaneSetup("east-out", ids[3], "东门出口", "out", "http://127.0.0.1:2/video.mjpg", ports),
        booth=BoothSetup(port=18080, guard_name="王师傅", guard_account="demo-guard", pin_hash=hash_pin("246810")),
    )
    cfg = load_config(path)
    assert [(lane.direction, lane.weighbridge, lane.barrier) for lane in cfg.lanes] == [
        ("in", "east-scale", "east-barrier"),
        ("out", "east-out-scale", "east-out-barrier"),
    ]
    assert cfg.booth.enabled
    assert cfg.booth.host == "127.0.0.1"
    assert [g.account for g in cfg.booth.guards] == ["demo-guard"]


def test_the_deck_takes_the_truck_whose_plate_the_gate_let_through() -> None:
    """A truck the camera showed but the gate never decided (a push the agent did not take) must not give its
    weight to the next plate: the open goes to the plate on the lane's screen (issue 15, demo with push cameras)."""
    deck = Deck(None, Figures())
    deck.truck_shown(0)  # 鄂A3H725: its push was lost, no pass, no open
    deck.truck_shown(1)  # 鄂AF8261: allowed, the screen shows its plate
    deck.barrier_opened(CAST[1].plate)
    assert deck.queue.get_nowait().plate == CAST[1].plate
    assert [t.plate for _, t in deck.approaching] == [CAST[0].plate]  # expires at the barrier, never weighed
    deck.barrier_opened(None)  # no screen: the oldest waiting truck
    assert deck.queue.get_nowait().plate == CAST[0].plate
