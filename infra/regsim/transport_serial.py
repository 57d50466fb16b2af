"""A ``/transport/*`` platform (REGULATION.md §2.5) for tests: issues serials, de-duplicates records by them.

Same in-process API as :class:`infra.regsim.RegulatorSimulator`: async context manager, ``.url``,
``.records`` (pass records by platform serial), ``.state.duplicates``, ``.faults`` (the shared
:class:`~infra.regsim.app.Faults`), ``set_down()``, ``expire_tokens()``. ``check`` answers the same
serial again for the same ``clientSerial`` (the assumption written down in the adapter).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from aiohttp import web

from infra.regsim.base import HttpPlatformSimulator
from infra.regsim.faults import Faults

log = structlog.get_logger(__name__)

TOKEN_TTL_S: Final = 2 * 3600
_PLATE: Final = re.compile(r"^[\u4e00-\u9fa5][A-Z][A-Z0-9\u4e00-\u9fa5]{4,7}$")
_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass
class TransportSerialState:
    """What the platform holds and has seen."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # platform serial -> pass record
    cargo: dict[str, dict[str, Any]] = field(default_factory=dict)  # platform serial -> cargo record
    photos: dict[str, list[int]] = field(default_factory=dict)
    issued: dict[str, str] = field(default_factory=dict)  # platform serial -> client serial ("" if none)
    by_client: dict[str, str] = field(default_factory=dict)  # client serial -> platform serial
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    tokens: dict[str, float] = field(default_factory=dict)


