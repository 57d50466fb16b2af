"""A camera-push lane of the running agent (issue 23): the lane's camera family is chosen by config;
a Dahua / 臻识 / generic push sent over TCP by the simulator becomes a decided pass with the camera's
scene picture and plate crop in the outbox."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import time
from pathlib import Path

import pytest

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim.camera_push import PushSender, build_push
from agent.runtime.app import Agent
from agent.runtime.config import ConfigError, parse_config
from agent_protocol.events import Decision, SnapshotRole
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

pytestmark = pytest.mark.anyio

KNOWN, UNKNOWN = "鄂A1B234", "鄂AD5678"
SCENE = b"\xff\xd8\xff\xe0scene" + bytes(range(256)) * 8 + b"\xff\xd9"
CROP = b"\xff\xd8\xff\xe0crop" + bytes(range(100)) + b"\xff\xd9"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, family: str, port: int) -> dict[str, object]:
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
    return {
        "registry_seed": str(seed),
        "agent": {"id": "agent-push", "data_dir": str(tmp_path / "data")},
        "site": {"id": "site-1", "name": "青山厂区"},
        "booth": {"enabled": False},
        "devices": {"barriers": [{"type": "virtual", "name": "gate"}]},
        "cameras": [{"id": "cam1", "url": "http://192.168.1.108", "push_format": family}],
        "lanes": [
            {
                "id": "push-in",
                "name": "东门入口",
                "direction": "in",
                "camera": "cam1",
                "barrier": "gate",
                "source": {"type": "camera_push", "push_host": "127.0.0.1", "push_port": port},
            }
        ],
        "policy": {"unknown_vehicle": "refuse_prompt"},
    }


@pytest.mark.parametrize("family", ["dahua-itc", "vzenith-vz", "generic-json"])
async def test_push_lane_records_passes_with_pictures(tmp_path: Path, family: str) -> None:
    port = _free_port()
    agent = Agent(parse_config(_config(tmp_path, family, port)))
    task = asyncio.create_task(agent.run(install_signals=False))
    sender = PushSender(f"http://127.0.0.1:{port}/camera-push/cam1")
    try:
        deadline = time.monotonic() + 20
        while True:  # until the receiver listens
            try:
                status, _ = await sender.send(*build_push(family, KNOWN, scene_jpeg=SCENE, plate_jpeg=CROP))
                break
            except OSError:
                assert time.monotonic() < deadline, "receiver never listened"
                await asyncio.sleep(0.1)
        assert status == 200
        assert (await sender.send(*build_push(family, UNKNOWN, colour="blue", scene_jpeg=SCENE)))[0] == 200
        skewed = build_push(family, "", colour="other", minutes_off=30)  # no plate: no pass, but its time counts
        assert (await sender.send(*skewed))[0] == 200
        assert [a.code for a in agent.alarms] == ["camera_clock_skew"]
        assert re.match(r"摄像机时钟偏差 \+1(799|800) 秒", agent.alarms[0].message)
        other = "generic-json" if family != "generic-json" else "vzenith-vz"
        assert (await sender.send(*build_push(other, UNKNOWN)))[0] == 415  # the configured family only
        while agent.outbox is None or len(agent.outbox.events()) < 2:
            assert time.monotonic() < deadline, "passes not recorded"
            await asyncio.sleep(0.1)
        known, unknown = agent.outbox.events()[:2]
    finally:
        agent.supervisor.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    assert (known.plate, known.decision, known.lane_id) == (KNOWN, Decision.ALLOW, "push-in")
    snaps = {s.role: s.sha256 for s in known.evidence.snapshots}
    assert agent.outbox.read_blob(snaps[SnapshotRole.PLATE]) == CROP
    assert snaps == {
        SnapshotRole.SCENE: hashlib.sha256(SCENE).hexdigest(),
        SnapshotRole.PLATE: hashlib.sha256(CROP).hexdigest(),
    }
    assert (unknown.plate, unknown.decision) == (UNKNOWN, Decision.REFUSE)
    assert [s.role for s in unknown.evidence.snapshots] == [SnapshotRole.SCENE]


def test_push_lane_needs_camera_and_port(tmp_path: Path) -> None:
    raw = _config(tmp_path, "dahua-itc", 0)
    lane = raw["lanes"][0]  # type: ignore[index]
    del lane["source"]["push_port"]
    with pytest.raises(ConfigError, match="camera_push"):
        parse_config(raw)
