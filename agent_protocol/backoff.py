"""The one retry backoff of EcoGate: every reconnect and retry loop, agent and cloud, uses it.

Exponential growth with **full jitter** (each delay drawn uniformly in ``[0, cap]``, the cap doubling
up to ``max_s``): a fleet of agents that lost the cloud at the same moment spreads its reconnects
over the whole window instead of arriving in waves. A server that says how long to wait (close code
:data:`agent_protocol.messages.CLOSE_TRY_LATER` with ``retry-after=N``, an HTTP ``Retry-After``)
sets a floor: the delay is then ``N`` plus a jitter of up to ``N`` again.

Two shapes, one rule:

* :class:`Backoff`, for a loop that holds a session (websocket, LISTEN connection, camera stream,
  supervised worker): :meth:`Backoff.started` when the session is up, :meth:`Backoff.ended` when it
  drops, :meth:`Backoff.next_delay` before the next attempt. The growth resets only after a session
  stayed up for ``healthy_after_s`` — a server that accepts and then closes at once (a database
  down behind it) keeps the agent backing off instead of resetting it on every handshake.
* :func:`attempt_delay`, for retries scheduled in a database (uplink records): the delay after the
  ``attempts``-th failure, stateless.

:func:`delays` is the generator form (the ``reconnect_delays`` shape of the websockets library).
Imports nothing of ours (a shared leaf package, ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Generator
from typing import Final

__all__ = ["HEALTHY_AFTER_S", "Backoff", "attempt_delay", "delays"]

#: A session must stay up this long before the backoff starts again from its first delay.
HEALTHY_AFTER_S: Final = 30.0

_RNG = random.Random()  # jitter, not a secret


def _cap(initial_s: float, max_s: float, factor: float, failures: int) -> float:
    return min(max_s, initial_s * factor ** max(0, failures))


def attempt_delay(
    attempts: int,
    *,
    initial_s: float = 1.0,
    max_s: float = 60.0,
    factor: float = 2.0,
    floor_s: float = 0.0,
    jitter: float = 1.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``attempts``-th consecutive failure (1 = first failure).

    Full jitter (``jitter=1``): uniform in ``[0, cap]``; ``jitter=0`` is the plain cap (a local
    restart, nobody to spread from). With a ``floor_s`` (the server's retry-after) the delay is
    ``floor_s`` plus a jitter of up to ``floor_s``, so nobody comes back before the server asked.
    """
    draw = rng or _RNG
    share = min(1.0, max(0.0, jitter))
    cap = _cap(initial_s, max_s, factor, attempts - 1)
    delay = cap * (1.0 - share) + draw.uniform(0.0, cap * share)
    if floor_s > 0:
        delay = max(delay, floor_s + draw.uniform(0.0, min(floor_s, max_s) * max(share, 0.5)))
    return delay


def delays(
    initial_s: float = 1.0, max_s: float = 60.0, factor: float = 2.0, rng: random.Random | None = None
) -> Generator[float]:
    """Endless full-jitter delays: uniform in ``[0, cap]``, the cap growing from ``initial_s`` to ``max_s``."""
    failures = 0
    while True:
        failures += 1
        yield attempt_delay(failures, initial_s=initial_s, max_s=max_s, factor=factor, rng=rng)


class Backoff:
    """Backoff state of one session-holding retry loop (module docstring).

    Args:
        initial_s: cap of the first delay.
        max_s: largest cap.
        factor: growth of the cap per consecutive failure.
        healthy_after_s: a session up at least this long resets the growth.
        jitter: random share of each delay (1: full jitter; 0: none, for local restarts).
        rng: jitter source (tests pass a seeded one).
        clock: monotonic clock (tests).
        schedule: optional generator factory overriding the delays (the ``reconnect_delays`` shape);
            retry-after floors and the healthy-session reset still apply.
    """

    def __init__(
        self,
        *,
        initial_s: float = 1.0,
        max_s: float = 60.0,
        factor: float = 2.0,
        healthy_after_s: float = HEALTHY_AFTER_S,
        jitter: float = 1.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[], Generator[float]] | None = None,
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.healthy_after_s = healthy_after_s
        self.jitter = jitter
        self._rng = rng or _RNG
        self._clock = clock
        self._schedule = schedule
        self._gen: Generator[float] | None = None
        self.failures = 0
        self._since: float | None = None
        #: Attempts made (every :meth:`next_delay`), for figures.
        self.attempts = 0

    def started(self) -> None:
        """The session is up (handshake done, stream open)."""
        self._since = self._clock()

    def ended(self) -> None:
        """The session dropped: reset the growth only if it had been healthy long enough."""
        since, self._since = self._since, None
        if since is not None and self._clock() - since >= self.healthy_after_s:
            self.reset()

    def reset(self) -> None:
        """Start again from the first delay."""
        self.failures = 0
        self._gen = None

    @property
    def healthy(self) -> bool:
        """The current session has been up for ``healthy_after_s``."""
        return self._since is not None and self._clock() - self._since >= self.healthy_after_s

    def next_delay(self, *, floor_s: float = 0.0) -> float:
        """The wait before the next attempt (``floor_s``: the server's retry-after)."""
        self.failures += 1
        self.attempts += 1
        if self._schedule is not None:
            if self._gen is None:
                self._gen = self._schedule()
            delay = next(self._gen)
        else:
            delay = attempt_delay(
                self.failures,
                initial_s=self.initial_s,
                max_s=self.max_s,
                factor=self.factor,
                jitter=self.jitter,
                rng=self._rng,
            )
        if floor_s > 0:
            delay = max(delay, floor_s + self._rng.uniform(0.0, min(floor_s, self.max_s)))
        return delay

    async def wait(self, stop: asyncio.Event | None = None, *, floor_s: float = 0.0) -> float:
        """Sleep :meth:`next_delay` (returning early when ``stop`` is set); return the delay."""
        delay = self.next_delay(floor_s=floor_s)
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        return delay
