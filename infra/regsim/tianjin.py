"""A Tianjin-profile platform (REGULATION.md §2.1) for tests: token, SM2 signature and SM3 digest checks.

Speaks the protocol written down in :mod:`cloud.uplink.adapters.tianjin`. Same in-process API as
:class:`infra.regsim.RegulatorSimulator`: async context manager, ``.url``, ``.records`` by serial,
``.state.duplicates``, ``.faults`` (the shared :class:`~infra.regsim.app.Faults`), ``set_down()``,
``expire_tokens()``. ``public_key`` is the enterprise's registered SM2 public key; a request whose
digest or signature does not verify is answered ``403``. ``state.daily`` holds the daily per-gate counts
received, ``own_daily()`` the platform's own count of the records it holds, to compare.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from cloud.uplink.adapters.tianjin import canonical, normalise_public_key, signing_string, sm2_crypt, sm3_hex
from infra.regsim.base import HttpPlatformSimulator
from infra.regsim.faults import Faults

TOKEN_TTL_S: Final = 2 * 3600
_PLATE: Final = re.compile(r"^[\u4e00-\u9fa5][A-Z][A-Z0-9\u4e00-\u9fa5]{4,7}$")
_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass
class TianjinState:
    """What the platform holds and has seen."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    daily: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (gate, entrance, date) -> count
    duplicates: int = 0
    heartbeats: int = 0
    heartbeat_gates: list[list[str]] = field(default_factory=list)  # the gate codes of each heartbeat
    #: (gate, entrance, date) -> (count reported, records held) where the daily report disagrees with
    #: what the platform received; checked on every daily report of that date.
    daily_mismatch: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    daily_reports: int = 0
    bad_signatures: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    tokens: dict[str, float] = field(default_factory=dict)


