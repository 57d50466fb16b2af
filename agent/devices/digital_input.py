"""Ground loops (地感线圈) and other presence inputs read as Modbus discrete inputs, debounced into events."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import structlog

from agent.devices.broadcast import Broadcast, Subscription
from agent.devices.health import HealthReporting, HealthTracker
from agent.devices.modbus_link import ModbusLink, ModbusRequestError
from agent.devices.serial_link import SerialSettings
from agent.devices.tasks import cancel_and_wait
from agent.devices.types import VehicleEvent

_log = structlog.get_logger("agent.devices.digital_input")


class ModbusDigitalInput(HealthReporting):
    """Polls discrete inputs ``channels`` and emits a :class:`VehicleEvent` when one changes for good.

    A change counts once the input has held its new value for ``debounce_s`` (a loop detector
    chatters while a trailer's gap passes). While the detector does not answer, :attr:`health`
    is a fault and the presence state is unknown (None); after recovery, differences from the
    last known state are emitted as events.
    """

    kind = "digital_input"

    def __init__(
        self,
        url: str,
        *,
        name: str = "loop",
        unit_id: int = 1,
        serial: SerialSettings | None = None,
        channels: tuple[int, ...] = (0,),
        poll_s: float = 0.1,
        debounce_s: float = 0.2,
        timeout_s: float = 0.5,
        reconnect_s: float = 1.0,
    ) -> None:
        if not channels:
            raise ValueError("至少需要一个输入通道")
        self.name = name
        self.url = url
        self.channels = tuple(channels)
        self.poll_s = poll_s
        self.debounce_s = debounce_s
        self._link = ModbusLink(url, unit_id=unit_id, serial=serial, timeout_s=timeout_s, reconnect_s=reconnect_s)
        self._health = HealthTracker(name, self.kind)
        self._events: Broadcast[VehicleEvent] = Broadcast()
        self._stable: dict[int, bool | None] = dict.fromkeys(self.channels)
        self._pending: dict[int, tuple[bool, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._first = min(self.channels)
        self._count = max(self.channels) - self._first + 1

    def present(self, channel: int = 0) -> bool | None:
        """Debounced presence on ``channel``; None while unknown (not read yet, or detector down)."""
        return self._stable.get(channel) if self._health.current.ok else None

    def subscribe(self, maxsize: int = 64) -> Subscription[VehicleEvent]:
        """Every presence change from now on."""
        return self._events.subscribe(maxsize)

    async def start(self) -> None:
        """Start polling."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"di-{self.name}")

    async def stop(self) -> None:
        """Stop polling and close the port."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._link.close()
        self._health.stopped()

    async def run(self) -> None:
        """Poll until cancelled."""
        await self._watch(
            self.poll_once, lambda: self.poll_s, _log, "digital_input.poll_error", "地感输入程序异常，正在重试"
        )

    async def poll_once(self) -> list[VehicleEvent]:
        """Read the inputs once; return (and publish) the events this read completed."""
        try:
            bits = await self._link.read_discrete_inputs(self._first, self._count)
        except ModbusRequestError as exc:
            self._health.fault("no_response", "地感检测器无响应", str(exc))
            self._pending.clear()
            return []
        self._health.ok("地感检测器正常")
        now = time.monotonic()
        events = []
        for channel in self.channels:
            value = bits[channel - self._first]
            if value == self._stable[channel]:
                self._pending.pop(channel, None)
                continue
            pending = self._pending.get(channel)
            if pending is None or pending[0] != value:
                self._pending[channel] = (value, now)
                pending = self._pending[channel]
            first_read = self._stable[channel] is None
            if first_read or now - pending[1] >= self.debounce_s:
                self._stable[channel] = value
                self._pending.pop(channel, None)
                if first_read and not value:
                    continue  # starting with an empty lane is no event
                event = VehicleEvent(channel=channel, present=value, at=datetime.now(UTC), monotonic=now)
                self._events.publish(event)
                events.append(event)
        return events
