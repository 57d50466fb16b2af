"""Weighing flow: tie stable weights to pass events and pair a trip's entry and exit into gross/tare/net.

Pure logic, no I/O. A delivery truck (送货) is heavier on entry: gross on entry, tare on exit, the
cargo is what it brought in. A pickup truck (提货) is heavier on exit. A trip whose net weight is
below ``empty_net_kg`` is an empty run (空车进出). Findings that a person should look at are
returned as flag codes (see :data:`FLAG_TEXT` for their Chinese wording).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from agent.devices.types import StableWeight
from hj1321.plates import canonical_plate

Direction = Literal["in", "out"]

FLAG_TEXT: dict[str, str] = {
    "cargo_missing": "有净重但缺少货物名称",
    "trip_too_long": "进出厂间隔超过上限",
    "exit_before_entry": "出厂称重时间早于进厂称重时间",
    "tare_mismatch": "皮重与备案皮重不符",
}


class TripKind(StrEnum):
    """Which way the cargo went."""

    DELIVERY = "delivery"
    PICKUP = "pickup"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class PassWeighing:
    """A stable weight taken while a vehicle passed a lane.

    Attributes:
        event_id: the pass event's id (UUIDv7 text).
        plate: plate number (canonicalised by the pairer).
        direction: ``in`` (进厂) or ``out`` (出厂).
        kg: the stable weight.
        at: when the weight settled.
        cargo: cargo name declared at this pass, if any.
    """

    event_id: str
    plate: str
    direction: Direction
    kg: float
    at: datetime
    cargo: str | None = None


@dataclass(frozen=True, slots=True)
class TripWeighing:
    """Gross, tare and net of one trip (运输记录), with the cargo and review flags."""

    plate: str
    entry_event_id: str
    exit_event_id: str
    kind: TripKind
    gross_kg: float
    tare_kg: float
    net_kg: float
    gross_at: datetime
    tare_at: datetime
    cargo: str | None
    flags: tuple[str, ...] = ()

    @property
    def net_tonnes(self) -> float:
        """Net weight in tonnes (运输量), three decimals."""
        return round(self.net_kg / 1000, 3)


def pick_stable_for_pass(
    stable_weights: Iterable[StableWeight],
    pass_at: datetime,
    *,
    before: timedelta = timedelta(seconds=120),
    after: timedelta = timedelta(seconds=30),
) -> StableWeight | None:
    """The stable weight that belongs to a pass at ``pass_at``.

    Among the plateaus that settled within ``[pass_at - before, pass_at + after]`` the heaviest one
    wins: lighter plateaus in the same window are the truck partly on the deck (front axles only)
    or the scale before it drove on.
    """
    window = [s for s in stable_weights if pass_at - before <= s.at <= pass_at + after]
    return max(window, key=lambda s: s.kg, default=None)


def pair_weighings(
    entry: PassWeighing,
    exit_: PassWeighing,
    *,
    empty_net_kg: float = 200.0,
    max_trip: timedelta = timedelta(hours=24),
    known_tare_kg: float | None = None,
    tare_tolerance_kg: float = 300.0,
) -> TripWeighing:
    """Combine the entry and exit weighing of one trip.

    Args:
        entry: weighing at the entry pass.
        exit_: weighing at the exit pass.
        empty_net_kg: a net weight below this is an empty run.
        max_trip: a longer trip is flagged ``trip_too_long``.
        known_tare_kg: the vehicle's recorded tare (备案皮重), checked when given.
        tare_tolerance_kg: allowed difference from ``known_tare_kg``.
    """
    if entry.kg >= exit_.kg:
        gross, tare, kind, cargo = entry, exit_, TripKind.DELIVERY, entry.cargo or exit_.cargo
    else:
        gross, tare, kind, cargo = exit_, entry, TripKind.PICKUP, exit_.cargo or entry.cargo
    net = round(gross.kg - tare.kg)
    flags: list[str] = []
    if net < empty_net_kg:
        kind, cargo = TripKind.EMPTY, None
    elif not cargo:
        flags.append("cargo_missing")
    if exit_.at < entry.at:
        flags.append("exit_before_entry")
    elif exit_.at - entry.at > max_trip:
        flags.append("trip_too_long")
    if known_tare_kg is not None and abs(tare.kg - known_tare_kg) > tare_tolerance_kg:
        flags.append("tare_mismatch")
    return TripWeighing(
        plate=canonical_plate(entry.plate),
        entry_event_id=entry.event_id,
        exit_event_id=exit_.event_id,
        kind=kind,
        gross_kg=gross.kg,
        tare_kg=tare.kg,
        net_kg=float(net),
        gross_at=gross.at,
        tare_at=tare.at,
        cargo=cargo,
        flags=tuple(flags),
    )


class TripWeighingPairer:
    """Keeps the open entry weighing per plate and pairs it with the vehicle's exit weighing."""

    def __init__(
        self,
        *,
        empty_net_kg: float = 200.0,
        max_trip: timedelta = timedelta(hours=24),
        tare_tolerance_kg: float = 300.0,
    ) -> None:
        self.empty_net_kg = empty_net_kg
        self.max_trip = max_trip
        self.tare_tolerance_kg = tare_tolerance_kg
        self._open: dict[str, PassWeighing] = {}

    @property
    def open_entries(self) -> tuple[PassWeighing, ...]:
        """Entry weighings still waiting for their exit."""
        return tuple(self._open.values())

    def record_entry(self, weighing: PassWeighing) -> PassWeighing | None:
        """Open a trip; returns the plate's previous open entry if this one replaces it (no exit seen)."""
        plate = canonical_plate(weighing.plate)
        previous = self._open.get(plate)
        self._open[plate] = weighing
        return previous

    def record_exit(self, weighing: PassWeighing, *, known_tare_kg: float | None = None) -> TripWeighing | None:
        """Close the plate's trip; None when no entry weighing is open (exit without entry)."""
        entry = self._open.pop(canonical_plate(weighing.plate), None)
        if entry is None:
            return None
        return pair_weighings(
            entry,
            weighing,
            empty_net_kg=self.empty_net_kg,
            max_trip=self.max_trip,
            known_tare_kg=known_tare_kg,
            tare_tolerance_kg=self.tare_tolerance_kg,
        )

    def record(self, weighing: PassWeighing) -> TripWeighing | None:
        """``record_entry`` or ``record_exit`` by the weighing's direction; returns a completed trip."""
        if weighing.direction == "in":
            self.record_entry(weighing)
            return None
        return self.record_exit(weighing)

    def expire(self, now: datetime) -> list[PassWeighing]:
        """Drop and return open entries older than ``max_trip`` (the vehicle left unseen)."""
        stale = [w for w in self._open.values() if now - w.at > self.max_trip]
        for weighing in stale:
            del self._open[canonical_plate(weighing.plate)]
        return stale
