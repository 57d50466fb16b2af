"""The regulator pre-pass check, asked through the cloud (issues 4 and 8; docs/agent.md, docs/protocol.md).

:class:`PrecheckBroker` turns a decision request into a ``precheck_request`` on the live connection and
waits for the ``precheck_result`` with the same id (a future per request id). It answers at once, without
asking, when there is no connection or the cloud does not announce the ``precheck`` feature (an older
cloud): the gate never waits for a cloud that cannot answer. The decision engine bounds the wait with
``precheck_timeout_s`` and cancels the call on timeout; the future is dropped then, and a late result is
ignored.

Verdicts map to the engine's :class:`~agent.decision.engine.PrecheckVerdict`:

* ``refuse`` → ``allow=False``, code ``regulator_refused``, the platform's reason in the message;
* ``allow`` → ``allow=True``, flag ``regulator_allowed`` (the ledger shows a platform answer was used);
* ``unavailable`` (no platform, no check in the profile, platform down or slow, agent offline) →
  ``allow=True``, flag ``regulator_unavailable``: the local decision stands.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from websockets.exceptions import ConnectionClosed

from agent.decision.engine import DecisionRequest, PrecheckVerdict
from agent_protocol import messages as msg
from agent_protocol.events import Direction

__all__ = ["PrecheckBroker", "verdict_of"]

log = structlog.get_logger(__name__)

#: Requests waiting for an answer at most (a runaway lane cannot grow the table without bound).
MAX_PENDING: Final = 256

Sender = Callable[[msg.Message], Awaitable[None]]


def verdict_of(result: msg.PrecheckResult) -> PrecheckVerdict:
    """The engine's verdict for a cloud answer."""
    if result.verdict == "refuse":
        reason = result.reason.strip() or "监管平台不允许该车辆通行"
        return PrecheckVerdict(allow=False, code="regulator_refused", message=f"监管平台不允许通行：{reason}")
    if result.verdict == "allow":
        return PrecheckVerdict(allow=True, code="regulator_allowed", message=result.reason or None)
    return PrecheckVerdict(allow=True, code="regulator_unavailable", message=result.reason or None)


def _unavailable(why: str) -> PrecheckVerdict:
    return PrecheckVerdict(allow=True, code="regulator_unavailable", message=why)


class PrecheckBroker:
    """Pending pre-pass checks of one agent, keyed by request id."""

    def __init__(self, *, budget_s: float = 1.0, exits: bool = False) -> None:
        """``budget_s``: the engine's wait (sent to the cloud); ``exits``: also ask for exit lanes."""
        self.budget_s = budget_s
        self.exits = exits
        self._send: Sender | None = None
        self._pending: dict[str, asyncio.Future[msg.PrecheckResult]] = {}
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-{time.time_ns() & 0xFFFFFF:x}-"
        #: Answers by verdict (``allow``/``refuse``/``unavailable``), plus ``offline`` and ``late``.
        self.counts: dict[str, int] = {}

    # ------------------------------------------------------------------ connection (called by the client)

    def attach(self, send: Sender | None) -> None:
        """A connection is up; ``send`` is None when the cloud does not offer pre-pass checks."""
        self._send = send

    def detach(self) -> None:
        """The connection is gone: every waiting check is answered "unavailable" now."""
        self._send = None
        for request_id, future in list(self._pending.items()):
            if not future.done():
                future.set_result(
                    msg.PrecheckResult(request_id=request_id, verdict="unavailable", reason="与云端的连接已断开")
                )
        self._pending.clear()

    def resolve(self, result: msg.PrecheckResult) -> None:
        """A ``precheck_result`` arrived (a late one, whose caller gave up, is dropped)."""
        future = self._pending.pop(result.request_id, None)
        if future is None or future.done():
            self._count("late")
            log.info("precheck.late_result", request_id=result.request_id, verdict=result.verdict)
            return
        future.set_result(result)

    @property
    def available(self) -> bool:
        """True when a check can be asked now (connected to a cloud that offers it)."""
        return self._send is not None

    # ------------------------------------------------------------------ the engine's regulator_check

    async def precheck(self, req: DecisionRequest) -> PrecheckVerdict:
        """Ask the platform about ``req`` through the cloud; "unavailable" at once when that cannot work."""
        if req.direction is Direction.OUT and not self.exits:
            return PrecheckVerdict(allow=True)  # exits are recorded, not stopped (no flag, nothing asked)
        if not req.plate:
            return _unavailable("无车牌，未向监管平台核验")
        send = self._send
        if send is None:
            self._count("offline")
            return _unavailable("代理离线或云端不支持预检，按本地规则判定")
        if len(self._pending) >= MAX_PENDING:
            self._count("overload")
            return _unavailable("预检请求过多，按本地规则判定")
        request_id = f"{self._prefix}{next(self._ids)}"
        future: asyncio.Future[msg.PrecheckResult] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        started = time.monotonic()
        try:
            await send(
                msg.PrecheckRequest(
                    request_id=request_id,
                    lane_id=req.lane_id,
                    direction=req.direction.value,
                    plate=req.plate,
                    plate_colour=req.plate_colour.value if req.plate_colour is not None else None,
                    budget_ms=max(1, int(self.budget_s * 1000)),
                )
            )
            result = await future
        except (OSError, RuntimeError, ConnectionClosed) as exc:
            self._count("send_failed")
            log.warning("precheck.send_failed", error=type(exc).__name__)
            return _unavailable("预检请求未能发出，按本地规则判定")
        finally:
            self._pending.pop(request_id, None)
        self._count(result.verdict)
        log.info(
            "precheck.answer",
            lane=req.lane_id,
            verdict=result.verdict,
            round_trip_ms=round((time.monotonic() - started) * 1000, 1),
            platform_ms=result.elapsed_ms,
        )
        return verdict_of(result)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
