"""Stopping background tasks reliably, even when a library swallows a cancellation.

Python 3.11's ``asyncio.wait_for`` (used inside pymodbus and others) can lose a cancellation that
races with a completed result, so one ``task.cancel()`` does not always end a polling loop.
"""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task[None] | None, *, retry_s: float = 0.2) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again every ``retry_s`` if needed."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_s)
    if not task.cancelled():
        task.exception()  # retrieve it so asyncio does not warn; the loops report their own errors
