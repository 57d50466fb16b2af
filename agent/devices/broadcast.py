"""A small in-process publish/subscribe hub: each subscriber gets its own bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscription(Generic[T]):
    """Items published after subscribing; when the queue is full the oldest item is dropped."""

    def __init__(self, hub: Broadcast[T], maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def _offer(self, item: T) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def get(self, timeout_s: float | None = None) -> T | None:
        """Wait for the next item; None when ``timeout_s`` seconds pass first."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return None

    def get_nowait(self) -> T | None:
        """The next queued item, or None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        """Stop receiving items."""
        self._hub.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            yield await self._queue.get()


class Broadcast(Generic[T]):
    """Fan-out of items to every current subscriber; never blocks the publisher."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription[T]] = []

    def subscribe(self, maxsize: int = 256) -> Subscription[T]:
        """Start receiving items published from now on."""
        sub = Subscription(self, maxsize)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[T]) -> None:
        """Stop delivering to ``sub`` (idempotent)."""
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, item: T) -> None:
        """Deliver ``item`` to every subscriber."""
        for sub in self._subscribers:
            sub._offer(item)  # noqa: SLF001 - the hub owns its subscriptions
