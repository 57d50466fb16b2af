"""systemd's notify protocol (``sd_notify``): READY, WATCHDOG and STATUS datagrams to ``$NOTIFY_SOCKET``.

The unit (infra/agent_pkg/ecogate-agent.service) is ``Type=notify`` with ``WatchdogSec``: the agent says
READY once it runs, then pings the watchdog from a task on its event loop, so a loop that hangs (a blocked
call, a deadlock) stops the pings and systemd restarts the service. The protocol is one datagram of
``KEY=VALUE`` lines on a Unix socket (sd_notify(3)); without ``$NOTIFY_SOCKET`` (not under systemd,
tests, the demo) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import structlog

__all__ = ["notify", "watchdog_interval_s", "watchdog_pings"]

log = structlog.get_logger(__name__)


def notify(*lines: str) -> bool:
    """Send ``lines`` (e.g. ``"READY=1"``) to systemd; False when not running under it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode("utf-8"))
        except OSError as exc:
            log.warning("systemd.notify_failed", error=str(exc))
            return False
    return True


def watchdog_interval_s() -> float | None:
    """Half the unit's ``WatchdogSec`` (systemd passes it as ``WATCHDOG_USEC`` to the main process), or None."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def watchdog_pings(status: str = "门岗代理运行中") -> None:
    """Say READY, then ping the watchdog every half period until cancelled; STOPPING on the way out."""
    notify("READY=1", f"STATUS={status}")
    interval = watchdog_interval_s()
    try:
        while interval is not None:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            notify("STOPPING=1")
