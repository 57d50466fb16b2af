"""A virtual barrier (``type = "virtual"``) for demos, soaks and lanes whose barrier is driven elsewhere.

It satisfies :class:`agent.devices.interfaces.Barrier` without hardware: ``open()`` succeeds at
once. Registered in the barrier registry of :mod:`agent.devices` on import, so a config can say
``[[devices.barriers]] type = "virtual"``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime

from agent.devices.broadcast import Broadcast, Subscription
from agent.devices.config import DeviceConfig
from agent.devices.health import HealthTracker
from agent.devices.registry import BARRIERS
from agent.devices.types import BarrierState, BarrierStatus, DeviceHealth

__all__ = ["VirtualBarrier", "VirtualBarrierConfig"]


class VirtualBarrierConfig(DeviceConfig, frozen=True, tag="virtual"):
    """``type = "virtual"``: no hardware; commands succeed at once (demo and soak)."""


class VirtualBarrier:
    """A barrier that only records its state."""

    kind = "barrier"

    def __init__(self, name: str) -> None:
        """Create a closed virtual barrier."""
        self.name = name
        self._health = HealthTracker(name, self.kind)
        self._status = BarrierStatus(BarrierState.CLOSED, datetime.now(UTC))
        self._changes: Broadcast[BarrierStatus] = Broadcast()
        self.opened = 0

    @property
    def health(self) -> DeviceHealth:
        """Current health."""
        return self._health.current

    @property
    def health_tracker(self) -> HealthTracker:
        """The health tracker."""
        return self._health

    @property
    def last_status(self) -> BarrierStatus:
        """The most recent status."""
        return self._status

    async def start(self) -> None:
        """Mark healthy."""
        self._health.ok()

    async def stop(self) -> None:
        """Mark stopped."""
        self._health.stopped()

    def _set(self, state: BarrierState) -> BarrierStatus:
        self._status = BarrierStatus(state, datetime.now(UTC))
        self._changes.publish(self._status)
        return self._status

    async def open(self) -> BarrierStatus:
        """Raise the arm (always confirmed)."""
        self.opened += 1
        return dataclasses.replace(self._set(BarrierState.OPEN), confirmed=True)

    async def close(self) -> BarrierStatus:
        """Lower the arm (always confirmed)."""
        return dataclasses.replace(self._set(BarrierState.CLOSED), confirmed=True)

    async def status(self) -> BarrierStatus:
        """The current state."""
        return self._status

    async def wait_for(self, state: BarrierState, timeout_s: float) -> BarrierStatus:
        """Wait until the state is ``state`` or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while self._status.state != state and time.monotonic() < deadline:  # noqa: ASYNC110 - mirrors the drivers' poll
            await asyncio.sleep(0.01)
        return self._status

    def subscribe(self, maxsize: int = 64) -> Subscription[BarrierStatus]:
        """State changes from now on."""
        return self._changes.subscribe(maxsize)


if "virtual" not in BARRIERS.types:
    BARRIERS.register("virtual", VirtualBarrierConfig, lambda cfg: VirtualBarrier(cfg.name))
