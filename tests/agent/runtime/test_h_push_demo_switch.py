"""The demo's lane switched to any camera family by config (issue 23): a video-camera lane rewritten by
``switch_lane_to_push`` receives the family's pushes from :class:`PushCameraSimulator` over TCP."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim.push_camera import PushCameraSimulator, switch_lane_to_push
from agent.runtime.app import Agent
from agent.runtime.config import load_config
from agent_protocol.events import Decision
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

pytestmark = pytest.mark.anyio

KNOWN, UNKNOWN = "鄂A3H725", "鄂H62817"
SCENE = b"\xff\xd8\xff\xe0scene" + bytes(range(256)) * 4 + b"\xff\xd9"

CONFIG = """\
registry_seed = "{seed}"

[agent]
id = "agent-demo"
data_dir = "{data}"

[site]
id = "site-1"
name = "青山厂区"

[booth]
enabled = false

[policy]
unknown_vehicle = "refuse_prompt"

[[cameras]]
id = "cam-east"
url = "http://127.0.0.1:9/video.mjpg"
fps = 5.0

[[devices.barriers]]
type = "virtual"
name = "east-barrier"

[[lanes]]
id = "east-in"
name = "东门入口"
direction = "in"
camera = "cam-east"
barrier = "east-barrier"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("family", ["hikvision-isapi", "dahua-itc", "vzenith-vz", "generic-json"])
async def test_demo_lane_switches_to_a_push_family(tmp_path: Path, family: str) -> None:
    seed = tmp_path / "seed.json"
    vehicle = RegistryVehicle(
        registry_id="v1",
        category=VehicleCategory.TRANSPORT,
        plate=KNOWN,
        plate_colour=PlateColour.YELLOW,
        fuel=FuelType.DIESEL,
        emission_stage=EmissionStage("6"),
    )
    save_snapshot(seed, RegistrySnapshot(vehicles=(vehicle,)))
    path = tmp_path / "agent.toml"
    path.write_text(CONFIG.format(seed=seed, data=tmp_path / "data"), encoding="utf-8")
    port = _free_port()
    switch_lane_to_push(path, camera_id="cam-east", family=family, push_port=port)
    cfg = load_config(path)
    assert cfg.cameras[0].push_format == family
    assert cfg.lanes[0].source.type == "camera_push"
    seen: list[int] = []
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))
    camera = PushCameraSimulator(
        family,
        f"http://127.0.0.1:{port}/camera-push/cam-east",
        [(KNOWN, "yellow"), (UNKNOWN, "yellow")],
        every_s=0.5,
        scene=lambda _i: SCENE,
        on_vehicle=seen.append,
    )
    deadline = time.monotonic() + 30
    try:
        await camera.start()
        while agent.outbox is None or len(agent.outbox.events()) < 2:
            assert time.monotonic() < deadline, f"no passes (sent {camera.sent}, refused {camera.refused})"
            await asyncio.sleep(0.1)
        events = agent.outbox.events()
    finally:
        await camera.stop()
        agent.supervisor.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    assert camera.refused == 0
    assert seen[:2] == [0, 1]
    decided = {e.plate: e.decision for e in events}
    assert decided[KNOWN] is Decision.ALLOW
    assert decided[UNKNOWN] is Decision.REFUSE
    assert all(e.evidence.snapshots for e in events)


def test_the_demo_agent_config_survives_the_switch(tmp_path: Path) -> None:
    """The demo's own agent.toml (infra/demo_agent.write_config: booth guards, cloud, two lanes) round-trips
    through the rewrite; only the inbound camera and its lane change."""
    import tomllib  # noqa: PLC0415

    from infra.demo_agent import AgentSetup, BoothSetup, LaneSetup, write_config  # noqa: PLC0415

    setup = AgentSetup("a1", "s1", "l-in", "东门入口", "token", "l-out", "东门出口")
    ports = {"barrier": "/dev/pts/90", "led": "/dev/pts/91", "weighbridge": "/dev/pts/92"}
    path = write_config(
        tmp_path / "agent.toml",
        setup,
        data_dir=tmp_path / "data",
        camera_url="http://127.0.0.1:9/video.mjpg",
        ports=ports,
        registry_seed=tmp_path / "seed.json",
        cloud_url="ws://127.0.0.1:8000/agent/ws",
        exit_lane=LaneSetup("east-out", "l-out", "东门出口", "out", "http://127.0.0.1:10/video.mjpg", ports),
        booth=BoothSetup(port=8080, guard_name="王师傅", guard_account="g1", pin_hash="$argon2id$v=19$x"),
    )
    before = tomllib.loads(path.read_text(encoding="utf-8"))
    switch_lane_to_push(path, camera_id="cam-east", family="vzenith-vz", push_port=9123)
    after = tomllib.loads(path.read_text(encoding="utf-8"))
    assert after["cameras"][0] == {**before["cameras"][0], "push_format": "vzenith-vz"}
    assert after["lanes"][0] == {
        **before["lanes"][0],
        "source": {"type": "camera_push", "push_host": "127.0.0.1", "push_port": 9123},
    }
    for key in ("agent", "site", "booth", "policy", "evidence", "cloud", "devices", "registry_seed"):
        assert after[key] == before[key]
    assert after["lanes"][1] == before["lanes"][1]
    assert after["cameras"][1] == before["cameras"][1]
    assert load_config(path).lanes[0].source.push_port == 9123
