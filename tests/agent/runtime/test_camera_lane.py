"""A camera lane of the running agent: a generated lane video through the real recognizer and voter,
decided, stored with its scene photo, plate crop and a motion-JPEG clip from the frame ring.

With early plate emission the decision comes ~0.2 s after the vehicle appears, so the clip sealed
into the event holds little; the late clip attachment (ADR 0020) covers before and after the pass.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.outbox import AttachmentStatus
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
            "lanes": [
                {
                    "id": "cam-in",
                    "name": "东门入口",
                    "direction": "in",
                    "camera": "cam1",
                    "barrier": "gate",
                    "early_read": True,
                }
            ],
            "policy": {"unknown_vehicle": "refuse_prompt"},
            "evidence": {"clip": True, "clip_before_s": 5.0, "clip_after_s": 3.0, "clip_fps": 4.0},
        }
    )
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            box = agent.outbox
            if box is not None and len(box.events()) >= 2:
                first_id = box.events()[0].event_id
                if any(a.status is AttachmentStatus.PENDING for a in box.attachments(first_id)):
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
        sealed = first.evidence.clip  # cut at commit: what the ring held when the barrier was commanded
        assert sealed is not None
        assert sealed.start <= sealed.end <= first.occurred_at + timedelta(seconds=1)
        # The late clip: [pass - 5 s, pass + 3 s], frames after the pass included.
        [late] = agent.outbox.attachments(first.event_id)
        assert late.status is AttachmentStatus.PENDING
        clip = late.clip
        assert clip is not None
        clip_data = agent.outbox.read_blob(clip.sha256)
        assert clip_data is not None
        assert clip.size == len(clip_data)
        assert clip_data[:2] == b"\xff\xd8"
        assert clip_data.count(b"\xff\xd8\xff") >= 4  # several frames
        assert clip.start < first.occurred_at < clip.end
        assert first.occurred_at - timedelta(seconds=5.01) <= clip.start
        assert clip.end <= first.occurred_at + timedelta(seconds=3.01)
        assert clip.end - first.occurred_at >= timedelta(seconds=1.5)  # the vehicle after the decision
        assert agent.outbox.blob_state(clip.sha256) == "present"
    finally:
        agent.supervisor.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
