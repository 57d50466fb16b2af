"""Barrier (道闸) drivers: a Modbus RTU relay board, and ANPR cameras that drive their own barrier over HTTP.

Both share one behaviour: ``open()``/``close()``/``status()`` return a :class:`BarrierStatus` and
never raise; a controller that does not answer, reports a fault, or whose arm does not reach the
commanded position within ``travel_timeout_s`` is a fault in :attr:`health` (and in the returned
status). A background poll keeps the state and health current while the barrier is idle.

A command is ``confirmed`` only when the controller took it (issue 16): the relay board answered
the coil write *and* reads the coil back switched on (Modbus), or the camera answered ``ok``
(HTTP); with ``confirm_position_s > 0`` the open limit switch (position input) must also report
the arm up within that time. An unconfirmed command is retried ``retries`` times (a pulse relay
pulsed twice for one pass still opens once); after that the status is a fault, not confirmed, and
the lane raises the alarm ("抬杆指令未送达").

HTTP camera API (the generic profile; vendor profiles map onto it):

* ``POST {base_url}/api/barrier`` with JSON ``{"action": "open"}`` or ``{"action": "close"}``
  → ``200`` and JSON ``{"ok": true}``;
* ``GET {base_url}/api/barrier`` → ``200`` and JSON ``{"state": "open"|"closed"|"moving", "fault": false}``;
* with a token configured, every request carries ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Literal

import aiohttp
import structlog

from agent.devices.broadcast import Broadcast, Subscription
from agent.devices.health import HealthReporting, HealthTracker
from agent.devices.modbus_link import ModbusLink, ModbusRequestError
from agent.devices.serial_link import SerialSettings
from agent.devices.tasks import cancel_and_wait
from agent.devices.types import BarrierState, BarrierStatus

_log = structlog.get_logger("agent.devices.barrier")

Action = Literal["open", "close"]
_ACTION_TEXT: dict[Action, str] = {"open": "抬杆", "close": "落杆"}


class BarrierError(Exception):
    """The controller did not take a command or answer a query (reported as a fault, never raised out)."""


class HttpClient:
    """The one HTTP session of a camera driver: made on first use (and again after a close), with the
    driver's timeout and its bearer token or digest credentials."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        *,
        headers: dict[str, str] | None = None,
        digest: tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = headers or {}
        self._digest = digest
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The open session."""
        if self._session is None or self._session.closed:
            middlewares = (aiohttp.DigestAuthMiddleware(*self._digest),) if self._digest else ()
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s), headers=self._headers, middlewares=middlewares
            )
        return self._session

    async def close(self) -> None:
        """Close the session (the next request opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class _PolledBarrier(HealthReporting, ABC):
    """Command/status logic shared by the barrier drivers; subclasses only move bytes."""

    kind = "barrier"

    def __init__(
        self,
        *,
        name: str,
        poll_s: float,
        travel_timeout_s: float,
        retries: int = 2,
        retry_pause_s: float = 0.2,
        confirm_position_s: float = 0.0,
    ) -> None:
        self.name = name
        self.poll_s = poll_s
        self.travel_timeout_s = travel_timeout_s
        #: Extra attempts of a command the controller did not confirm.
        self.retries = max(0, retries)
        self.retry_pause_s = retry_pause_s
        #: > 0: an open is confirmed only once the open limit switch reports the arm up within this time.
        self.confirm_position_s = confirm_position_s
        self._health = HealthTracker(name, self.kind)
        self._status = BarrierStatus(BarrierState.UNKNOWN, datetime.now(UTC))
        self._changes: Broadcast[BarrierStatus] = Broadcast()
        self._target: tuple[BarrierState, float] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def last_status(self) -> BarrierStatus:
        """The most recent status (from a command, a query or the poll)."""
        return self._status

    def subscribe(self, maxsize: int = 64) -> Subscription[BarrierStatus]:
        """Every change of the barrier state from now on."""
        return self._changes.subscribe(maxsize)

    async def start(self) -> None:
        """Start the background status poll."""
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name=f"barrier-{self.name}")

    async def stop(self) -> None:
        """Stop polling and release the connection."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._release()
        self._health.stopped()

    async def open(self) -> BarrierStatus:
        """Raise the arm (抬杆)."""
        return await self._command("open")

    async def close(self) -> BarrierStatus:
        """Lower the arm (落杆)."""
        return await self._command("close")

    async def wait_for(self, state: BarrierState, timeout_s: float) -> BarrierStatus:
        """Poll until the arm reports ``state`` or ``timeout_s`` passes; returns the last status."""
        deadline = time.monotonic() + timeout_s
        status = await self.status()
        while status.state != state and time.monotonic() < deadline:
            await asyncio.sleep(min(self.poll_s, 0.1))
            status = await self.status()
        return status

    async def status(self) -> BarrierStatus:
        """Query the controller now."""
        try:
            state, fault = await self._read()
        except BarrierError as exc:
            self._health.fault("no_response", "道闸控制器无响应", str(exc))
            return self._record(BarrierState.FAULT, fault=True, message="道闸控制器无响应")
        if fault:
            self._health.fault("barrier_fault", "道闸控制器报告故障")
            return self._record(BarrierState.FAULT, fault=True, message="道闸控制器报告故障")
        if self._target is not None:
            target, deadline = self._target
            if state == target:
                self._target = None
            elif time.monotonic() > deadline:
                verb = "抬起" if target == BarrierState.OPEN else "落下"
                message = f"道闸未在 {self.travel_timeout_s:g} 秒内{verb}"
                self._health.fault("barrier_stuck", message)
                return self._record(state, fault=True, message=message)
        self._health.ok("道闸正常")
        return self._record(state)

    async def _command(self, action: Action) -> BarrierStatus:
        """Send ``action`` until the controller confirms it, at most ``1 + retries`` times."""
        target = BarrierState.OPEN if action == "open" else BarrierState.CLOSED
        why = ""
        for attempt in range(1 + self.retries):
            if attempt:
                await asyncio.sleep(self.retry_pause_s)
                _log.warning("barrier.retry", device=self.name, action=action, attempt=attempt, why=why)
            try:
                await self._send(action)
            except BarrierError as exc:
                why = str(exc)
                continue
            self._target = (target, time.monotonic() + self.travel_timeout_s)
            if action == "open" and self.confirm_position_s > 0:
                moved = await self.wait_for(BarrierState.OPEN, self.confirm_position_s)
                if moved.state != BarrierState.OPEN:
                    why = f"道闸位置信号未在 {self.confirm_position_s:g} 秒内显示抬起"
                    continue
                return dataclasses.replace(moved, confirmed=True)
            return dataclasses.replace(await self.status(), confirmed=True)
        tries = f"（已尝试 {1 + self.retries} 次）" if self.retries else ""
        message = f"道闸控制器无响应，{_ACTION_TEXT[action]}指令未送达{tries}"
        self._health.fault("no_response", message, why)
        return self._record(BarrierState.FAULT, fault=True, message=message)

    def _record(self, state: BarrierState, *, fault: bool = False, message: str = "") -> BarrierStatus:
        status = BarrierStatus(state=state, at=datetime.now(UTC), fault=fault, message=message)
        changed = (status.state, status.fault, status.message) != (
            self._status.state,
            self._status.fault,
            self._status.message,
        )
        self._status = status
        if changed:
            self._changes.publish(status)
        return status

    async def _poll(self) -> None:
        await self._watch(
            self.status, lambda: self.poll_s, _log, "barrier.poll_error", "道闸状态查询程序异常，正在重试"
        )

    @abstractmethod
    async def _send(self, action: Action) -> None:
        """Deliver a command; raise :class:`BarrierError` when the controller does not take it."""

    @abstractmethod
    async def _read(self) -> tuple[BarrierState, bool]:
        """Return (arm state, controller fault flag); raise :class:`BarrierError` on no answer."""

    @abstractmethod
    async def _release(self) -> None:
        """Close connections."""


class ModbusRelayBarrier(_PolledBarrier):
    """A barrier wired to a Modbus RTU relay/IO board.

    Coils ``open_coil``/``close_coil`` are pulsed (on, ``pulse_s``, off) like a push button on the
    barrier controller; discrete inputs read the open and closed limit switches and the
    controller's fault output (``fault_input = None`` when it is not wired).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "barrier",
        unit_id: int = 1,
        serial: SerialSettings | None = None,
        open_coil: int = 0,
        close_coil: int = 1,
        pulse_s: float = 0.3,
        open_input: int = 0,
        closed_input: int = 1,
        fault_input: int | None = 2,
        timeout_s: float = 0.5,
        poll_s: float = 0.5,
        travel_timeout_s: float = 8.0,
        reconnect_s: float = 1.0,
        retries: int = 2,
        retry_pause_s: float = 0.2,
        confirm_position_s: float = 0.0,
        read_back: bool = True,
    ) -> None:
        super().__init__(
            name=name,
            poll_s=poll_s,
            travel_timeout_s=travel_timeout_s,
            retries=retries,
            retry_pause_s=retry_pause_s,
            confirm_position_s=confirm_position_s,
        )
        self.read_back = read_back
        #: Both coils are known to be off (a pulse ended cleanly); else the next command releases its coil
        #: first, so the relay gives the controller a fresh edge instead of a coil already on.
        self._released = False
        self.url = url
        self.open_coil = open_coil
        self.close_coil = close_coil
        self.pulse_s = pulse_s
        self.open_input = open_input
        self.closed_input = closed_input
        self.fault_input = fault_input
        self._link = ModbusLink(url, unit_id=unit_id, serial=serial, timeout_s=timeout_s, reconnect_s=reconnect_s)
        wired = [open_input, closed_input] + ([fault_input] if fault_input is not None else [])
        self._first_input = min(wired)
        self._input_count = max(wired) - self._first_input + 1

    async def start(self) -> None:
        """Release both coils (a pulse a killed agent left on would swallow the next open), then poll."""
        with contextlib.suppress(ModbusRequestError):
            await self._link.write_coil(self.open_coil, value=False)
            await self._link.write_coil(self.close_coil, value=False)
            self._released = True
        await super().start()

    async def _send(self, action: Action) -> None:
        coil = self.open_coil if action == "open" else self.close_coil
        try:
            if not self._released:  # a coil left on (a kill mid-pulse): an "on" write would be no edge
                await self._link.write_coil(coil, value=False)
            self._released = False
            await self._link.write_coil(coil, value=True)  # the board's answer echoes the write
            if self.read_back and not (await self._link.read_coils(coil, 1))[0]:
                raise BarrierError(f"继电器 {coil} 回读未吸合")
            await asyncio.sleep(self.pulse_s)
        except ModbusRequestError as exc:
            raise BarrierError(str(exc)) from exc
        finally:
            with contextlib.suppress(ModbusRequestError):
                await self._link.write_coil(coil, value=False)
                self._released = True

    async def _read(self) -> tuple[BarrierState, bool]:
        try:
            bits = await self._link.read_discrete_inputs(self._first_input, self._input_count)
        except ModbusRequestError as exc:
            raise BarrierError(str(exc)) from exc
        is_open = bits[self.open_input - self._first_input]
        is_closed = bits[self.closed_input - self._first_input]
        fault = self.fault_input is not None and bits[self.fault_input - self._first_input]
        if is_open and is_closed:
            return BarrierState.UNKNOWN, True  # both limit switches on: wiring or switch fault
        if is_open:
            return BarrierState.OPEN, fault
        if is_closed:
            return BarrierState.CLOSED, fault
        return BarrierState.MOVING, fault

    async def _release(self) -> None:
        self._link.close()