class TianjinSimulator(HttpPlatformSimulator):
    """The platform, startable in-process."""

    MALFORMED_BODY = '{"code": "200", "message": '
    ODD_ANSWERS = (
        (200, '{"code": "302", "message": "请求已转移"}'),
        (200, '{"message": "成功"}'),
        (200, "[]"),
        (404, "<html><body>404 Not Found</body></html>"),
    )
    state: TianjinState

    def __init__(
        self, public_key: str, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None
    ) -> None:
        """``public_key``: the enterprise's registered SM2 public key (128 hex); account ``ecogate``."""
        super().__init__(host=host, port=port, faults=faults)
        self.accounts = {"ecogate": "EcoGate@2026"}
        self.public_key = normalise_public_key(public_key)
        self.state = TianjinState()

        self.app.router.add_post("/tj/api/login", self._login)
        self.app.router.add_post("/tj/api/pass", self._pass)
        self.app.router.add_post("/tj/api/daily", self._daily)
        self.app.router.add_post("/tj/api/heartbeat", self._heartbeat)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Accepted records by serial."""
        return self.state.records

    def own_daily(self) -> dict[tuple[str, str, str], int]:
        """The platform's own per-gate daily count of the records it holds."""
        counts: Counter[tuple[str, str, str]] = Counter(
            (str(r["gateSn"]), str(r["entranceNo"]), str(r["passTime"])[:10]) for r in self.state.records.values()
        )
        return dict(counts)

    # ------------------------------------------------------------------ handlers

    async def _signed(self, request: web.Request, name: str) -> dict[str, Any] | web.Response:
        """The verified ``data`` of a business request, or the answer refusing it."""
        fault = await self._fault()
        if fault is not None:
            return fault
        self.state.requests[name] += 1
        issued = self.state.tokens.get(request.headers.get("token", ""))
        if issued is None or time.monotonic() - issued >= TOKEN_TTL_S:
            return _answer("401", "token 已失效")
        try:
            body = await request.json()
        except ValueError:
            return _answer("400", "请求不是合法的 JSON")
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return _answer("400", "请求体应为 JSON 对象且含 data")
        digest = sm3_hex(canonical(body["data"]))
        signed = signing_string(
            str(body.get("companyCode")), str(body.get("timestamp")), str(body.get("nonce")), str(body.get("digest"))
        )
        verifier = sm2_crypt("", self.public_key)
        try:
            valid = digest == body.get("digest") and bool(verifier.verify_with_sm3(str(body.get("sign")), signed))
        except (ValueError, TypeError, IndexError):
            valid = False
        if not valid:
            self.state.bad_signatures += 1
            return _answer("403", "签名验证失败")
        data: dict[str, Any] = body["data"]
        return data

    async def _login(self, request: web.Request) -> web.Response:
        fault = await self._fault()
        if fault is not None:
            return fault
        self.state.requests["login"] += 1
        body = await request.json()
        user, password = str(body.get("username") or ""), str(body.get("password") or "")
        if not user or self.accounts.get(user) != password:
            return _answer("403", "用户名或密码错误")
        token = secrets.token_hex(16)
        self.state.tokens[token] = time.monotonic()
        return _answer("200", "成功", {"token": token})

    async def _pass(self, request: web.Request) -> web.Response:
        data = await self._signed(request, "pass")
        if isinstance(data, web.Response):
            return data
        serial = str(data.get("serialNum") or "")
        reason = _check(data)
        if reason is None and serial in self.faults.reject_serials:
            reason = "车辆信息与备案不符"
        if reason is not None:
            self.state.rejected[serial] += 1
            return _answer("400", reason)
        if serial in self.state.records:
            self.state.duplicates += 1
            return _answer("200", "记录已存在")
        self.state.records[serial] = data
        if self._rng.random() < self.faults.lost_answer_rate:  # stored, then the answer never comes
            self.state.requests["fault:lost_answer"] += 1
            await asyncio.sleep(self.faults.timeout_s)
            return web.Response(status=504, text="gateway timeout")
        return _answer("200", "成功")

    async def _daily(self, request: web.Request) -> web.Response:
        data = await self._signed(request, "daily")
        if isinstance(data, web.Response):
            return data
        rows = data.get("rows")
        if not isinstance(rows, list):
            return _answer("400", "rows 应为数组")
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("recordNum"), int):
                return _answer("400", "日上报行格式错误")
        day = str(data.get("recordDate"))
        for key in [k for k in self.state.daily if k[2] == day]:
            del self.state.daily[key]  # a re-upload replaces the day's rows
        for row in rows:
            key = (str(row.get("gateSn")), str(row.get("entranceNo")), str(row.get("recordDate")))
            self.state.daily[key] = int(row["recordNum"])
        self.state.daily_reports += 1
        self._check_daily(day)
        return _answer("200", "成功")

    def _check_daily(self, day: str) -> None:
        """Compare the day's reported counts with the records held; keep the disagreements."""
        held = {k: n for k, n in self.own_daily().items() if k[2] == day}
        reported = {k: n for k, n in self.state.daily.items() if k[2] == day}
        for key in [k for k in self.state.daily_mismatch if k[2] == day]:
            del self.state.daily_mismatch[key]
        for key in set(held) | set(reported):
            if held.get(key, 0) != reported.get(key, 0):
                self.state.daily_mismatch[key] = (reported.get(key, 0), held.get(key, 0))

    async def _heartbeat(self, request: web.Request) -> web.Response:
        data = await self._signed(request, "heartbeat")
        if isinstance(data, web.Response):
            return data
        self.state.heartbeats += 1
        raw_gates = data.get("gates")
        gates: list[Any] = raw_gates if isinstance(raw_gates, list) else []
        self.state.heartbeat_gates.append([str(g.get("gateSn")) for g in gates if isinstance(g, dict)])
        return _answer("200", "成功")


def _check(data: dict[str, Any]) -> str | None:
    serial = str(data.get("serialNum") or "")
    if not serial or len(serial) > 64:
        return "流水号为空或过长"
    if not _PLATE.match(str(data.get("license") or "")):
        return f"车牌号码格式错误：{data.get('license')}"
    if str(data.get("licenseColor")) not in {"0", "1", "2", "3", "4", "5", "6", "9"}:
        return f"车牌颜色代码错误：{data.get('licenseColor')}"
    if not _TIME.match(str(data.get("passTime") or "")):
        return "通过时间格式应为 yyyy-MM-dd HH:mm:ss"
    return None


def _answer(code: str, message: str, data: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"code": code, "message": message, "data": data or {}})
