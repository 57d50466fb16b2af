"""A Hengshui-style persistent-TCP JSON-lines platform (REGULATION.md §2.2) for tests.

Speaks the protocol written down in :mod:`cloud.uplink.adapters.hengshui` (login, record acked by serial,
heartbeat). Same in-process API as :class:`infra.regsim.RegulatorSimulator`: async context manager,
``.url`` (``tcp://host:port``) and ``.port``, ``.records`` by serial, ``.state.duplicates``, ``.faults``
(the shared :class:`~infra.regsim.app.Faults`: ``error_rate`` = ack code 500, ``malformed_rate`` = a
line that is not JSON, ``html_rate`` = an HTML page as the answer, ``timeout_rate`` = no answer at all,
``odd_rate`` = an unknown code, an ack without code, a line that is not an ack, ``reject_serials``),
``set_down()`` (cuts every connection and refuses new ones), ``expire_tokens()``
(every open session must log in again).
"""

# ruff: noqa: PLR0911, PLR0912, C901 - a platform answers each message in one of many documented ways

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, Self

import structlog

from infra.regsim.app import Faults

log = structlog.get_logger(__name__)

_PLATE: Final = re.compile(r"^[\u4e00-\u9fa5][A-Z][A-Z0-9\u4e00-\u9fa5]{4,7}$")
_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass
class HengshuiState:
    """What the platform holds and has seen."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    heartbeats: int = 0
    heartbeat_gates: list[list[str]] = field(default_factory=list)  # the gate codes of each heartbeat
    logins: int = 0
    connections: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)


class HengshuiSimulator:
    """The platform, startable in-process."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None) -> None:
        """Account ``ecogate``/``EcoGate@2026``."""
        self.host, self.port = host, port
        self.accounts = {"ecogate": "EcoGate@2026"}
        self.faults = faults or Faults()
        self.state = HengshuiState()
        self._rng = random.Random(self.faults.seed)
        self._server: asyncio.Server | None = None
        self._sessions: dict[asyncio.StreamWriter, bool] = {}  # writer -> logged in
        self._handlers: set[asyncio.Task[None]] = set()
        self.down = False

    @property
    def url(self) -> str:
        """``tcp://host:port``."""
        return f"tcp://{self.host}:{self.port}"

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Accepted records by serial."""
        return self.state.records

    async def start(self) -> None:
        """Listen (a free port when ``port`` is 0)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def set_down(self, down: bool) -> None:
        """Cut every connection and stop listening, or listen again on the same port."""
        self.down = down
        if down and self._server is not None:
            self._server.close()
            self._cut()
            await self._server.wait_closed()
            self._server = None
        elif not down and self._server is None:
            await self.start()

    def _cut(self) -> None:
        for writer in list(self._sessions):
            writer.close()
        self._sessions.clear()

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            self._cut()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._handlers):
            task.cancel()

    async def __aenter__(self) -> Self:
        """Start."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop."""
        await self.stop()

    def expire_tokens(self) -> None:
        """Every open session has to log in again."""
        for writer in self._sessions:
            self._sessions[writer] = False

    # ------------------------------------------------------------------ protocol

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._sessions[writer] = False
        self.state.connections += 1
        try:
            while not self.down:
                line = await reader.readline()
                if not line:
                    break
                answer = await self._answer(line, writer)
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
        except (OSError, ValueError, asyncio.CancelledError):
            pass
        finally:
            self._sessions.pop(writer, None)
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes, writer: asyncio.StreamWriter) -> bytes | None:
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _line({"type": "error", "code": "400", "message": "报文不是合法的 JSON"})
        if not isinstance(message, dict):
            return _line({"type": "error", "code": "400", "message": "报文应为 JSON 对象"})
        kind = str(message.get("type"))
        self.state.requests[kind] += 1
        msg_id = message.get("msgId")
        if kind == "login":
            user, password = str(message.get("username") or ""), str(message.get("password") or "")
            if not user or self.accounts.get(user) != password:
                return _line({"type": "login_ack", "msgId": msg_id, "code": "403", "message": "账号或密码错误"})
            self._sessions[writer] = True
            self.state.logins += 1
            return _line({"type": "login_ack", "msgId": msg_id, "code": "200", "message": "登录成功"})
        if kind == "heartbeat":
            if not self._sessions.get(writer):
                return _line({"type": "heartbeat_ack", "msgId": msg_id, "code": "401", "message": "会话已失效"})
            self.state.heartbeats += 1
            raw_gates = message.get("gates")
            gates: list[Any] = raw_gates if isinstance(raw_gates, list) else []
            self.state.heartbeat_gates.append([str(g) for g in gates])
            return _line({"type": "heartbeat_ack", "msgId": msg_id, "code": "200", "message": "成功"})
        if kind != "record":
            return _line({"type": "error", "msgId": msg_id, "code": "400", "message": f"未知的报文类型：{kind}"})
        serial = str(message.get("serial") or "")
        fault = await self._fault(serial)
        if fault is not None:
            return fault or None
        if not self._sessions.get(writer):
            return _ack(serial, "401", "会话已失效，请重新登录")
        data = message.get("data") if isinstance(message.get("data"), dict) else None
        reason = _check(serial, data)
        if reason is None and serial in self.faults.reject_serials:
            reason = "车辆信息与备案不符"
        if reason is not None:
            self.state.rejected[serial] += 1
            return _ack(serial, "400", reason)
        if serial in self.state.records:
            self.state.duplicates += 1
            return _ack(serial, "409", "记录已存在")
        assert data is not None
        self.state.records[serial] = data
        if self._rng.random() < self.faults.lost_answer_rate:  # stored, then the ack never comes
            self.state.requests["fault:lost_answer"] += 1
            return None
        return _ack(serial, "200", "成功")

    async def _fault(self, serial: str) -> bytes | None:
        """A faulty answer (``b""`` = none at all), or None to answer normally."""
        f, roll = self.faults, self._rng.random()
        for rate, kind in (
            (f.timeout_rate, "timeout"),
            (f.error_rate, "5xx"),
            (f.malformed_rate, "malformed"),
            (f.html_rate, "html"),
            (f.odd_rate, "odd"),
        ):
            if roll < rate:
                self.state.requests[f"fault:{kind}"] += 1
                if kind == "timeout":
                    return b""
                if kind == "5xx":
                    return _ack(serial, "500", "系统内部错误")
                if kind == "odd":
                    return self._rng.choice(
                        [
                            _ack(serial, "302", "请求已转移"),  # a code we do not know
                            _line({"type": "ack", "serial": serial, "message": "成功"}),  # no code at all
                            _line({"type": "error", "code": "500", "message": "内部错误"}),  # not an ack
                            b"[]\n",  # JSON, not an object
                        ]
                    )
                if kind == "malformed":
                    return b'{"type": "ack", "serial": "' + serial.encode() + b'", "code": \n'
                return b"<html><body>\xe7\xb3\xbb\xe7\xbb\x9f\xe7\xbb\xb4\xe6\x8a\xa4\xe4\xb8\xad</body></html>\n"
            roll -= rate
        return None


def _check(serial: str, data: dict[str, Any] | None) -> str | None:
    if not serial or len(serial) > 64:
        return "流水号为空或过长"
    if data is None:
        return "data 应为对象"
    if not _PLATE.match(str(data.get("plate") or "")):
        return f"车牌号码格式错误：{data.get('plate')}"
    if str(data.get("plateColor")) not in {"0", "1", "2", "3", "4", "5", "6", "9"}:
        return f"车牌颜色代码错误：{data.get('plateColor')}"
    if not _TIME.match(str(data.get("passTime") or "")):
        return "通过时间格式应为 yyyy-MM-dd HH:mm:ss"
    if str(data.get("direction")) not in {"1", "2"}:
        return "进出状态应为 1（进）或 2（出）"
    return None


def _ack(serial: str, code: str, message: str) -> bytes:
    return _line({"type": "ack", "serial": serial, "code": code, "message": message})


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"