class HttpAnprBarrier(_PolledBarrier):
    """An ANPR camera that drives its own barrier output, commanded over HTTP (see module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "barrier",
        token: str | None = None,
        timeout_s: float = 2.0,
        poll_s: float = 1.0,
        travel_timeout_s: float = 8.0,
        retries: int = 2,
        confirm_position_s: float = 0.0,
    ) -> None:
        super().__init__(
            name=name,
            poll_s=poll_s,
            travel_timeout_s=travel_timeout_s,
            retries=retries,
            confirm_position_s=confirm_position_s,
        )
        self._http = HttpClient(base_url, timeout_s, headers={"Authorization": f"Bearer {token}"} if token else None)
        self.base_url = self._http.base_url
        self.timeout_s = timeout_s

    def _client(self) -> aiohttp.ClientSession:
        return self._http.session()

    async def _send(self, action: Action) -> None:
        try:
            async with self._client().post(f"{self.base_url}/api/barrier", json={"action": action}) as resp:
                body = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise BarrierError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict) or body.get("ok") is not True:
            raise BarrierError(f"相机拒绝{_ACTION_TEXT[action]}指令: HTTP {resp.status} {body!r}")

    async def _read(self) -> tuple[BarrierState, bool]:
        try:
            async with self._client().get(f"{self.base_url}/api/barrier") as resp:
                body = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise BarrierError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict):
            raise BarrierError(f"HTTP {resp.status}")
        try:
            state = BarrierState(str(body.get("state", "unknown")))
        except ValueError:
            state = BarrierState.UNKNOWN
        return state, bool(body.get("fault", False))

    async def _release(self) -> None:
        await self._http.close()
