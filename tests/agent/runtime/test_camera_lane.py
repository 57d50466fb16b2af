"""A camera lane of the running agent: a generated lane video through the real recognizer and voter,
decided, stored with its scene photo, plate crop and a motion-JPEG clip from the frame ring.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent.synth.video import write_lane_video
from agent_protocol.events import Decision, SnapshotRole
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

pytestmark = pytest.mark.anyio

KNOWN, UNKNOWN = "鄂A1B234", "鄂AD5678"


@pytest.mark.slow
async def test_camera_lane_stores_photos_and_clip(tmp_path: Path) -> None:
    video = tmp_path / "lane.avi"
    write_lane_video(video, [KNOWN, UNKNOWN], fps=10.0, seed=1)
    seed = tmp_path / "seed.json"
    vehicle = RegistryVehicle(
        registry_id="v1",
        category=VehicleCategory.TRANSPORT,
        plate=KNOWN,
        plate_colour=PlateColour.BLUE,
        fuel=FuelType.DIESEL,
        emission_stage=EmissionStage("6"),
    )
    save_snapshot(seed, RegistrySnapshot(vehicles=(vehicle,)))
    cfg = parse_config(
        {
            "registry_seed": str(seed),
            "agent": {"id": "agent-cam", "data_dir": str(tmp_path / "data")},
            "site": {"id": "site-1", "name": "青山厂区"},
            "booth": {"enabled": False},
            "devices": {"barriers": [{"type": "virtual", "name": "gate"}]},
            "cameras": [{"id": "cam1", "url": str(video)}],
            "lanes": [{"id": "cam-in", "name": "东门入口", "direction": "in", "camera": "cam1", "barrier": "gate"}],
            "policy": {"unknown_vehicle": "refuse_prompt"},
            "evidence": {"clip": True, "clip_before_s": 5.0, "clip_fps": 4.0},
        }
    )
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            if agent.outbox is not None and len(agent.outbox.events()) >= 2:
                break
        assert agent.outbox is not None
        events = agent.outbox.events()[:2]
        assert [(e.plate, e.decision) for e in events] == [(KNOWN, Decision.ALLOW), (UNKNOWN, Decision.REFUSE)]
        first = events[0]
        assert {s.role for s in first.evidence.snapshots} == {SnapshotRole.SCENE, SnapshotRole.PLATE}
        for snap in first.evidence.snapshots:
            data = agent.outbox.read_blob(snap.sha256)
            assert data is not None
            assert data[:2] == b"\xff\xd8"
        clip = first.evidence.clip
        assert clip is not None
        clip_data = agent.outbox.read_blob(clip.sha256)
        assert clip_data is not None
        assert clip_data[:2] == b"\xff\xd8"
        assert clip_data.count(b"\xff\xd8\xff") >= 2  # several frames
        assert clip.start <= clip.end
    finally:
        agent.supervisor.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
