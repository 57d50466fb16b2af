"""Value types shared by the device drivers: weights, barrier states, loop events, LED screens, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class HealthLevel(StrEnum):
    """How well a device works, as the supervisor and the heartbeat report it."""

    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    FAULT = "fault"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """A snapshot of one device's health.

    ``code`` is a stable machine code (``ok``, ``port_unavailable``, ``port_lost``, ``no_data``,
    ``garbage``, ``corrupt_frames``, ``no_response``, ``barrier_fault``, ``barrier_stuck``, ``http_error``…);
    ``message`` is the Chinese text shown to the guard and sent in heartbeats; ``detail`` is the
    technical cause (OS or library error text) for the installer.
    """

    name: str
    kind: str
    level: HealthLevel
    code: str
    message: str
    since: datetime
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the device works (possibly degraded)."""
        return self.level in {HealthLevel.OK, HealthLevel.DEGRADED}


@dataclass(frozen=True, slots=True)
class WeightReading:
    """One weight the indicator sent, converted to kilograms.

    Attributes:
        kg: the weight in kilograms (negative below zero).
        monotonic: ``time.monotonic()`` when the frame was decoded (for windows and gaps).
        at: wall-clock time (UTC) when the frame was decoded.
        indicator_stable: the indicator's own motion flag where the protocol carries one, else None.
        net: True when the indicator sent a net (tare-subtracted) weight.
        overload: True when the indicator reports over- or under-range.
    """

    kg: float
    monotonic: float
    at: datetime
    indicator_stable: bool | None = None
    net: bool = False
    overload: bool = False


@dataclass(frozen=True, slots=True)
class StableWeight:
    """A weight that stayed within the tolerance band for the whole stability window.

    Attributes:
        kg: mean of the readings in the window, rounded to whole kilograms.
        min_kg: lowest reading in the window.
        max_kg: highest reading in the window.
        readings: number of readings in the window.
        started: ``time.monotonic()`` of the oldest reading in the window.
        monotonic: ``time.monotonic()`` of the newest reading (when stability was reached).
        at: wall-clock time (UTC) when stability was reached.
    """

    kg: float
    min_kg: float
    max_kg: float
    readings: int
    started: float
    monotonic: float
    at: datetime


class BarrierState(StrEnum):
    """Position of the barrier arm as far as the driver knows."""

    UNKNOWN = "unknown"
    OPEN = "open"
    CLOSED = "closed"
    MOVING = "moving"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class BarrierStatus:
    """Result of a barrier command or status query; a fault is a value, never an exception."""

    state: BarrierState
    at: datetime
    fault: bool = False
    message: str = ""
    #: For a command: the controller confirmed it (relay answer and read-back, or the position input).
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class VehicleEvent:
    """A ground loop (地感线圈) or other presence input changed state after debouncing."""

    channel: int
    present: bool
    at: datetime
    monotonic: float


class LedColour(StrEnum):
    """Colours an LED line can be drawn in (the wire code is the first letter, upper case)."""

    RED = "red"
    GREEN = "green"
    YELLOW = "yellow"
    WHITE = "white"


@dataclass(frozen=True, slots=True)
class LedLine:
    """One line of text on the LED screen."""

    text: str
    colour: LedColour = LedColour.GREEN


@dataclass(frozen=True, slots=True)
class LedScreen:
    """What an LED screen shows: up to four lines (an empty tuple means a cleared screen)."""

    lines: tuple[LedLine, ...] = field(default_factory=tuple)

    @property
    def texts(self) -> tuple[str, ...]:
        """The texts of the lines, without colours."""
        return tuple(line.text for line in self.lines)
