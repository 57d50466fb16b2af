"""Weighing on a lane: the stable weight of the truck on the deck goes to that truck's pass, later.

The association rule (docs/devices.md "Weighing ↔ pass", issue 15). A :class:`WeighStation` watches
one weighbridge: its readings tell when the deck is **occupied** (a reading ≥ ``empty_kg``) and when
it is empty again; its stable weights (plateaus) belong to the occupancy they settled in. One
occupancy is one vehicle on the deck.

* An **allowed** pass *claims* the vehicle's occupancy: the one on the deck at the pass (deck in front
  of the barrier, or the truck read while standing on it) when it began at most ``before_s`` before
  and no other pass or refusal holds it; otherwise the next occupancy that begins within
  ``window_s`` after the pass (deck behind the barrier: the usual case). Claims are served in pass
  order. The pass is never delayed: it is sealed and the barrier opens first; the claim resolves
  when the vehicle leaves the deck (or at the end of the window, or at a clean stop) with the
  occupancy's heaviest plateau (lighter ones are the front axles), or with None (``weighing_missing``)
  when none settled.
* A **refused** pass while the deck is occupied and unclaimed holds that occupancy: its plateaus
  expire with the truck (logged), unless a manual release on the same lane claims them (the guard
  let that truck through). They are never handed to another plate.
* An occupancy nobody claimed ends with its plateaus reported to ``on_unclaimed`` (stored as an
  unattributed weighing, listed for review in the cloud): a weight that cannot be attributed is
  never guessed onto a pass.
* A silence of the indicator longer than ``gap_s`` (scale restart, cable) ends the occupancy: a claim
  that had a plateau resolves with it, one that had none waits for the next occupancy in its window.

The site's :class:`agent.devices.weighing.TripWeighingPairer` pairs a plate's entry weighing with its
exit weighing into gross/tare/net (:func:`record_for`); it is rebuilt from the outbox after a restart
(:func:`rebuild_pairer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from agent.devices.broadcast import Subscription
from agent.devices.interfaces import Weighbridge
from agent.devices.types import StableWeight, WeightReading
from agent.devices.weighing import PassWeighing, TripWeighing, TripWeighingPairer
from agent_protocol.events import Decision, PassEvent
from agent_protocol.messages import WeighingRecord

__all__ = ["MIN_VEHICLE_KG", "WeighClaim", "WeighStation", "rebuild_pairer", "record_for"]

log = structlog.get_logger(__name__)

MIN_VEHICLE_KG = 500.0  # a plateau lighter than this is an empty deck or a person, not a vehicle


@dataclass(eq=False)
class _Occupancy:
    """One vehicle on the deck: from the first loaded reading to the next empty one (monotonic times)."""

    number: int
    start: float
    end: float | None = None
    plateaus: list[StableWeight] = field(default_factory=list)
    claim: WeighClaim | None = None
    held_by: str | None = None  # lane id of the refusal that holds it

    def heaviest(self) -> StableWeight | None:
        return max(self.plateaus, key=lambda s: s.kg, default=None)


@dataclass(eq=False)
class WeighClaim:
    """An allowed pass waiting for its vehicle's weight; ``result`` resolves to the plateau or None."""

    event_id: str
    lane_id: str
    plate: str | None
    release: bool
    opened: float  # monotonic time of the claim (just after the pass's barrier command)
    deadline: float
    result: asyncio.Future[StableWeight | None]
    occupancy: _Occupancy | None = None


