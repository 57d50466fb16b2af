"""The demo's gate agent: its configuration and its cloud identity.

``ecogate demo`` writes ``agent.toml`` (the inbound and the outbound lane of 东门, each with its
camera (a demo video stream), barrier over Modbus RTU, weighbridge and LED on pseudo-terminals of
the device simulators; the guard's booth page; a ``[cloud]`` section) and starts ONE
``ecogate agent run agent.toml`` process.
The credential is the one enrollment left in the agent's data folder (``agent.sync.enroll``), so
the runtime syncs by itself and applies the cloud's snapshots and commands.

``python -m infra.demo_agent agent.toml`` remains for a config without ``[cloud]``: it runs the
runtime plus a bare sync worker with the URL and token file named by ``ECOGATE_AGENT_CLOUD_URL``
and ``ECOGATE_AGENT_TOKEN_FILE`` (no snapshots, no commands).

Identifiers: the hub accepts an event only when its ``agent_id``, ``site_id`` and ``lane_id`` are
those of the agent's row, site and lanes in the cloud, so the demo config uses the cloud UUIDs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

__all__ = ["AgentSetup", "BoothSetup", "LaneSetup", "main", "write_config"]

log = structlog.get_logger(__name__)

_CLOUD_URL_ENV = "ECOGATE_AGENT_CLOUD_URL"
_TOKEN_ENV = "ECOGATE_AGENT_TOKEN_FILE"  # noqa: S105 - the name of a variable, not a secret


@dataclass(frozen=True, slots=True)
class AgentSetup:
    """The cloud identity of the demo agent (kept in ``credential.json`` between runs)."""

    agent_id: str
    site_id: str
    lane_id: str
    lane_name: str
    token: str
    #: The outbound lane of the same gate (issue 15: trips get their tare, so net weights).
    exit_lane_id: str = ""
    exit_lane_name: str = ""

    def save(self, path: Path) -> None:
        """Write the credential file readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), ensure_ascii=False), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> AgentSetup | None:
        """The saved credential, or None when absent or unreadable."""
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class LaneSetup:
    """One lane of the demo agent: its cloud id and name, direction, camera stream and simulator ports."""

    key: str  # short name for device sections ("east-in")
    lane_id: str
    name: str
    direction: str
    camera_url: str
    ports: dict[str, str]


@dataclass(frozen=True, slots=True)
class BoothSetup:
    """The guard's booth page of the demo agent (``[booth]``)."""

    port: int
    guard_name: str
    guard_account: str
    pin_hash: str


