"""Health tracking for device drivers: a current snapshot plus change notifications for the supervisor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from agent.devices.types import DeviceHealth, HealthLevel

_log = structlog.get_logger("agent.devices")

HealthListener = Callable[[DeviceHealth], None]


class HealthTracker:
    """Holds the health of one device; ``since`` changes only when the level or code changes."""

    def __init__(self, name: str, kind: str) -> None:
        self._listeners: list[HealthListener] = []
        self._health = DeviceHealth(
            name=name,
            kind=kind,
            level=HealthLevel.STARTING,
            code="starting",
            message="设备启动中",
            since=datetime.now(UTC),
        )

    @property
    def current(self) -> DeviceHealth:
        """The latest health snapshot."""
        return self._health

    def add_listener(self, listener: HealthListener) -> None:
        """Call ``listener`` with the new snapshot after every change (level, code or message)."""
        self._listeners.append(listener)

    def set(self, level: HealthLevel, code: str, message: str, detail: str = "") -> None:
        """Record a health state; logs and notifies only when something changed."""
        old = self._health
        if (old.level, old.code, old.message, old.detail) == (level, code, message, detail):
            return
        since = old.since if (old.level, old.code) == (level, code) else datetime.now(UTC)
        self._health = DeviceHealth(
            name=old.name, kind=old.kind, level=level, code=code, message=message, since=since, detail=detail
        )
        if (old.level, old.code) != (level, code):
            log = _log.warning if level in {HealthLevel.FAULT, HealthLevel.DEGRADED} else _log.info
            log(
                "device.health",
                device=old.name,
                kind=old.kind,
                level=str(level),
                code=code,
                message=message,
                detail=detail,
            )
        for listener in self._listeners:
            listener(self._health)

    def ok(self, message: str = "正常") -> None:
        """Record that the device works."""
        self.set(HealthLevel.OK, "ok", message)

    def degraded(self, code: str, message: str, detail: str = "") -> None:
        """Record that the device works with problems."""
        self.set(HealthLevel.DEGRADED, code, message, detail)

    def fault(self, code: str, message: str, detail: str = "") -> None:
        """Record that the device does not work."""
        self.set(HealthLevel.FAULT, code, message, detail)

    def stopped(self) -> None:
        """Record that the driver was stopped on purpose."""
        self.set(HealthLevel.STOPPED, "stopped", "已停止")


class HealthReporting:
    """Mixed into a driver that keeps its :class:`HealthTracker` in ``_health``: the two health properties
    every device has (:class:`agent.devices.interfaces.Device`), and the watchdog loop of its background
    task."""

    name: str
    _health: HealthTracker

    @property
    def health(self) -> DeviceHealth:
        """Current health snapshot."""
        return self._health.current

    @property
    def health_tracker(self) -> HealthTracker:
        """The tracker, for change notifications."""
        return self._health

    async def _watch(
        self,
        step: Callable[[], Awaitable[object]],
        period_s: Callable[[], float],
        log: Any,
        event: str,
        message: str,
    ) -> None:
        """Run ``step`` every ``period_s()`` seconds until cancelled: the loop is its own watchdog — an
        unexpected error is logged (``event``) and becomes an ``internal_error`` fault (``message``,
        Chinese), and the loop goes on."""
        while True:
            try:
                await step()
            except Exception as exc:
                log.exception(event, device=self.name)
                self._health.fault("internal_error", message, repr(exc))
            await asyncio.sleep(period_s())
