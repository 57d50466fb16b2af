"""The demo's gate agent: its configuration and its cloud identity.

``ecogate demo`` writes ``agent.toml`` (one inbound lane at 东门 whose camera is the demo video
stream, barrier over Modbus RTU, weighbridge and LED on pseudo-terminals of the device
simulators, and a ``[cloud]`` section) and starts ONE ``ecogate agent run agent.toml`` process.
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

__all__ = ["AgentSetup", "main", "write_config"]

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
) -> Path:
    """Write the agent's TOML configuration for the demo lane; returns ``path``.

    With ``cloud_url`` the file has a ``[cloud]`` section: the runtime then syncs by itself with the
    credential that enrollment left in ``data_dir`` (and applies the cloud's snapshots and commands).
    """
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
        "enabled = false",
        "",
        "[policy]",
        'grade = "B"',
        f"emergency_level = {_toml_str(emergency_level)}",
        "",
        "[evidence]",
        "clip = false",
        "",
        *(["[cloud]", f"url = {_toml_str(cloud_url)}", "heartbeat_s = 10.0", ""] if cloud_url else []),
        "[[cameras]]",
        'id = "cam-east-in"',
        f"url = {_toml_str(camera_url)}",
        "fps = 5.0",
    ]
    if "barrier" in ports:
        lines += ["", "[[devices.barriers]]", 'type = "modbus_relay"', 'name = "east-barrier"']
        lines += [f"port = {_toml_str(ports['barrier'])}", "travel_timeout_s = 8.0"]
    if "led" in ports:
        lines += ["", "[[devices.leds]]", 'type = "serial_led"', 'name = "east-led"']
        lines += [f"port = {_toml_str(ports['led'])}"]
    if "weighbridge" in ports:
        lines += ["", "[[devices.weighbridges]]", 'type = "xk3190_a9"', 'name = "east-scale"']
        lines += [f"port = {_toml_str(ports['weighbridge'])}"]
    lines += [
        "",
        "[[lanes]]",
        f"id = {_toml_str(setup.lane_id)}",
        f"name = {_toml_str(setup.lane_name)}",
        'direction = "in"',
        'camera = "cam-east-in"',
        # the cast loops every 51 s: a shorter window than the default 60 s lets each round pass again
        "duplicate_window_s = 20.0",
    ]
    if "barrier" in ports:
        lines.append('barrier = "east-barrier"')
    if "led" in ports:
        lines.append('led = "east-led"')
    if "weighbridge" in ports:
        lines.append('weighbridge = "east-scale"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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


def new_setup(agent_id: uuid.UUID, site_id: uuid.UUID, lane_id: uuid.UUID, lane_name: str, token: str) -> AgentSetup:
    """An :class:`AgentSetup` from cloud identifiers."""
    return AgentSetup(str(agent_id), str(site_id), str(lane_id), lane_name, token)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
