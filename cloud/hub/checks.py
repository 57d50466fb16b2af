"""Logic checks after ingest (issue 6), in a process of their own, off the ack path.

Every stored batch asks for its tenant's checks; a child process (spawned at the first ask, again if
it died) coalesces those asks per tenant and runs ``cloud.compliance.checks.run_checks`` for one
tenant at a time, each at most once every ``every_s`` seconds, on its own connection, in slices of at most
about ``_SLICE`` passes, each its own transaction (a tenant with more waiting is taken again after the
duty-cycle pause, so the database work comes in short bursts between the acks).

Why a process (ADR 0013): per-connection runs queued on the tenant's advisory lock while each held a
pool connection (50 agents exhausted the pool; acks waited behind checks), and a run's Python work
(building thousands of flags) held the hub's event loop, or, in a thread, the interpreter lock, for
up to a second: ack p99 at 500 events/s was 0.5-1.3 s with checks and 9 ms without. In a process of
its own the operating system shares the cores fairly.
The child exits when the cloud process asks it to, or within a second once its parent is gone.

Checks are idempotent over the tenant's check state: a run that fails (database restart) is logged
and the tenant is asked for again by the next batch, or by :meth:`ChecksRunner.request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import queue
import uuid
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Final

import structlog

from cloud.db.engine import Database
from cloud.settings import DatabaseSettings
from tenants.context import Principal

__all__ = ["CHECKS_EVERY_S", "ChecksRunner"]

log = structlog.get_logger(__name__)

#: A tenant's checks run at most this often (and never sooner than this after the first ask, so a
#: burst of batches is checked in one run).
CHECKS_EVERY_S: Final = 2.0
#: How often the checks process looks whether the cloud process that started it is still there.
_PARENT_POLL_S: Final = 1.0
#: The checks process runs at a lower CPU priority than the cloud process.
_NICENESS: Final = 10
#: At most this share of the time is spent in check runs (the rest is pause between runs).
_DUTY_CYCLE: Final = 0.25
#: A run checks at most about this many new passes (one short transaction); a tenant with more waiting is
#: due again right after the duty-cycle pause. At 500 events/s one run over a tenant's backlog took a core
#: of the database for 0.3-0.9 s, and the acks queued behind it (ack p99 ~200 ms, bench/ingest.py); slices
#: keep each burst to a tenth of a second or so.
_SLICE: Final = 500
#: Requests of the cloud process are gathered this long and handed over once per tenant: at 500
#: batches/s a queue put per batch (pickling, the queue's feeder thread) cost the hub CPU for nothing.
_HANDOVER_S: Final = 0.25


class ChecksRunner:
    """The cloud process's side: hands tenants to the checks process, (re)starting it when needed.

    The process starts at the first request (an app that never ingests never starts one) and again
    after it died (logged). :meth:`request` never blocks: it queues the principal for the process.
    """

    def __init__(self, settings: DatabaseSettings, every_s: float = CHECKS_EVERY_S) -> None:
        """Prepare the runner (no process yet)."""
        self.settings = settings
        self.every_s = every_s
        self._context = multiprocessing.get_context("spawn")  # no forked copy of the hub's loop and pools
        self._inbox: Queue[Principal | None] | None = None
        self._process: BaseProcess | None = None
        self._starts = 0
        self._stopped = False
        #: Tenants asked for since the last handover, and the timer of the next handover.
        self._pending: dict[uuid.UUID, Principal] = {}
        self._handover: asyncio.TimerHandle | None = None

    def request(self, principal: Principal) -> None:
        """Ask for the checks of ``principal``'s tenant (cheap; called after every stored batch).

        Requests are handed to the process at most every ``_HANDOVER_S`` (once per tenant), well
        inside the ``every_s`` the process waits anyway.
        """
        tenant = principal.tenant_id
        if tenant is None or self._stopped or tenant in self._pending:
            return
        self._pending[tenant] = principal
        if self._handover is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): hand over at once
                self._hand_over()
                return
            self._handover = loop.call_later(_HANDOVER_S, self._hand_over)

    def _hand_over(self) -> None:
        self._handover = None
        pending, self._pending = self._pending, {}
        if self._stopped or not pending:
            return
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._inbox is not None
        for principal in pending.values():
            self._inbox.put_nowait(principal)

    def _start(self) -> None:
        if self._process is not None:
            log.warning("hub.checks_process_restarted", exitcode=self._process.exitcode)
        self._starts += 1
        self._inbox = self._context.Queue()
        self._process = self._context.Process(
            target=_child_main,
            args=(self.settings, self.every_s, self._inbox, logging.getLogger().getEffectiveLevel(), os.getpid()),
            name="ecogate-hub-checks",
            daemon=True,
        )
        self._process.start()

    async def stop(self) -> None:
        """Let the run under way finish, then end the process (terminated after 30 s)."""
        self._stopped = True
        if self._handover is not None:
            self._handover.cancel()
            self._handover = None
        process, inbox = self._process, self._inbox
        if process is None or inbox is None:
            return
        if process.is_alive():
            inbox.put_nowait(None)
            await asyncio.to_thread(process.join, 30)
        if process.is_alive():
            log.warning("hub.checks_process_terminated")
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        inbox.close()


def _child_main(
    settings: DatabaseSettings, every_s: float, inbox: Queue[Principal | None], level: int, parent: int
) -> None:
    """Entry point of the checks process."""
    from cloud.logging import configure_logging  # noqa: PLC0415 - the child configures its own logging

    configure_logging(level)
    # Background work: the scheduler gives the hub (acks) the cores first.
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group; the parent stops us
        asyncio.run(_child(dataclasses.replace(settings, pool_size=1), every_s, inbox, parent))


async def _child(settings: DatabaseSettings, every_s: float, inbox: Queue[Principal | None], parent: int) -> None:
    scheduler = _Scheduler(every_s)
    stop = asyncio.Event()
    try:
        database = Database.from_settings(settings)
    except RuntimeError as exc:  # no database configured: nothing to check against
        log.warning("hub.checks_disabled", error=str(exc))
        return
    # ``parent`` is the cloud process's pid as it started us: read here with getppid(), a parent that died
    # while this process was still importing (a spawn takes seconds) would be init's pid, and we would
    # linger forever (seen after CI runs: orphaned checks processes).

    async def read() -> None:
        while True:
            try:
                item = await asyncio.to_thread(inbox.get, timeout=_PARENT_POLL_S)
            except queue.Empty:
                if os.getppid() != parent:  # the cloud process is gone (SIGKILL): do not linger
                    log.warning("hub.checks_parent_gone")
                    stop.set()
                    return
                continue
            except (EOFError, OSError):  # the pipe closed: the cloud process is gone
                log.warning("hub.checks_parent_gone")
                stop.set()
                return
            if item is None:
                stop.set()
                return
            scheduler.request(item)

    reader = asyncio.create_task(read())
    log.info("hub.checks_process_started", pid=os.getpid())
    try:
        await scheduler.run(database, stop)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await database.dispose()


class _Scheduler:
    """In the checks process: coalesces requests per tenant, runs one tenant at a time."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._due: dict[uuid.UUID, tuple[Principal, float]] = {}
        self._last: dict[uuid.UUID, float] = {}
        self._wake = asyncio.Event()
        #: No run starts before this loop time (the duty-cycle pause after the previous run).
        self._pause_until = 0.0

    def request(self, principal: Principal) -> None:
        tenant = principal.tenant_id
        if tenant is None or tenant in self._due:
            return
        now = asyncio.get_running_loop().time()
        at = max(now + self.every_s, self._last.get(tenant, now) + self.every_s)
        self._due[tenant] = (principal, at)
        self._wake.set()

    async def run(self, database: Database, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if not self._due:
                await self._wait(stop, None)
                continue
            tenant, (principal, at) = min(self._due.items(), key=lambda item: item[1][1])
            delay = max(at, self._pause_until) - loop.time()
            if delay > 0:
                await self._wait(stop, delay)
                continue
            del self._due[tenant]
            started = self._last[tenant] = loop.time()
            if await _run_one(database, principal):  # more passes waiting: next slice after the pause
                self._due[tenant] = (principal, loop.time())
            # Duty cycle: under heavy ingest, runs get rarer (and larger) instead of taking the cores
            # the hub needs for acks; they catch up when the load falls.
            took = loop.time() - started
            self._pause_until = loop.time() + took * (1.0 / _DUTY_CYCLE - 1.0)

    async def _wait(self, stop: asyncio.Event, limit_s: float | None) -> None:
        self._wake.clear()
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter


async def _run_one(database: Database, principal: Principal) -> bool:
    """One slice of the tenant's checks; True when more passes are waiting."""
    from cloud.compliance import checks  # noqa: PLC0415 - heavy module, needed only here

    assert principal.tenant_id is not None
    started = asyncio.get_running_loop().time()
    try:
        async with database.session(principal) as session, session.begin():
            result = await checks.run_checks(session, principal.tenant_id, max_passes=_SLICE)
    except Exception:  # a background job: log, never stop the process
        log.exception("hub.checks_failed", tenant_id=str(principal.tenant_id))
        return False
    log.debug(
        "hub.checks_ran",
        tenant_id=str(principal.tenant_id),
        passes=result.passes_checked,
        more=result.more,
        ms=round((asyncio.get_running_loop().time() - started) * 1000, 1),
    )
    return result.more
