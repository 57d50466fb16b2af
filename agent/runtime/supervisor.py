"""One asyncio supervisor: ordered start, one stop event, reverse shutdown, a watchdog with a budget.

*Services* are resources with a start and a stop (outbox, devices, booth server); they start in
the order added and stop in reverse. *Workers* are long-running coroutines (a lane pipeline, a
heartbeat); the watchdog restarts a worker that fails, from its factory, until it has failed
``restart_budget`` times within ``restart_window_s`` — then the supervisor stops everything and
:meth:`Supervisor.run` returns a non-zero code, so the service manager restarts the process
instead of the agent spinning in a crash loop. SIGTERM and SIGINT set the stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from agent_protocol.backoff import attempt_delay

__all__ = ["Supervisor", "WorkerState"]

log = structlog.get_logger(__name__)


@dataclass
class WorkerState:
    """What the watchdog knows about one worker (shown in health and the booth)."""

    name: str
    restarts: int = 0
    last_error: str | None = None
    running: bool = False
    failures: deque[float] = field(default_factory=deque)


@dataclass
class _Service:
    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


@dataclass
class _Worker:
    name: str
    factory: Callable[[], Awaitable[None]]
    state: WorkerState


class Supervisor:
    """Starts services then workers, watches the workers, and shuts everything down in reverse."""

    def __init__(
        self,
        *,
        restart_budget: int = 5,
        restart_window_s: float = 60.0,
        restart_delay_s: float = 0.2,
        stop_timeout_s: float = 10.0,
    ) -> None:
        """Create a supervisor.

        Args:
            restart_budget: restarts allowed per worker within ``restart_window_s``.
            restart_window_s: sliding window for the budget.
            restart_delay_s: pause before a restart (doubles per recent failure, capped at 5 s).
            stop_timeout_s: how long each service's stop may take.
        """
        self.restart_budget = restart_budget
        self.restart_window_s = restart_window_s
        self.restart_delay_s = restart_delay_s
        self.stop_timeout_s = stop_timeout_s
        self.stop_event = asyncio.Event()
        self.exit_code = 0
        self._services: list[_Service] = []
        self._workers: list[_Worker] = []
        self._started: list[_Service] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def workers(self) -> dict[str, WorkerState]:
        """Worker states by name."""
        return {w.name: w.state for w in self._workers}

    def add_service(self, name: str, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        """Add a resource; services start in the order added and stop in reverse."""
        self._services.append(_Service(name, start, stop))

    def add_worker(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Add a restartable worker; ``factory()`` makes a fresh coroutine each (re)start."""
        self._workers.append(_Worker(name, factory, WorkerState(name)))

    def request_stop(self, code: int | None = None) -> None:
        """Ask everything to stop (idempotent); ``code`` becomes the exit code if given."""
        if code is not None and self.exit_code == 0:
            self.exit_code = code
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGTERM and SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("supervisor.signal", signal=sig.name)
        self.request_stop()

    async def run(self) -> int:
        """Start, watch until the stop event, then shut down; return the exit code."""
        try:
            for service in self._services:
                log.info("supervisor.start", service=service.name)
                await service.start()
                self._started.append(service)
            for worker in self._workers:
                self._tasks.append(asyncio.create_task(self._watch(worker), name=f"worker-{worker.name}"))
            log.info("supervisor.running", services=len(self._started), workers=len(self._workers))
            await self.stop_event.wait()
        except Exception:
            log.exception("supervisor.start_failed")
            self.exit_code = self.exit_code or 1
        finally:
            await self._shutdown()
        return self.exit_code

    async def _watch(self, worker: _Worker) -> None:
        state = worker.state
        while not self.stop_event.is_set():
            state.running = True
            try:
                await worker.factory()
                if self.stop_event.is_set():
                    return
                state.last_error = "工作单元意外结束"
                log.warning("supervisor.worker_returned", worker=worker.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("supervisor.worker_failed", worker=worker.name)
            finally:
                state.running = False
            now = time.monotonic()
            state.failures.append(now)
            while state.failures and now - state.failures[0] > self.restart_window_s:
                state.failures.popleft()
            if len(state.failures) > self.restart_budget:
                log.error("supervisor.restart_budget_exhausted", worker=worker.name, failures=len(state.failures))
                self.request_stop(code=3)
                return
            state.restarts += 1
            # The shared backoff without jitter: a local restart has no fleet to spread.
            delay = attempt_delay(len(state.failures), initial_s=self.restart_delay_s, max_s=5.0, jitter=0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
            log.info("supervisor.restart", worker=worker.name, restarts=state.restarts)

    async def _shutdown(self) -> None:
        self.stop_event.set()
        for task in reversed(self._tasks):
            task.cancel()
        for task in reversed(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for service in reversed(self._started):
            log.info("supervisor.stop", service=service.name)
            try:
                await asyncio.wait_for(service.stop(), timeout=self.stop_timeout_s)
            except Exception:
                log.exception("supervisor.stop_failed", service=service.name)
        self._started.clear()
