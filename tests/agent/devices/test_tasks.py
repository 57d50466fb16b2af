"""Stopping a background loop whose first cancellation is swallowed (as asyncio.wait_for can in 3.11)."""

from __future__ import annotations

import asyncio

import pytest

from agent.devices.tasks import cancel_and_wait


@pytest.mark.anyio
async def test_cancel_and_wait_survives_a_swallowed_cancellation() -> None:
    swallowed = 0

    async def stubborn_poll() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # a library lost the cancellation; the loop goes on

    task = asyncio.create_task(stubborn_poll())
    await asyncio.sleep(0.02)
    await asyncio.wait_for(cancel_and_wait(task, retry_s=0.05), timeout=2)
    assert task.cancelled()
    assert swallowed == 1


@pytest.mark.anyio
async def test_cancel_and_wait_accepts_none_and_finished_tasks() -> None:
    await cancel_and_wait(None)

    async def fails() -> None:
        raise RuntimeError

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    await cancel_and_wait(task)  # the exception is retrieved, not raised
