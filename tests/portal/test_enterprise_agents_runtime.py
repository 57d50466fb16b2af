"""The agent runtime's side of the portal's lane ROI set-up (issue 9), without a cloud.

A real :class:`agent.runtime.app.Agent` with a camera lane: the ROI kept from the cloud
(``data_dir/lane_rois.json``) wins over ``cameras[].roi`` when the lane's source is built; a new ROI is
set on the running source; a snapshot is the newest JPEG of the camera's frame ring, answered through
the real CommandHandler with its sha256 and handed to the SyncClient for upload.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent.sync.commands import CommandHandler, load_roi_overrides
from agent_protocol import messages as msg

pytestmark = pytest.mark.anyio


def _agent(tmp_path: Path) -> Agent:
    cfg = parse_config(
        {
            "agent": {"id": "agent-roi", "data_dir": str(tmp_path / "data")},
            "site": {"id": "site-1", "name": "青山厂区"},
            "booth": {"enabled": False},
            "cameras": [{"id": "cam1", "url": str(tmp_path / "lane.avi"), "roi": [10, 10, 200, 100]}],
            "lanes": [
                {"id": "cam-in", "name": "东门入口", "direction": "in", "camera": "cam1"},
                {"id": "spool-out", "name": "东门出口", "direction": "out", "source": {"type": "spool", "path": "x"}},
            ],
        }
    )
    return Agent(cfg)


async def test_override_wins_and_applies_live(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "lane_rois.json").write_text(json.dumps({"cam-in": [50, 60, 700, 400]}), encoding="utf-8")
    agent = _agent(tmp_path)
    lane = agent.cfg.lanes[0]
    source = agent._source(lane)
    assert source.frames.roi == (50, 60, 700, 400)  # type: ignore[attr-defined]

    handler = CommandHandler(data, snapshot=agent._lane_snapshot, apply_roi=agent._apply_roi)
    roi = msg.Command(
        command_id="c1", name="set_lane_roi", args={"lane": "cam-in", "x1": 5, "y1": 6, "x2": 300, "y2": 200}
    )
    result = await handler.on_command(roi)
    assert result.ok, result.message
    assert "已生效" in result.message
    assert source.frames.roi == (5, 6, 300, 200)  # type: ignore[attr-defined]
    assert load_roi_overrides(data) == {"cam-in": (5, 6, 300, 200)}
    bad = await handler.on_command(
        msg.Command(command_id="c2", name="set_lane_roi", args={"lane": "cam-in", "x1": 9, "y1": 6, "x2": 3, "y2": 7})
    )
    assert not bad.ok
    assert "识别区域无效" in bad.message
    assert load_roi_overrides(data) == {"cam-in": (5, 6, 300, 200)}  # unchanged

    # Snapshot: nothing in the ring yet, then the newest frame with its hash, handed over once for upload.
    ask = msg.Command(command_id="s1", name="camera_snapshot", args={"lane": "cam-in"})
    empty = await handler.on_command(ask)
    assert not empty.ok
    assert "还没有画面" in empty.message
    ok, jpeg = cv2.imencode(".jpg", np.zeros((72, 128, 3), dtype=np.uint8))
    assert ok
    agent.rings["cam1"].push(time.time(), bytes(jpeg))
    shot = await handler.on_command(msg.Command(command_id="s2", name="camera_snapshot", args={"lane": "cam-in"}))
    assert shot.ok, shot.message
    assert shot.blob_sha256 == hashlib.sha256(bytes(jpeg)).hexdigest()
    assert handler.take_upload(shot.blob_sha256) == bytes(jpeg)
    assert handler.take_upload(shot.blob_sha256) is None
    spool = await handler.on_command(msg.Command(command_id="s3", name="camera_snapshot", args={"lane": "spool-out"}))
    assert not spool.ok
    assert "没有配置相机" in spool.message
    unknown = await handler.on_command(msg.Command(command_id="s4", name="camera_snapshot", args={"lane": "nope"}))
    assert not unknown.ok
    assert "没有车道" in unknown.message
