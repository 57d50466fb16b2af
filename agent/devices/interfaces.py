"""The device seams the agent runtime codes against (``typing.Protocol``); drivers and fakes both fit them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agent.devices.broadcast import Subscription
    from agent.devices.health import HealthTracker
    from agent.devices.types import (
        BarrierState,
        BarrierStatus,
        DeviceHealth,
        LedLine,
        LedScreen,
        StableWeight,
        VehicleEvent,
        WeightReading,
    )


@runtime_checkable
class Device(Protocol):
    """What every device offers the supervisor: a lifecycle and a health state."""

    name: str
    kind: str

    @property
    def health(self) -> DeviceHealth:
        """Current health snapshot (never raises)."""
        ...

    @property
    def health_tracker(self) -> HealthTracker:
        """Subscribe to health changes via ``health_tracker.add_listener``."""
        ...

    async def start(self) -> None:
        """Start background work (polls, readers); returns at once."""
        ...

    async def stop(self) -> None:
        """Stop background work and release the port."""
        ...


@runtime_checkable
class Barrier(Device, Protocol):
    """A barrier arm (道闸). Commands return a status; a fault is a value, never an exception."""

    @property
    def last_status(self) -> BarrierStatus:
        """The most recent status."""
        ...

    async def open(self) -> BarrierStatus:
        """Raise the arm."""
        ...

    async def close(self) -> BarrierStatus:
        """Lower the arm."""
        ...

    async def status(self) -> BarrierStatus:
        """Query the controller now."""
        ...

    async def wait_for(self, state: BarrierState, timeout_s: float) -> BarrierStatus:
        """Poll until the arm reports ``state`` or ``timeout_s`` passes."""
        ...

    def subscribe(self, maxsize: int = 64) -> Subscription[BarrierStatus]:
        """State changes from now on."""
        ...


@runtime_checkable
class Weighbridge(Device, Protocol):
    """A weighbridge indicator publishing readings and stable weights."""

    @property
    def latest(self) -> WeightReading | None:
        """The newest valid reading."""
        ...

    @property
    def last_stable(self) -> StableWeight | None:
        """The newest stable weight."""
        ...

    def subscribe_readings(self, maxsize: int = 256) -> Subscription[WeightReading]:
        """Every valid reading from now on."""
        ...

    def subscribe_stable(self, maxsize: int = 64) -> Subscription[StableWeight]:
        """Every stable weight from now on."""
        ...

    async def wait_stable(self, timeout_s: float) -> StableWeight | None:
        """The next stable weight, or None after ``timeout_s``."""
        ...


@runtime_checkable
class LedDisplay(Device, Protocol):
    """A lane LED screen."""

    @property
    def last_shown(self) -> LedScreen | None:
        """What the screen last accepted."""
        ...

    async def show(self, screen: LedScreen | list[LedLine]) -> bool:
        """Show lines; True when the screen accepted them (False and a health fault otherwise)."""
        ...

    async def clear(self) -> bool:
        """Blank the screen."""
        ...


@runtime_checkable
class DigitalInput(Device, Protocol):
    """Presence inputs (ground loops, light curtains) emitting vehicle present / cleared events."""

    def present(self, channel: int = 0) -> bool | None:
        """Debounced presence on ``channel``; None while unknown."""
        ...

    def subscribe(self, maxsize: int = 64) -> Subscription[VehicleEvent]:
        """Presence changes from now on."""
        ...
