"""The simulator's aiohttp application and its in-process runner (see the package docstring)."""

# ruff: noqa: PLR0911, PLR0912, C901 - a platform answers each request in one of many documented ways

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from aiohttp import web

from infra.regsim.base import HttpPlatformSimulator
from infra.regsim.faults import Faults, holds_of

__all__ = ["Faults", "RegulatorSimulator", "SimState"]

log = structlog.get_logger(__name__)

TOKEN_TTL_S: Final = 2 * 3600
_PLATE: Final = re.compile(r"^[\u4e00-\u9fa5][A-Z][A-Z0-9\u4e00-\u9fa5]{4,7}$")
_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
#: Required ``shareDrivingRecord`` fields and their checks (the platform's own wording in the reasons).
_REQUIRED: Final = ("lsh", "qybh", "dzbh", "cphm", "cpys", "tgsjq", "tgzt")


@dataclass
class SimState:
    """What the platform holds and has seen."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    photos: dict[str, list[int]] = field(default_factory=dict)  # serial -> photo numbers held
    duplicates: int = 0  # submissions of a serial already held
    rejected: Counter[str] = field(default_factory=Counter)  # serial -> rejections answered
    photo_refusals: Counter[str] = field(default_factory=Counter)  # serial -> photos refused
    requests: Counter[str] = field(default_factory=Counter)  # ipctype / fault -> count
    heartbeats: int = 0
    heartbeat_gates: list[list[str]] = field(default_factory=list)  # the gate codes of each heartbeat
    downlink: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> item not yet acknowledged
    acknowledged: list[str] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> issued at (monotonic)

    def summary(self) -> dict[str, Any]:
        """Counts for the inspection API."""
        per_enterprise = Counter(str(r.get("qybh")) for r in self.records.values())
        return {
            "records": len(self.records),
            "duplicates": self.duplicates,
            "rejected": sum(self.rejected.values()),
            "photos": sum(len(v) for v in self.photos.values()),
            "photo_refusals": sum(self.photo_refusals.values()),
            "heartbeats": self.heartbeats,
            "requests": dict(self.requests),
            "per_enterprise": dict(per_enterprise),
        }


class RegulatorSimulator(HttpPlatformSimulator):
    """The platform, startable in-process (async context manager) or from ``python -m infra.regsim``."""

    state: SimState

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: dict[str, str] | None = None,
        faults: Faults | None = None,
    ) -> None:
        """``accounts``: username → password (default ``ecogate``/``EcoGate@2026``)."""
        super().__init__(host=host, port=port, faults=faults)
        self.accounts = accounts or {"ecogate": "EcoGate@2026"}
        self.state = SimState()
        self._window: list[float] = []
        self._build()

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Accepted records by serial."""
        return self.state.records

    def push(self, item: dict[str, Any]) -> str:
        """Queue a downlink item (``type``: ``warning`` or ``overEmission``); returns its id."""
        item_id = str(item.get("id") or secrets.token_hex(8))
        self.state.downlink[item_id] = {**item, "id": item_id}
        return item_id

    # ------------------------------------------------------------------ application

    def _build(self) -> None:
        app = self.app
        app.router.add_post("/restapi/transportControl/get_data", self._get_data)
        app.router.add_post("/restapi/transportControl/put_data", self._put_data)
        app.router.add_post("/restapi/transportControl/put_file", self._put_file)
        app.router.add_get("/_sim/state", self._inspect)
        app.router.add_get("/_sim/records/{serial}", self._record)
        app.router.add_post("/_sim/faults", self._set_faults)
        app.router.add_post("/_sim/expire-tokens", self._expire)
        app.router.add_post("/_sim/reset", self._reset)
        app.router.add_post("/_sim/downlink", self._push)
        app.router.add_post("/_sim/holds", self._holds)

    async def _fault(self) -> web.Response | None:
        """The rate limit (429 with ``Retry-After``), then the shared fault rates."""
        if self.faults.rate_limit > 0:
            now = time.monotonic()
            self._window = [t for t in self._window if now - t < 1.0]
            if len(self._window) >= self.faults.rate_limit:
                self.state.requests["fault:429"] += 1
                return web.json_response(
                    {"code": "429", "status": "请求过于频繁"}, status=429, headers={"Retry-After": "1"}
                )
            self._window.append(now)
        return await super()._fault()

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"code": "400", "status": "请求不是合法的 JSON"})
        if not isinstance(body, dict):
            return web.json_response({"code": "400", "status": "请求体应为 JSON 对象"})
        return body

    def _token_ok(self, body: dict[str, Any]) -> bool:
        issued = self.state.tokens.get(str(body.get("access_token")))
        return issued is not None and time.monotonic() - issued < TOKEN_TTL_S

    async def _get_data(self, request: web.Request) -> web.Response:
        fault = await self._fault()
        if fault is not None:
            return fault
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        ipctype = str(body.get("ipctype"))
        self.state.requests[ipctype] += 1
        value: dict[str, Any] = body["value"] if isinstance(body.get("value"), dict) else {}
        if ipctype == "getAccessToken":
            user = str(value.get("username") or body.get("username") or "")
            password = str(value.get("password") or body.get("password") or "")
            if self.accounts.get(user) != password or not user:
                return web.json_response({"code": "403", "status": "用户名或密码错误"})
            token = secrets.token_hex(16)
            self.state.tokens[token] = time.monotonic()
            return web.json_response({"code": "200", "access_token": token, "datetime": _now()})
        if not self._token_ok(body):
            return web.json_response({"code": "401", "status": "token 已失效"})
        if ipctype == "getPushData":
            return web.json_response({"code": "200", "value": list(self.state.downlink.values())})
        if ipctype == "getCheckVehicle":
            slow_or_down = await self._check_fault()
            if slow_or_down is not None:
                return slow_or_down
            plate = str(value.get("license") or "")
            blocked = plate.endswith("X")  # a deterministic "controlled vehicle" for tests
            return web.json_response(
                {
                    "code": "200",
                    "value": {"isControl": "1" if blocked else "0", "controlReason": "超标排放车辆" if blocked else ""},
                }
            )
        return web.json_response({"code": "400", "status": f"未知的 ipctype：{ipctype}"})

    async def _put_data(self, request: web.Request) -> web.Response:
        fault = await self._fault()
        if fault is not None:
            return fault
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        ipctype = str(body.get("ipctype"))
        self.state.requests[ipctype] += 1
        if not self._token_ok(body):
            return web.json_response({"code": "401", "status": "token 已失效"})
        if ipctype == "ackPushData":
            ids = (body.get("value") or {}).get("ids") if isinstance(body.get("value"), dict) else None
            for item_id in ids if isinstance(ids, list) else []:
                if self.state.downlink.pop(str(item_id), None) is not None:
                    self.state.acknowledged.append(str(item_id))
            return web.json_response({"code": "200", "status": "成功"})
        if ipctype == "putdcstatus":
            self.state.heartbeats += 1
            raw_gates = body.get("value")
            gates: list[Any] = raw_gates if isinstance(raw_gates, list) else []
            self.state.heartbeat_gates.append([str(g.get("dzbh")) for g in gates if isinstance(g, dict)])
            return web.json_response({"code": "200", "status": "成功"})
        if ipctype != "shareDrivingRecord":
            return web.json_response({"code": "400", "status": f"未知的 ipctype：{ipctype}"})
        value = body.get("value")
        if not isinstance(value, dict):
            return web.json_response({"code": "400", "status": "value 应为对象"})
        reason = _check_record(value, str(body.get("organ") or ""))
        serial = str(value.get("lsh") or "")
        if reason is None and serial in self.faults.reject_serials:
            reason = "车辆信息与备案不符"
        if reason is not None:
            self.state.rejected[serial] += 1
            return web.json_response({"code": "400", "status": reason})
        if serial in self.state.records:
            self.state.duplicates += 1
            return web.json_response({"code": "200", "status": "记录已存在"})
        self.state.records[serial] = value
        began = time.monotonic()  # a slow platform (tests: no transaction stays open across a send); setting
        while time.monotonic() - began < self.faults.record_delay_s:  # noqa: ASYNC110 - 0 ends the wait
            await asyncio.sleep(0.05)
        if self._rng.random() < self.faults.lost_answer_rate:
            self.state.requests["fault:lost_answer"] += 1
            await asyncio.sleep(self.faults.timeout_s)
            return web.Response(status=504, text="gateway timeout")
        return web.json_response({"code": "200", "status": "成功"})

    async def _put_file(self, request: web.Request) -> web.Response:
        fault = await self._fault()
        if fault is not None:
            return fault
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        self.state.requests[str(body.get("ipctype"))] += 1
        if not self._token_ok(body):
            return web.json_response({"code": "401", "status": "token 已失效"})
        value: dict[str, Any] = body["value"] if isinstance(body.get("value"), dict) else {}
        serial = str(value.get("lsh") or "")
        if serial not in self.state.records:
            return web.json_response({"code": "400", "status": "流水号不存在，请先上传过车记录"})
        image = str(value.get("base64Image") or "")
        _, _, data = image.partition("base64,")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return web.json_response({"code": "400", "status": "图片不是合法的 base64"})
        if not raw.startswith(b"\xff\xd8"):
            return web.json_response({"code": "400", "status": "图片应为 JPEG"})
        if serial in self.faults.reject_photo_serials:  # the record stays stored; only this photo is refused
            self.state.photo_refusals[serial] += 1
            return web.json_response({"code": "400", "status": "照片不清晰，请重新上传"})
        number = int(value.get("zpbh") or 0)
        held = self.state.photos.setdefault(serial, [])
        if number not in held:
            held.append(number)
        return web.json_response({"code": "200", "status": "成功"})

    # ------------------------------------------------------------------ inspection

    async def _inspect(self, _: web.Request) -> web.Response:
        return web.json_response({**self.state.summary(), "faults": self.faults.public()})

    async def _record(self, request: web.Request) -> web.Response:
        record = self.state.records.get(request.match_info["serial"])
        if record is None:
            return web.json_response({"status": "not found"}, status=404)
        return web.json_response(record)

    async def _set_faults(self, request: web.Request) -> web.Response:
        data = await request.json()
        for name, value in data.items():
            self.faults.set(name, value)
        return web.json_response(self.faults.public())

    async def _holds(self, request: web.Request) -> web.Response:
        return web.json_response(holds_of(self, list((await request.json()).get("serials") or [])))

    async def _expire(self, _: web.Request) -> web.Response:
        self.expire_tokens()
        return web.json_response({"status": "ok"})

    async def _push(self, request: web.Request) -> web.Response:
        return web.json_response({"id": self.push(await request.json())})

    async def _reset(self, _: web.Request) -> web.Response:
        self.state = SimState()
        return web.json_response({"status": "ok"})


def _check_record(value: dict[str, Any], organ: str) -> str | None:
    """The platform's schema check of a pass record; the reason, or None when it is acceptable."""
    for name in _REQUIRED:
        if not str(value.get(name) or "").strip():
            return f"字段 {name} 不能为空"
    if str(value["qybh"]) != organ:
        return "企业编号与调用方不符"
    if not _PLATE.match(str(value["cphm"])):
        return f"车牌号码格式错误：{value['cphm']}"
    if str(value["cpys"]) not in {"0", "1", "2", "3", "4", "5", "6", "9"}:
        return f"车牌颜色代码错误：{value['cpys']}"
    if not _TIME.match(str(value["tgsjq"])):
        return "通过时间格式应为 yyyy-MM-dd HH:mm:ss"
    if str(value["tgzt"]) not in {"1", "2"}:
        return "进出状态应为 1（进）或 2（出）"
    if len(str(value["lsh"])) > 64:
        return "流水号过长"
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