class WeighStation:
    """The stable weights of one weighbridge, attributed to passes by deck occupancy."""

    def __init__(
        self,
        name: str,
        scale: Weighbridge,
        *,
        window_s: float = 60.0,
        before_s: float = 120.0,
        empty_kg: float = MIN_VEHICLE_KG,
        gap_s: float = 3.0,
        settle_s: float = 0.3,
        on_unclaimed: Callable[[StableWeight, str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """Remember ``scale``; call :meth:`start` inside the loop.

        Args:
            name: the weighbridge's device name (the record's indicator).
            scale: the weighbridge driver.
            window_s: how long after a pass its vehicle's weight may come (the claim then resolves None).
            before_s: how long before a pass an occupancy on the deck may have begun to be its vehicle's.
            empty_kg: readings below this mean an empty deck.
            gap_s: a silence this long ends the occupancy (the indicator restarted or was unplugged).
            settle_s: after the deck empties, wait this long for a plateau still in flight.
            on_unclaimed: called with the heaviest plateau of an occupancy no pass claimed (and why).
        """
        self.name = name
        self.scale = scale
        self.window_s = window_s
        self.before_s = before_s
        self.empty_kg = empty_kg
        self.gap_s = gap_s
        self.settle_s = settle_s
        self.on_unclaimed = on_unclaimed
        self._claims: deque[WeighClaim] = deque()  # open claims not bound to an occupancy, pass order
        self._bound: set[WeighClaim] = set()
        self._history: deque[_Occupancy] = deque(maxlen=16)
        self._current: _Occupancy | None = None
        self._numbers = 0
        self._last_reading: float | None = None
        self._subs: list[Subscription[WeightReading] | Subscription[StableWeight]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin watching the scale."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        readings = self.scale.subscribe_readings()
        stable = self.scale.subscribe_stable()
        self._subs = [readings, stable]
        self._tasks = [
            loop.create_task(self._watch_readings(readings), name=f"weigh-readings-{self.name}"),
            loop.create_task(self._watch_stable(stable), name=f"weigh-stable-{self.name}"),
            loop.create_task(self._tick(), name=f"weigh-tick-{self.name}"),
        ]

    async def stop(self) -> None:
        """Stop watching; claims whose vehicle already has a plateau resolve with it, the rest stay open.

        An open claim's outbox row stays ``waiting`` and becomes ``missing`` on the next start (a
        weight cannot be attributed across a restart).
        """
        for claim in [*self._bound, *self._claims]:
            occ = claim.occupancy
            if occ is not None and occ.plateaus:
                self._resolve(claim, occ.heaviest(), "stop")
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in self._subs:
            sub.close()
        self._subs = []
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # ------------------------------------------------------------------ passes

    def claim(self, event: PassEvent, *, release: bool = False) -> WeighClaim:
        """An allowed pass claims its vehicle's weight (never waits; await ``claim.result``)."""
        self.start()
        now = time.monotonic()
        claim = WeighClaim(
            event_id=event.event_id,
            lane_id=event.lane_id,
            plate=event.plate,
            release=release,
            opened=now,
            deadline=now + self.window_s,
            result=asyncio.get_running_loop().create_future(),
        )
        occ = self._current
        free = occ is not None and occ.claim is None and now - occ.start <= self.before_s and not self._claims
        if free and occ is not None and (occ.held_by is None or (release and occ.held_by == event.lane_id)):
            self._bind(claim, occ)
            return claim
        self._claims.append(claim)
        log.info("weighing.claim_open", scale=self.name, event_id=event.event_id, lane=event.lane_id)
        return claim

    def refused(self, event: PassEvent) -> None:
        """A refused pass: the vehicle on the deck (if unclaimed) is held; its weight expires with it."""
        occ = self._current
        if occ is not None and occ.claim is None and occ.held_by is None:
            occ.held_by = event.lane_id
            log.info(
                "weighing.held_by_refusal", scale=self.name, event_id=event.event_id, plate=event.plate, deck=occ.number
            )

    # ------------------------------------------------------------------ internals

    def _bind(self, claim: WeighClaim, occ: _Occupancy) -> None:
        claim.occupancy = occ
        occ.claim = claim
        self._bound.add(claim)
        log.info("weighing.claimed", scale=self.name, event_id=claim.event_id, deck=occ.number)

    def _resolve(self, claim: WeighClaim, stable: StableWeight | None, why: str) -> None:
        self._bound.discard(claim)
        with contextlib.suppress(ValueError):
            self._claims.remove(claim)
        if not claim.result.done():
            claim.result.set_result(stable)
            log.info(
                "weighing.resolved",
                scale=self.name,
                event_id=claim.event_id,
                kg=None if stable is None else stable.kg,
                why=why,
            )

    def _occupancy_of(self, stable: StableWeight) -> _Occupancy | None:
        for occ in (self._current, *reversed(self._history)):
            if occ is not None and occ.start <= stable.monotonic and (occ.end is None or stable.monotonic <= occ.end):
                return occ
        return None

    def _begin(self, at: float) -> None:
        self._numbers += 1
        occ = _Occupancy(number=self._numbers, start=at)
        self._current = occ
        while self._claims:
            claim = self._claims.popleft()
            if claim.result.done():
                continue
            self._bind(claim, occ)
            break

    def _end(self, at: float, *, gap: bool) -> None:
        occ, self._current = self._current, None
        if occ is None:
            return
        occ.end = at
        self._history.append(occ)
        loop = asyncio.get_running_loop()
        loop.call_later(self.settle_s, self._finish, occ, gap)

    def _finish(self, occ: _Occupancy, gap: bool) -> None:
        claim = occ.claim
        best = occ.heaviest()
        if claim is not None and not claim.result.done():
            if best is None and gap:
                # The indicator went silent before a plateau: the vehicle may still be on the deck.
                occ.claim = None
                claim.occupancy = None
                self._bound.discard(claim)
                log.warning("weighing.scale_gap", scale=self.name, event_id=claim.event_id, deck=occ.number)
                now = self._current
                if now is not None and now.claim is None and now.held_by is None:
                    self._bind(claim, now)  # the indicator came back with the vehicle still on the deck
                else:
                    self._claims.appendleft(claim)
                return
            self._resolve(claim, best, "deck_empty" if not gap else "scale_gap")
            return
        if claim is None and best is not None:
            if occ.held_by is not None:
                log.warning("weighing.expired_refused", scale=self.name, kg=best.kg, lane=occ.held_by, deck=occ.number)
            else:
                log.warning("weighing.unclaimed", scale=self.name, kg=best.kg, deck=occ.number)
                if self.on_unclaimed is not None:
                    task = asyncio.get_running_loop().create_task(self.on_unclaimed(best, "没有放行记录认领的稳定重量"))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    async def _watch_readings(self, sub: Subscription[WeightReading]) -> None:
        async for reading in sub:
            last = self._last_reading
            if last is not None and reading.monotonic - last > self.gap_s and self._current is not None:
                self._end(last, gap=True)
            self._last_reading = reading.monotonic
            loaded = reading.kg >= self.empty_kg
            if loaded and self._current is None:
                self._begin(reading.monotonic)
            elif not loaded and self._current is not None:
                self._end(reading.monotonic, gap=False)

    async def _watch_stable(self, sub: Subscription[StableWeight]) -> None:
        async for stable in sub:
            if stable.kg < self.empty_kg:
                continue
            occ = self._occupancy_of(stable)
            if occ is None:
                log.warning("weighing.plateau_outside_deck", scale=self.name, kg=stable.kg)
                continue
            occ.plateaus.append(stable)

    async def _tick(self) -> None:
        """End claims whose window passed, and an occupancy whose indicator went silent."""
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            last = self._last_reading
            if self._current is not None and last is not None and now - last > self.gap_s:
                self._end(last, gap=True)
            for claim in [*self._claims, *self._bound]:
                if now < claim.deadline or claim.result.done():
                    continue
                occ = claim.occupancy
                self._resolve(claim, occ.heaviest() if occ is not None else None, "window")


def record_for(
    event: PassEvent, stable: StableWeight, indicator: str, pairer: TripWeighingPairer | None
) -> WeighingRecord:
    """The weighing record of a pass: the stable weight, and on an exit that closes a trip gross/tare/net
    with the trip's review flags (the cloud opens them as check flags on the pass).

    The pairer is updated: an entry opens the plate's trip, an exit closes it (PRODUCT.md item 2).
    """
    direction: Literal["in", "out"] = "in" if event.direction == "in" else "out"
    trip: TripWeighing | None = None
    if pairer is not None and event.plate and event.decision is Decision.ALLOW:
        weighing = PassWeighing(
            event_id=event.event_id,
            plate=event.plate,
            direction=direction,
            kg=stable.kg,
            at=stable.at,
            cargo=event.cargo,
        )
        trip = pairer.record(weighing)
    return WeighingRecord(
        weight_kg=round(stable.kg, 1),
        at=stable.at,
        indicator=indicator[:32],
        direction=direction,
        plate=event.plate,
        gross_kg=None if trip is None else round(trip.gross_kg, 1),
        tare_kg=None if trip is None else round(trip.tare_kg, 1),
        net_kg=None if trip is None else round(trip.net_kg, 1),
        cargo=(trip.cargo if trip is not None else None) or event.cargo,
        min_kg=round(stable.min_kg, 1),
        max_kg=round(stable.max_kg, 1),
        flags=() if trip is None else trip.flags,
    )


def rebuild_pairer(pairer: TripWeighingPairer, weighings: list[PassWeighing]) -> int:
    """Replay stored weighings (any order; sorted by time here) into ``pairer`` after a restart.

    Returns the number of trips still open.
    """
    for weighing in sorted(weighings, key=lambda w: w.at):
        if weighing.direction == "in":
            pairer.record_entry(weighing)
        else:
            pairer.record_exit(weighing)
    return len(pairer.open_entries)


def legacy_weighing(event: PassEvent) -> PassWeighing | None:
    """The weighing sealed in an event by an agent before issue 15 (entry weights of open trips)."""
    if event.weighing is None or event.decision is not Decision.ALLOW or not event.plate:
        return None
    return PassWeighing(
        event_id=event.event_id,
        plate=event.plate,
        direction="in" if event.direction == "in" else "out",
        kg=float(event.weighing.gross_kg or 0),
        at=event.occurred_at,
        cargo=event.cargo,
    )
