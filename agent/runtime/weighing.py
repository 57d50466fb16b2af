"""Weighing on a lane: tie a stable weight to its pass, pair entry and exit into gross/tare/net.

A :class:`WeighStation` listens to one weighbridge's stable weights. When a pass is decided it
takes the heaviest unused plateau that settled in the window before the read (or waits up to
``wait_s`` for one, e.g. a truck whose plate was read while it drove onto the deck). Each plateau
belongs to one pass only. The site's :class:`agent.devices.weighing.TripWeighingPairer` (shared by
all lanes; rebuilt from the outbox after a restart) pairs a plate's entry weighing with its exit
weighing: the exit pass then carries gross, tare and net (PRODUCT.md item 2, REGULATION.md
weighbridge notes). A weighbridge lane whose scale gives no stable weight still records the pass,
flagged ``weighing_missing`` (never a lost pass).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from datetime import datetime, timedelta

import structlog

from agent.devices.broadcast import Subscription
from agent.devices.interfaces import Weighbridge
from agent.devices.types import StableWeight
from agent.devices.weighing import PassWeighing, TripWeighing, TripWeighingPairer, pick_stable_for_pass
from agent_protocol.events import Decision, PassEvent, WeighingLink

__all__ = ["WeighStation", "link_for", "rebuild_pairer"]

log = structlog.get_logger(__name__)

MIN_VEHICLE_KG = 500.0  # a plateau lighter than this is an empty deck or a person, not a vehicle


class WeighStation:
    """Stable weights of one weighbridge, handed out to passes."""

    def __init__(
        self,
        name: str,
        scale: Weighbridge,
        *,
        before: timedelta = timedelta(seconds=60),
        wait_s: float = 3.0,
    ) -> None:
        """Remember ``scale``; call :meth:`start` inside the loop."""
        self.name = name
        self.scale = scale
        self.before = before
        self.wait_s = wait_s
        self._recent: deque[StableWeight] = deque(maxlen=32)
        self._used: set[tuple[float, float]] = set()
        self._sub: Subscription[StableWeight] | None = None
        self._task: asyncio.Task[None] | None = None
        self._new = asyncio.Event()

    def start(self) -> None:
        """Begin collecting stable weights."""
        if self._task is None:
            self._sub = self.scale.subscribe_stable()
            self._task = asyncio.get_running_loop().create_task(self._collect(), name=f"weigh-{self.name}")

    async def stop(self) -> None:
        """Stop collecting."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    async def _collect(self) -> None:
        assert self._sub is not None
        async for stable in self._sub:
            if stable.kg >= MIN_VEHICLE_KG:
                self._recent.append(stable)
                self._new.set()

    def _pick(self, moment: datetime) -> StableWeight | None:
        unused = [s for s in self._recent if (s.monotonic, s.kg) not in self._used]
        return pick_stable_for_pass(unused, moment, before=self.before, after=timedelta(seconds=self.wait_s + 1))

    async def take(self, moment: datetime) -> StableWeight | None:
        """The stable weight of the pass at ``moment`` (waits up to ``wait_s`` for one to settle)."""
        self.start()
        stable = self._pick(moment)
        if stable is None and self.wait_s > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.wait_s
            while stable is None and (left := deadline - loop.time()) > 0:
                self._new.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new.wait(), left)
                stable = self._pick(moment)
        if stable is not None:
            self._used.add((stable.monotonic, stable.kg))
            if len(self._used) > 256:
                live = {(s.monotonic, s.kg) for s in self._recent}
                self._used &= live
        return stable


def link_for(event_id: str, device: str, kg: float, trip: TripWeighing | None) -> WeighingLink:
    """The weighing part of a pass event: the measured weight, or a trip's gross/tare/net on exit."""
    if trip is None:
        return WeighingLink(weighing_id=f"w-{event_id}", device_id=device, gross_kg=round(kg))
    return WeighingLink(
        weighing_id=f"w-{event_id}",
        device_id=device,
        gross_kg=round(trip.gross_kg),
        tare_kg=round(trip.tare_kg),
        net_kg=round(trip.net_kg),
    )


def weighing_of(event: PassEvent) -> PassWeighing | None:
    """The pairer's view of a stored pass (None when it was not weighed or not allowed)."""
    if event.weighing is None or event.decision is not Decision.ALLOW or not event.plate:
        return None
    return PassWeighing(
        event_id=event.event_id,
        plate=event.plate,
        direction="in" if event.direction == "in" else "out",
        kg=float(event.weighing.gross_kg or 0),  # only an entry's weight is used again (its exit pops it)
        at=event.occurred_at,
        cargo=event.cargo,
    )


def rebuild_pairer(pairer: TripWeighingPairer, events: list[PassEvent]) -> int:
    """Replay stored passes (oldest first) into ``pairer`` after a restart; returns open entries."""
    for event in events:
        weighing = weighing_of(event)
        if weighing is None:
            continue
        if weighing.direction == "in":
            pairer.record_entry(weighing)
        else:
            pairer.record_exit(weighing)
    return len(pairer.open_entries)
