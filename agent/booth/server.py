"""The booth web server (aiohttp) the agent serves on the local network for the gate guard.

* ``GET /`` — the page (Simplified Chinese, no external assets: works without internet).
* ``GET /api/state`` — lanes with their last pass, alarms, online flag, reasons, signed-in guard.
* ``GET /api/stream`` — server-sent events: ``lane`` after every pass or storage failure,
  ``status`` (online flag, alarms) on change and every few seconds.
* ``POST /api/login`` / ``POST /api/logout`` — guard sign-in with name + PIN (argon2, offline).
* ``POST /api/lanes/{lane}/release`` — manual release: reason code + text, signed-in guard only.
* ``POST /api/lanes/{lane}/plate`` — manual plate entry when the camera fails (normal decision applies).
* ``GET /api/blobs/{sha256}`` — a photo or clip of a pass from the outbox.

Every manual action goes through :class:`agent.runtime.pipeline.LanePipeline` and becomes a pass
event, committed to the outbox before any barrier command (ADR 0003). Errors are Problem Details
JSON with a machine ``code`` and a Chinese ``title``/``detail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from agent.booth.auth import GuardAuth, Session
from agent.booth.page import PAGE
from agent_protocol.events import Decision, ManualReason, PassEvent, TriggerKind
from hj1321.errors import InvalidValueError
from hj1321.plates import PlateColour, parse_plate

if TYPE_CHECKING:
    from agent.runtime.app import Agent
    from agent.runtime.pipeline import LaneEvent, LanePipeline

__all__ = ["BoothServer", "start_booth"]

log = structlog.get_logger(__name__)

COOKIE = "ecogate_booth"
STATUS_EVERY_S = 5.0
MAX_TEXT = 500
MIN_TEXT = 2
_SHA = re.compile(r"^[0-9a-f]{64}$")
_CODE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def _problem(status: int, code: str, title: str, detail: str = "", field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "status": status, "code": code, "title": title}
    body["detail"] = detail or title
    if field is not None:
        body["errors"] = [{"field": field, "code": code, "message": detail or title}]
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/problem+json",
    )


class ProblemResponse(Exception):  # noqa: N818 - carries a response, not a failure of ours
    """Raised inside handlers to answer with a Problem Details response."""

    def __init__(self, response: web.Response) -> None:
        """Wrap ``response``."""
        super().__init__(response.text)
        self.response = response


def _bad(code: str, detail: str, field: str | None = None) -> ProblemResponse:
    return ProblemResponse(_problem(422, code, "输入有误", detail, field))


def event_summary(event: PassEvent) -> dict[str, Any]:
    """What the booth shows of one pass."""
    photos = [{"role": s.role.value, "url": f"/api/blobs/{s.sha256}"} for s in event.evidence.snapshots]
    clip = event.evidence.clip
    nvr = event.evidence.nvr
    trigger = event.trigger
    return {
        "event_id": event.event_id,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "plate": event.plate,
        "plate_colour": event.plate_colour.value if event.plate_colour else None,
        "plate_colour_label": event.plate_colour.label if event.plate_colour else None,
        "internal_code": event.internal_code,
        "confidence": event.confidence,
        "decision": event.decision.value,
        "decision_label": event.decision.label,
        "message": event.message,
        "reasons": list(event.reasons),
        "trigger": trigger.kind.value,
        "trigger_label": trigger.kind.label,
        "operator": trigger.operator_name or trigger.operator,
        "operator_account": trigger.operator,
        "channel": trigger.channel.value if trigger.channel else None,
        "plate_source": trigger.plate_source.value if trigger.plate_source else None,
        "reason_label": trigger.reason_code.label if trigger.reason_code else None,
        "reason_text": trigger.reason_text,
        "related_event_id": event.related_event_id,
        "photos": photos,
        "clip": {"url": f"/api/blobs/{clip.sha256}", "start": clip.start.isoformat(), "end": clip.end.isoformat()}
        if clip
        else None,
        "nvr": {"nvr": nvr.nvr, "channel": nvr.channel, "start": nvr.start.isoformat(), "end": nvr.end.isoformat()}
        if nvr
        else None,
        "weighing": {
            "gross_kg": event.weighing.gross_kg,
            "tare_kg": event.weighing.tare_kg,
            "net_kg": event.weighing.net_kg,
        }
        if event.weighing
        else None,
        "cargo": event.cargo,
        "anomalies": list(event.anomalies),
    }


class BoothServer:
    """The booth's aiohttp application bound to a running :class:`Agent`."""

    def __init__(self, agent: Agent) -> None:
        """Build the routes; sessions come from ``[booth]`` of the agent config."""
        self.agent = agent
        cfg = agent.cfg.booth
        self.auth = GuardAuth(guards=cfg.guards, session_s=cfg.session_minutes * 60.0)
        self._clients: set[asyncio.Queue[tuple[str, str]]] = set()
        self._status_task: asyncio.Task[None] | None = None
        self._last_status = ""
        self.app = web.Application(middlewares=[self._problems])
        self.app.add_routes(
            [
                web.get("/", self.page),
                web.get("/api/state", self.state),
                web.get("/api/stream", self.stream),
                web.post("/api/login", self.login),
                web.post("/api/logout", self.logout),
                web.post("/api/lanes/{lane}/release", self.release),
                web.post("/api/lanes/{lane}/plate", self.plate),
                web.get("/api/blobs/{sha256}", self.blob),
            ]
        )
        self.app.on_shutdown.append(self._on_shutdown)

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _problems(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except ProblemResponse as exc:
            return exc.response
        except web.HTTPNotFound:
            return _problem(404, "not_found", "未找到", "请求的地址不存在")
        except web.HTTPMethodNotAllowed:
            return _problem(405, "method_not_allowed", "不支持的请求方法")
        except web.HTTPException:
            raise
        except Exception:
            log.exception("booth.handler_failed", path=request.path)
            return _problem(500, "internal_error", "岗亭服务内部错误", "请重试；若反复出现请联系运维")
        return response

    def attach(self) -> None:
        """Listen to the lanes and start the status ticker (call inside the running loop)."""
        self.agent.lane_listeners.append(self._on_lane)
        self._status_task = asyncio.get_running_loop().create_task(self._status_loop())

    async def _on_shutdown(self, _app: web.Application) -> None:
        with contextlib.suppress(ValueError):
            self.agent.lane_listeners.remove(self._on_lane)
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_task
        for queue in list(self._clients):
            queue.put_nowait(("close", ""))

    def _broadcast(self, kind: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, ensure_ascii=False)
        for queue in list(self._clients):
            if queue.qsize() > 100:  # a stalled page: drop it, it reconnects and reloads the state
                self._clients.discard(queue)
                queue.put_nowait(("close", ""))
                continue
            queue.put_nowait((kind, text))

    def _on_lane(self, item: LaneEvent) -> None:
        lane = self.agent.lanes.get(item.lane_id)
        self._broadcast(
            "lane",
            {
                "lane_id": item.lane_id,
                "event": event_summary(item.event) if item.event else None,
                "prompt_guard": item.prompt_guard,
                "barrier_opened": item.barrier_opened,
                "error": "通行记录无法保存（存储故障），道闸保持关闭，请联系运维" if item.error else None,
                "lane": self._lane_state(lane) if lane else None,
            },
        )

    def _status(self) -> dict[str, Any]:
        stats = self.agent.stats()
        return {
            "online": bool(self.agent.online()),
            "alarms": [{"code": a.code, "message": a.message, "at": a.at} for a in self.agent.alarms[-10:]],
            "pending": stats.pending if stats is not None else None,
        }

    async def _status_loop(self) -> None:
        last_sent = 0.0
        while True:
            await asyncio.sleep(0.5)
            status = self._status()
            text = json.dumps(status, ensure_ascii=False, sort_keys=True)
            if text != self._last_status or time.monotonic() - last_sent >= STATUS_EVERY_S:
                self._last_status = text
                last_sent = time.monotonic()
                self._broadcast("status", status)

    def _session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header.removeprefix("Bearer ")
        return self.auth.session(token)

    def _require_guard(self, request: web.Request) -> Session:
        session = self._session(request)
        if session is None:
            raise ProblemResponse(_problem(401, "not_signed_in", "未登录", "人工操作需要门岗先登录（姓名 + PIN）"))
        return session

    def _lane(self, request: web.Request) -> LanePipeline:
        lane = self.agent.lanes.get(request.match_info["lane"])
        if lane is None:
            raise ProblemResponse(_problem(404, "lane_not_found", "未找到", "车道不存在"))
        return lane

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise ProblemResponse(_problem(415, "unsupported_media_type", "请求格式错误", "请求体必须是 JSON"))
        try:
            body = await request.json()
        except ValueError as exc:
            raise ProblemResponse(_problem(400, "malformed_json", "请求格式错误", "请求体不是有效的 JSON")) from exc
        if not isinstance(body, dict):
            raise ProblemResponse(_problem(400, "malformed_json", "请求格式错误", "请求体必须是 JSON 对象"))
        return body

    def _lane_state(self, lane: LanePipeline) -> dict[str, Any]:
        cfg = next(c for c in self.agent.cfg.lanes if c.id == lane.lane_id)
        devices: list[dict[str, Any]] = []
        for name in (cfg.barrier, cfg.led, cfg.weighbridge):
            device = self.agent.devices.get(name) if name else None
            if device is not None:
                health = device.health
                devices.append({"name": name, "kind": device.kind, "ok": health.ok, "message": health.message})
        return {
            "id": lane.lane_id,
            "name": lane.lane_name,
            "direction": str(lane.direction),
            "direction_label": "入场" if lane.direction == "in" else "出场",
            "last": event_summary(lane.last_event) if lane.last_event else None,
            "last_refused": event_summary(lane.last_refused) if lane.last_refused else None,
            "devices": devices,
        }

    # ------------------------------------------------------------------ handlers

    async def page(self, _request: web.Request) -> web.Response:
        """The booth page."""
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    async def state(self, request: web.Request) -> web.Response:
        """Everything the page needs on load."""
        session = self._session(request)
        body = {
            "site": {"id": self.agent.cfg.site.id, "name": self.agent.cfg.site.name},
            "guard": session.guard if session else None,
            "guards": self.auth.names(),
            "reasons": [{"code": r.value, "label": r.label} for r in ManualReason],
            "colours": [{"code": c.value, "label": c.label} for c in PlateColour],
            "lanes": [self._lane_state(lane) for lane in self.agent.lanes.values()],
            **self._status(),
        }
        return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events until the page goes away or the agent stops."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._clients.add(queue)
        queue.put_nowait(("status", json.dumps(self._status(), ensure_ascii=False)))
        try:
            while True:
                kind, text = await queue.get()
                if kind == "close":
                    break
                await response.write(f"event: {kind}\ndata: {text}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(queue)
        return response

    async def login(self, request: web.Request) -> web.Response:
        """Sign a guard in with name + PIN."""
        body = await self._json(request)
        name, pin = body.get("name"), body.get("pin")
        if not isinstance(name, str) or not name.strip():
            raise _bad("name_required", "请选择门岗姓名", "name")
        if not isinstance(pin, str) or not pin:
            raise _bad("pin_required", "请输入 PIN", "pin")
        locked = self.auth.locked_for(name)
        if locked > 0:
            return _problem(429, "guard_locked", "账号已临时锁定", f"PIN 错误次数过多，请 {int(locked) + 1} 秒后再试")
        session = await asyncio.to_thread(self.auth.verify, name, pin)
        if session is None:
            log.warning("booth.login_failed", guard=name)
            return _problem(401, "bad_credentials", "登录失败", "姓名或 PIN 不正确")
        log.info("booth.login", guard=name)
        response = web.json_response({"guard": session.guard, "token": session.token})
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", max_age=int(self.auth.session_s))
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """End the session."""
        self.auth.logout(request.cookies.get(COOKIE))
        response = web.json_response({"guard": None})
        response.del_cookie(COOKIE)
        return response

    async def release(self, request: web.Request) -> web.Response:
        """Manual release with a reason (choice + text): a pass event committed before the barrier opens."""
        session = self._require_guard(request)
        lane = self._lane(request)
        body = await self._json(request)
        try:
            reason = ManualReason(str(body.get("reason")))
        except ValueError as exc:
            raise _bad("reason_required", "请选择放行原因", "reason") from exc
        text = body.get("text")
        if not isinstance(text, str) or not (MIN_TEXT <= len(text.strip()) <= MAX_TEXT):
            raise _bad("reason_text_required", f"请填写放行说明（{MIN_TEXT}–{MAX_TEXT} 字）", "text")
        plate = self._plate(body, required=False)
        confirm = body.get("confirm_plate") in (True, "true", "on", "1")
        cargo = self._cargo(body)
        try:
            event = await lane.manual_release(
                operator=self._account(session.guard),
                operator_name=session.guard,
                reason=reason,
                text=text.strip(),
                plate=plate,
                confirm_plate=confirm and plate is None,
                photo=await self.agent.lane_frame(lane.lane_id),  # what the guard saw when releasing
                cargo=cargo,
            )
        except InvalidValueError as exc:
            raise _bad("plate_unconfirmed", exc.message, "confirm_plate") from exc
        return self._stored(event, session, "manual_release")

    def _account(self, guard: str) -> str:
        """The guard's account (``[[booth.guards]] account``, else the name) for the record."""
        account = next((g for g in self.agent.cfg.booth.guards if g.name == guard), None)
        return (account.account if account is not None and account.account else None) or guard

    async def plate(self, request: web.Request) -> web.Response:
        """Manual plate entry: the guard types the plate; the normal decision applies."""
        session = self._require_guard(request)
        lane = self._lane(request)
        body = await self._json(request)
        plate = self._plate(body, required=True)
        assert plate is not None
        colour_raw = body.get("colour")
        colour = None
        if colour_raw not in (None, ""):
            try:
                colour = PlateColour(colour_raw)
            except ValueError as exc:
                raise _bad("colour_invalid", "车牌颜色不正确", "colour") from exc
        code = body.get("internal_code")
        if code not in (None, "") and (not isinstance(code, str) or not _CODE.match(code)):
            raise _bad("internal_code_invalid", "厂内编号只能是 1–32 位字母或数字", "internal_code")
        event = await lane.manual_entry(
            operator=session.guard, plate=plate, colour=colour, internal_code=code or None, cargo=self._cargo(body)
        )
        return self._stored(event, session, "manual_entry")

    @staticmethod
    def _plate(body: dict[str, Any], *, required: bool) -> str | None:
        raw = body.get("plate")
        if raw in (None, ""):
            if required:
                raise _bad("plate_required", "请输入车牌号", "plate")
            return None
        try:
            return parse_plate(raw).number  # the HJ 1321 plate grammar, like every plate (issue 15)
        except InvalidValueError as exc:
            raise _bad("plate_invalid", f"车牌号格式不正确（{str(raw)[:20]}）：{exc.message}", "plate") from exc

    @staticmethod
    def _cargo(body: dict[str, Any]) -> str | None:
        raw = body.get("cargo")
        if raw in (None, ""):
            return None
        if not isinstance(raw, str) or len(raw.strip()) > 64:
            raise _bad("cargo_invalid", "货物名称最多 64 字", "cargo")
        return raw.strip() or None

    @staticmethod
    def _stored(event: PassEvent | None, session: Session, action: str) -> web.Response:
        if event is None:
            return _problem(
                503, "outbox_unavailable", "无法保存通行记录", "存储故障：记录未保存，道闸保持关闭，请联系运维"
            )
        log.info(
            "booth.manual_action",
            action=action,
            guard=session.guard,
            event_id=event.event_id,
            decision=event.decision.value,
            trigger=event.trigger.kind.value,
        )
        opened = event.decision is Decision.ALLOW
        body = {
            "event": event_summary(event),
            "barrier_opened": opened,
            "manual": event.trigger.kind != TriggerKind.AUTO,
        }
        return web.json_response(body, status=201, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def blob(self, request: web.Request) -> web.Response:
        """A photo or clip kept in the outbox."""
        digest = request.match_info["sha256"]
        if not _SHA.match(digest) or self.agent.outbox is None:
            return _problem(404, "blob_not_found", "未找到", "照片或视频不存在")
        data = await asyncio.to_thread(self.agent.outbox.read_blob, digest)
        if data is None:
            return _problem(404, "blob_not_found", "未找到", "照片或视频不存在（可能因空间不足已清理）")
        mime = "image/jpeg" if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd8") == 0 else "video/x-motion-jpeg"
        return web.Response(body=data, content_type=mime, headers={"Cache-Control": "private, max-age=86400"})


async def start_booth(agent: Agent) -> web.AppRunner:
    """Serve the booth for ``agent`` on ``[booth] host:port``; returns the runner (``cleanup()`` stops it)."""
    server = BoothServer(agent)
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, agent.cfg.booth.host, agent.cfg.booth.port)
    await site.start()
    server.attach()
    agent.booth = server
    log.info("booth.listening", host=agent.cfg.booth.host, port=agent.cfg.booth.port)
    return runner