def write_config(
    path: Path,
    setup: AgentSetup,
    *,
    data_dir: Path,
    camera_url: str,
    ports: dict[str, str],
    registry_seed: Path,
    emergency_level: str = "orange",
    cloud_url: str | None = None,
    exit_lane: LaneSetup | None = None,
    booth: BoothSetup | None = None,
) -> Path:
    """Write the agent's TOML configuration for the demo lanes; returns ``path``.

    With ``cloud_url`` the file has a ``[cloud]`` section: the runtime then syncs by itself with the
    credential that enrollment left in ``data_dir`` (and applies the cloud's snapshots and commands).
    ``exit_lane`` adds the gate's outbound lane with devices of its own; ``booth`` turns the guard's
    page on (bound to loopback).
    """
    lanes = [LaneSetup("east", setup.lane_id, setup.lane_name, "in", camera_url, ports)]
    if exit_lane is not None:
        lanes.append(exit_lane)
    lines = [
        f"registry_seed = {_toml_str(str(registry_seed))}",
        "",
        "[agent]",
        f"id = {_toml_str(setup.agent_id)}",
        f"data_dir = {_toml_str(str(data_dir))}",
        "",
        "[site]",
        f"id = {_toml_str(setup.site_id)}",
        'name = "青山厂区"',
        "",
        "[booth]",
    ]
    if booth is None:
        lines.append("enabled = false")
    else:
        lines += ["enabled = true", 'host = "127.0.0.1"', f"port = {booth.port}", ""]
        lines += ["[[booth.guards]]", f"name = {_toml_str(booth.guard_name)}"]
        lines += [f"account = {_toml_str(booth.guard_account)}", f"pin_hash = {_toml_str(booth.pin_hash)}"]
    lines += [
        "",
        "[policy]",
        'grade = "B"',
        f"emergency_level = {_toml_str(emergency_level)}",
        "",
        "[evidence]",
        # each pass keeps a short clip (issue 19: the pass record shows its clip and photos); a low frame
        # rate keeps the demo light on a small machine
        "clip = true",
        "clip_before_s = 3.0",
        "clip_after_s = 2.0",
        "clip_fps = 2.0",
        "",
        *(["[cloud]", f"url = {_toml_str(cloud_url)}", "heartbeat_s = 10.0", ""] if cloud_url else []),
    ]
    lines += _lane_lines(lanes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _lane_lines(lanes: list[LaneSetup]) -> list[str]:
    """The ``[[cameras]]``, ``[[devices.*]]`` and ``[[lanes]]`` tables of the demo lanes."""
    lines: list[str] = []
    for lane in lanes:
        lines += ["[[cameras]]", f'id = "cam-{lane.key}"', f"url = {_toml_str(lane.camera_url)}", "fps = 5.0", ""]
    for lane in lanes:
        if "barrier" in lane.ports:
            lines += ["[[devices.barriers]]", 'type = "modbus_relay"', f'name = "{lane.key}-barrier"']
            lines += [f"port = {_toml_str(lane.ports['barrier'])}", "travel_timeout_s = 8.0", ""]
        if "led" in lane.ports:
            lines += ["[[devices.leds]]", 'type = "serial_led"', f'name = "{lane.key}-led"']
            lines += [f"port = {_toml_str(lane.ports['led'])}", ""]
        if "weighbridge" in lane.ports:
            lines += ["[[devices.weighbridges]]", 'type = "xk3190_a9"', f'name = "{lane.key}-scale"']
            lines += [f"port = {_toml_str(lane.ports['weighbridge'])}", ""]
    for lane in lanes:
        lines += [
            "[[lanes]]",
            f"id = {_toml_str(lane.lane_id)}",
            f"name = {_toml_str(lane.name)}",
            f"direction = {_toml_str(lane.direction)}",
            f'camera = "cam-{lane.key}"',
            # the cast loops every 51 s: a shorter window than the default 60 s lets each round pass again
            "duplicate_window_s = 20.0",
        ]
        for device, suffix in (("barrier", "barrier"), ("led", "led"), ("weighbridge", "scale")):
            if device in lane.ports:
                lines.append(f'{device} = "{lane.key}-{suffix}"')
        lines.append("")
    return lines


async def _run(config_path: Path) -> int:
    from agent.runtime.app import Agent  # noqa: PLC0415
    from agent.runtime.config import load_config  # noqa: PLC0415

    cfg = load_config(config_path)
    agent = Agent(cfg, booth=False)
    supervisor = agent.build()
    url = os.environ.get(_CLOUD_URL_ENV, "")
    token_file = os.environ.get(_TOKEN_ENV, "")
    has_own_sync = hasattr(cfg, "cloud") and getattr(cfg, "cloud", None) is not None
    if url and token_file and not has_own_sync:
        from agent.sync.client import SyncClient  # noqa: PLC0415

        token = Path(token_file).read_text(encoding="utf-8").strip()  # noqa: ASYNC240 - once, before start
        holder: dict[str, Any] = {}

        def make_sync() -> Any:
            assert agent.outbox is not None
            client = SyncClient(url, token, agent.outbox, heartbeat_s=10.0)
            holder["client"] = client
            agent.online = lambda: client.connections > 0
            log.info("demo_agent.sync_started", url=url)
            return client.run(supervisor.stop_event)

        supervisor.add_worker("sync", make_sync)
    elif not has_own_sync:
        log.warning("demo_agent.no_cloud", detail="未配置云端地址或凭据：代理离线运行，事件留在本地发件箱")
    supervisor.install_signal_handlers()
    return await supervisor.run()


def main(argv: list[str]) -> int:
    """``python -m infra.demo_agent agent.toml``: run the demo agent until SIGTERM/SIGINT."""
    if len(argv) != 1:
        print("用法: python -m infra.demo_agent <agent.toml>", file=sys.stderr)
        return 2
    from agent.runtime.config import ConfigError  # noqa: PLC0415

    try:
        return asyncio.run(_run(Path(argv[0])))
    except ConfigError as exc:
        print("演示代理配置错误：" + "；".join(exc.errors), file=sys.stderr)
        return 2


def new_setup(
    agent_id: uuid.UUID,
    site_id: uuid.UUID,
    lane_id: uuid.UUID,
    lane_name: str,
    token: str,
    exit_lane: tuple[uuid.UUID, str] | None = None,
) -> AgentSetup:
    """An :class:`AgentSetup` from cloud identifiers."""
    exit_id, exit_name = (str(exit_lane[0]), exit_lane[1]) if exit_lane is not None else ("", "")
    return AgentSetup(str(agent_id), str(site_id), str(lane_id), lane_name, token, exit_id, exit_name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