class TransportSerialSimulator(HttpPlatformSimulator):
    """The platform, startable in-process."""

    MALFORMED_BODY = '{"success": true, "code": '
    ODD_ANSWERS = (
        (200, '{"success": false, "code": "200", "message": "成功"}'),
        (200, '{"success": true, "code": "302", "message": "请求已转移"}'),
        (200, '{"success": true, "message": "成功"}'),
        (200, "[]"),
        (404, "<html><body>404 Not Found</body></html>"),
    )
    state: TransportSerialState

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None) -> None:
        """Account ``ecogate``/``EcoGate@2026``; plates ending in ``X`` are refused admission."""
        super().__init__(host=host, port=port, faults=faults)
        self.accounts = {"ecogate": "EcoGate@2026"}
        self.state = TransportSerialState()
        #: False = a platform that ignores ``clientSerial`` and issues a fresh serial on every ``check``.
        self.honour_client_serial = True
        #: True = ``record/cargo`` answers 503 (the pass record is taken, the cargo has to wait).
        self.cargo_down = False

        app = self.app
        for path, handler in (
            ("/transport/login", self._login),
            ("/transport/check", self._check),
            ("/transport/record/pass", self._pass),
            ("/transport/record/cargo", self._cargo),
        ):
            app.router.add_post(path, handler)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Pass records by platform serial."""
        return self.state.records

    def client_record(self, client_serial: str) -> dict[str, Any] | None:
        """The pass record held for one of our serials, if any."""
        serial = self.state.by_client.get(client_serial)
        return None if serial is None else self.state.records.get(serial)

    # ------------------------------------------------------------------ handlers

    async def _body(self, request: web.Request, name: str) -> dict[str, Any] | web.Response:
        fault = await self._fault()
        if fault is not None:
            return fault
        self.state.requests[name] += 1
        try:
            body = await request.json()
        except ValueError:
            return _answer("400", "请求不是合法的 JSON")
        if not isinstance(body, dict):
            return _answer("400", "请求体应为 JSON 对象")
        if name != "login":
            issued = self.state.tokens.get(request.headers.get("token", ""))
            if issued is None or time.monotonic() - issued >= TOKEN_TTL_S:
                return _answer("401", "token 已失效")
        return body

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._body(request, "login")
        if isinstance(body, web.Response):
            return body
        user, password = str(body.get("companynum") or ""), str(body.get("companypassword") or "")
        if not user or self.accounts.get(user) != password:
            return _answer("403", "账号或密码错误")
        token = secrets.token_hex(16)
        self.state.tokens[token] = time.monotonic()
        return _answer("200", "成功", {"token": token, "serverTime": time.strftime("%Y-%m-%d %H:%M:%S")})

    async def _check(self, request: web.Request) -> web.Response:
        body = await self._body(request, "check")
        if isinstance(body, web.Response):
            return body
        slow_or_down = await self._check_fault()
        if slow_or_down is not None:
            return slow_or_down
        plate = str(body.get("license") or "")
        if not _PLATE.match(plate):
            return _answer("400", f"车牌号码格式错误：{plate}")
        client = str(body.get("clientSerial") or "")
        serial = self.state.by_client.get(client) if client and self.honour_client_serial else None
        if serial is None:
            serial = "KF" + secrets.token_hex(12).upper()
            self.state.issued[serial] = client
            if client:
                self.state.by_client[client] = serial
        blocked = plate.endswith("X")
        return _answer(
            "200",
            "成功",
            {
                "isAllowPass": "0" if blocked else "1",
                "serialNum": serial,
                "passReason": "超标排放车辆" if blocked else "",
                "fuelType": "B",
                "emissionStandard": "6",
            },
        )

    def _common(self, body: dict[str, Any]) -> str | None:
        serial = str(body.get("serialNum") or "")
        if serial not in self.state.issued:
            return "流水号不存在，请先调用核验接口"
        if not _PLATE.match(str(body.get("license") or "")):
            return f"车牌号码格式错误：{body.get('license')}"
        if str(body.get("licenseColor")) not in {"0", "1", "2", "3", "4", "5", "6", "9"}:
            return f"车牌颜色代码错误：{body.get('licenseColor')}"
        if serial in self.faults.reject_serials or self.state.issued[serial] in self.faults.reject_serials:
            return "车辆信息与备案不符"
        return None

    async def _pass(self, request: web.Request) -> web.Response:
        body = await self._body(request, "pass")
        if isinstance(body, web.Response):
            return body
        reason = self._common(body)
        if reason is None and not _TIME.match(str(body.get("passTime") or "")):
            reason = "通过时间格式应为 yyyy-MM-dd HH:mm:ss"
        serial = str(body.get("serialNum") or "")
        if reason is not None:
            self.state.rejected[serial] += 1
            return _answer("400", reason)
        number = int(str(body.get("imageNo") or "0"))
        photos = self.state.photos.setdefault(serial, [])
        if serial in self.state.records and (number == 0 or number in photos):
            if number <= 1:  # one duplicate per re-submitted record, not per photo
                self.state.duplicates += 1
            return _answer("200", "记录已存在")
        self.state.records.setdefault(serial, {k: v for k, v in body.items() if k != "imageUrl"})
        if number:
            photos.append(number)
        if self._rng.random() < self.faults.lost_answer_rate:  # stored, then the answer never comes
            self.state.requests["fault:lost_answer"] += 1
            await asyncio.sleep(self.faults.timeout_s)
            return web.Response(status=504, text="gateway timeout")
        return _answer("200", "成功")

    async def _cargo(self, request: web.Request) -> web.Response:
        if self.cargo_down:
            self.state.requests["fault:cargo_down"] += 1
            return web.Response(status=503, text="Service Unavailable")
        body = await self._body(request, "cargo")
        if isinstance(body, web.Response):
            return body
        reason = self._common(body)
        serial = str(body.get("serialNum") or "")
        if reason is None and serial not in self.state.records:
            reason = "请先上传过车记录"
        if reason is not None:
            self.state.rejected[serial] += 1
            return _answer("400", reason)
        if serial in self.state.cargo:  # counted with the pass record's duplicate
            return _answer("200", "记录已存在")
        self.state.cargo[serial] = body
        return _answer("200", "成功")


def _answer(code: str, message: str, data: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"success": code == "200", "code": code, "message": message, "data": data or {}})
