"""``ecogate agent run FILE``: run the agent until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import sys
from pathlib import Path

import structlog

from agent.ops.logs import configure as configure_logs
from agent.ops.metrics import sample_forever, stop_sampler
from agent.ops.metrics import start_server as start_metrics_server
from agent.ops.systemd import watchdog_pings
from agent.runtime.app import Agent
from agent.runtime.config import ConfigError, load_config

__all__ = ["main"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def main(argv: list[str]) -> int:
    """Load the config and run; exit code 0 after a clean stop, 2 for a bad config, 3 after a crash loop."""
    if len(argv) != 1 or argv[0] in {"-h", "--help"}:
        print("用法: ecogate agent run <配置文件.toml>", file=sys.stderr)  # noqa: T201
        return 2 if len(argv) != 1 else 0
    try:
        cfg = load_config(Path(argv[0]))
    except ConfigError as exc:
        print("配置错误，代理未启动：", file=sys.stderr)  # noqa: T201
        for error in exc.errors:
            print(f"  - {error}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logs(_LEVELS[cfg.agent.log_level], site_id=cfg.site.id, agent_id=cfg.agent.id)  # JSON: ECOGATE_LOG_JSON=1
    # A crash inside a native library (OpenCV, onnxruntime) leaves every thread's stack on stderr.
    faulthandler.enable()
    return asyncio.run(_run(Agent(cfg)))


async def _run(agent: Agent) -> int:
    """Run the agent; under systemd, say READY and keep the unit's watchdog fed from this event loop."""
    port = start_metrics_server()
    if port is not None:
        structlog.get_logger(__name__).info("agent.metrics_serving", port=port)
    pings = asyncio.create_task(watchdog_pings())
    sampler = asyncio.create_task(sample_forever(agent))
    try:
        return await agent.run()
    finally:
        await stop_sampler(sampler)
        pings.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pings


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
