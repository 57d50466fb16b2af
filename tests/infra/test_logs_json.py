"""Logs as JSON with tenant, site, agent and request ids (issue 21).

Real processes, their output parsed line by line as JSON:

* the agent (``ecogate agent run`` with ``ECOGATE_LOG_JSON=1``): every line carries the configured site
  and agent ids; a lane's lines carry its lane id (a stale spool read makes the lane log);
* the cloud (``ecogate cloud serve`` with ``ECOGATE_LOG_JSON=1``): a request's access line carries the
  caller's ``X-Request-ID`` (echoed in the answer) or a generated UUIDv7, and the signed-in principal's
  tenant; the hub's lines for an agent's connection carry its agent, site and tenant ids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` that is a JSON object (a line that is not fails the test)."""
    out = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            pytest.fail(f"not a JSON line: {raw[:300]}")
        assert isinstance(item, dict), raw
        out.append(item)
    return out


def _wait(predicate: Any, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.1)


AGENT_TOML = """
[agent]
id = "agent-logs-1"
data_dir = "{data}"
log_level = "info"

[site]
id = "site-logs-1"
name = "日志测试厂区"

[booth]
enabled = false

[[devices.barriers]]
type = "virtual"
name = "b1"

[[lanes]]
id = "lane-logs-in"
name = "日志入口"
direction = "in"
barrier = "b1"
max_read_age_s = 15.0

[lanes.source]
type = "spool"
path = "{spool}"
poll_s = 0.05

[evidence]
clip = false
"""


def test_agent_logs_json_with_site_agent_and_lane_ids(tmp_path: Path) -> None:
    spool = tmp_path / "reads.jsonl"
    spool.write_text("", encoding="utf-8")
    config = tmp_path / "agent.toml"
    config.write_text(AGENT_TOML.format(data=tmp_path / "data", spool=spool), encoding="utf-8")
    out = tmp_path / "agent.log"
    env = {**os.environ, "ECOGATE_LOG_JSON": "1"}
    env.pop("ECOGATE_AGENT_METRICS_PORT", None)
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecogate_cli", "agent", "run", str(config)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(lambda: "supervisor.running" in out.read_text(encoding="utf-8", errors="replace"))
        # A read from long ago: recorded, never opened; the lane says so in its log.
        line = {"read_id": "old-1", "plate": "鄂A12345", "colour": "yellow", "at": "2020-01-01T00:00:00+00:00"}
        with spool.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        _wait(lambda: "lane.stale_read" in out.read_text(encoding="utf-8", errors="replace"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    lines = json_lines(out)
    assert len(lines) >= 5
    for item in lines:
        assert item["site_id"] == "site-logs-1", item
        assert item["agent_id"] == "agent-logs-1", item
        assert {"timestamp", "level", "event"} <= item.keys(), item
    lane_lines = [item for item in lines if str(item["event"]).startswith("lane.")]
    assert lane_lines
    assert all(item["lane_id"] == "lane-logs-in" for item in lane_lines)
    assert not any("lane_id" in item for item in lines if item["event"] == "supervisor.running")
