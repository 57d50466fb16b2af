"""Supervisor: ordered start, reverse stop, worker restarts within a budget."""

from __future__ import annotations

import asyncio

import pytest

from agent.runtime.supervisor import Supervisor

pytestmark = pytest.mark.anyio


def _service(sup: Supervisor, name: str, log: list[str], *, fail_start: bool = False) -> None:
    async def start() -> None:
        log.append(f"start {name}")
        if fail_start:
            raise RuntimeError(name)

    async def stop() -> None:
        log.append(f"stop {name}")

    sup.add_service(name, start, stop)


async def test_services_start_in_order_and_stop_in_reverse() -> None:
    sup = Supervisor()
    log: list[str] = []
    for name in ("outbox", "decision", "devices"):
        _service(sup, name, log)

    async def worker() -> None:
        log.append("worker")
        sup.request_stop()
        await asyncio.Event().wait()

    sup.add_worker("lane", worker)
    assert await asyncio.wait_for(sup.run(), 5) == 0
    assert log == [
        "start outbox",
        "start decision",
        "start devices",
        "worker",
        "stop devices",
        "stop decision",
        "stop outbox",
    ]


async def test_failed_start_stops_only_what_started() -> None:
    sup = Supervisor()
    log: list[str] = []
    _service(sup, "outbox", log)
    _service(sup, "devices", log, fail_start=True)
    _service(sup, "booth", log)
    assert await asyncio.wait_for(sup.run(), 5) == 1
    assert log == ["start outbox", "start devices", "stop outbox"]


async def test_worker_is_restarted_then_budget_stops_the_process() -> None:
    sup = Supervisor(restart_budget=3, restart_window_s=60.0, restart_delay_s=0.001)
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        raise ValueError(f"boom {runs}")

    sup.add_worker("lane", flaky)
    assert await asyncio.wait_for(sup.run(), 5) == 3
    assert runs == 4  # first run + 3 restarts; the 4th failure exceeds the budget
    state = sup.workers["lane"]
    assert state.restarts == 3
    assert state.last_error == "ValueError: boom 4"
    assert not state.running


async def test_worker_recovers_within_budget() -> None:
    sup = Supervisor(restart_budget=2, restart_delay_s=0.001)
    runs = 0

    async def once_flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise OSError("port gone")
        sup.request_stop()
        await asyncio.Event().wait()

    sup.add_worker("lane", once_flaky)
    assert await asyncio.wait_for(sup.run(), 5) == 0
    assert runs == 2
    assert sup.workers["lane"].restarts == 1


async def test_failures_outside_the_window_do_not_count() -> None:
    sup = Supervisor(restart_budget=1, restart_window_s=0.05, restart_delay_s=0.06)
    runs = 0

    async def slow_flaky() -> None:
        nonlocal runs
        runs += 1
        if runs >= 5:
            sup.request_stop()
            await asyncio.Event().wait()
        raise RuntimeError("again")

    sup.add_worker("lane", slow_flaky)
    assert await asyncio.wait_for(sup.run(), 5) == 0
    assert runs == 5


async def test_returning_worker_counts_as_a_failure() -> None:
    sup = Supervisor(restart_budget=0, restart_delay_s=0.001)

    async def returns() -> None:
        return None

    sup.add_worker("lane", returns)
    assert await asyncio.wait_for(sup.run(), 5) == 3
    assert sup.workers["lane"].last_error == "工作单元意外结束"


@pytest.mark.parametrize("code", [None, 7])
async def test_request_stop_sets_exit_code_once(code: int | None) -> None:
    sup = Supervisor()
    sup.request_stop(code)
    sup.request_stop(9)
    assert await asyncio.wait_for(sup.run(), 5) == (code if code is not None else 9)
