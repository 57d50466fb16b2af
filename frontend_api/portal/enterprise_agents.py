"""Agent pages (issue 9): enrollment codes, health, lane and ROI set-up over a camera snapshot.

* ``/portal/agents`` — the tenant's agents with their health (last heartbeat, queue depth, oldest
  unsent, disk, devices, alarms, clock skew: :mod:`cloud.hub.health`), a one-time enrollment code
  for a site (shown once, with the ``ecogate agent enroll CODE --cloud URL`` command to copy),
  revoke and rotate credentials (:mod:`cloud.hub.credentials`, :mod:`cloud.hub.commands`).
* ``/portal/agents/{id}`` — one agent: health, devices, alarms, its site's lanes with the ROI in
  force, recent commands and answers.
* ``/portal/agents/{id}/lanes/{lane}`` — ROI set-up: ask the agent for the lane camera's snapshot
  (a ``camera_snapshot`` command), show it with the ROI in force, drag or type a new rectangle, save
  (append-only ``lane_roi`` row + ``set_lane_roi`` command, kept for delivery while the agent is
  offline): :mod:`cloud.domain.lane_roi`.

Viewing is for tenant admins, managers and installers (the JSON API's ``ListAgents``); codes,
credentials, snapshots and ROIs for tenant admins and installers (its ``CreateEnrollmentCode``).
Every query runs under ``Database.session(principal)``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing import entitlements
from cloud.blobs import Blobs, from_state
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit, lane_roi
from cloud.hub import commands, credentials, health
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import (
    STALE,
    Me,
    csrf_ok,
    csrf_token,
    field_errors,
    page_get,
    page_post,
    read_form,
    render,
)
from tenants.context import Principal, Role

__all__ = ["routes"]

log = structlog.get_logger(__name__)

BASE: Final = "/portal/agents"
VIEWERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER})
MANAGERS: Final = frozenset({Role.TENANT_ADMIN, Role.INSTALLER})
#: Who may open a barrier from the portal (the JSON API's ``OPERATORS`` among enterprise roles).
RELEASERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER})
_DENIED: Final = "当前账号（{role}）无权查看或管理门禁终端。请联系企业管理员或安装人员。"
_DONE: Final = {
    "released": "已发送远程放行指令，道闸将在 60 秒内抬起；放行记录会写明操作人和原因。",
    "revoked": "代理凭据已吊销，该代理的连接已断开。",
    "snapshot": "已向代理发送抓拍指令，画面上传后会自动显示。",
    "roi_sent": "识别区域已保存并已发送给代理。",
    "roi_kept": "识别区域已保存。代理当前离线，将在其重新连接云端时自动下发。",
}


def _not_found(request: Request[Any, Any, Any], principal: Principal) -> Response[Any]:
    return render(request, "enterprise/agents/not_found.html", status_code=404, principal=principal)


def _blobs(request: Request[Any, Any, Any]) -> Blobs:
    return from_state(request.app.state)


def _cloud_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _view(agent: m.Agent, now: dt.datetime, site_names: dict[uuid.UUID, str]) -> dict[str, Any]:
    state = health.assess(agent, now)
    beat = dict(agent.health or {})
    return {
        "agent": agent,
        "site": site_names.get(agent.site_id, "—"),
        "state": state,
        "beat": beat,
        "devices": [d for d in _items(beat.get("devices")) if isinstance(d, dict)],
        "alarms": [str(a) for a in _items(beat.get("alarms"))],
    }


# --------------------------------------------------------------------------- list, codes, credentials


@page_get(BASE, roles=VIEWERS, denied=_DENIED)
async def agents_page(request: Request[Any, Any, Any], principal: Me, done: FromQuery[str] = "") -> Response[Any]:
    """The tenant's agents with health, the enrollment code form, revoke and rotate."""
    return await _list_page(request, principal, notice=_DONE.get(done, ""))


async def _list_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        sites = list(await session.scalars(select(m.Site).order_by(m.Site.name)))
        agents = list(await session.scalars(select(m.Agent).order_by(m.Agent.created_at, m.Agent.id)))
        now = dt.datetime.now(dt.UTC)
        codes = list(
            await session.scalars(
                select(m.AgentEnrollmentCode)
                .where(m.AgentEnrollmentCode.used_at.is_(None), m.AgentEnrollmentCode.expires_at > now)
                .order_by(m.AgentEnrollmentCode.created_at.desc())
                .limit(20)
            )
        )
    names = {s.id: s.name for s in sites}
    return render(
        request,
        "enterprise/agents/list.html",
        status_code=status_code,
        principal=principal,
        sites=sites,
        rows=[_view(a, now, names) for a in agents],
        codes=[(c, names.get(c.site_id, "—")) for c in codes],
        can_manage=principal.role in MANAGERS,
        notice=notice,
        form=form or {"ttl_hours": "24"},
        errors=errors or {},
        created=created,
        cloud_url=_cloud_url(request),
        csrf=csrf_token(request),
    )


def _code_form(form: dict[str, str]) -> tuple[dict[str, str], uuid.UUID | None, int]:
    """Check the enrollment code form: field errors, the site and the hours of validity."""
    errors: dict[str, str] = {}
    site_id: uuid.UUID | None = None
    try:
        site_id = uuid.UUID(form["site_id"])
    except ValueError:
        errors["site_id"] = "请选择厂区"
    if not form["name"]:
        errors["name"] = "请填写代理名称，如 1号门岗亭"
    elif len(form["name"]) > 100:
        errors["name"] = "代理名称不能超过 100 个字"
    text = form["ttl_hours"] or "24"
    ttl = int(text) if text.isdigit() else 0
    if not 1 <= ttl <= 168:
        errors["ttl_hours"] = "有效期应为 1–168 小时的整数"
    return errors, site_id, ttl


@page_post(f"{BASE}/enrollment-codes", roles=MANAGERS, denied=_DENIED)
async def create_code(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """A one-time enrollment code for a site, shown once on the answer page (never in a URL)."""
    form = await read_form(request, "site_id", "name", "ttl_hours")
    if not csrf_ok(request, form):
        return await _list_page(request, principal, form=form, errors=STALE, status_code=400)
    errors, site_id, ttl = _code_form(form)
    if errors or site_id is None:
        return await _list_page(request, principal, form=form, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            # The plan's number of agents and a restricted account, as on the API (issue 22, ADR 0033).
            await entitlements.require(session, principal, entitlements.Action.ENROLL_AGENT)
            try:
                row, code = await credentials.create_enrollment_code(
                    session, principal, site_id, form["name"], dt.timedelta(hours=ttl)
                )
            except LookupError:
                found = None
            else:
                found = row
                audit.record(
                    session,
                    principal,
                    "agent.enrollment_code",
                    "agent_enrollment_code",
                    row.id,
                    {"site_id": str(site_id)},
                )
    except entitlements.EntitlementError as exc:
        return await _list_page(request, principal, form=form, errors={"_": exc.detail}, status_code=402)
    if found is None:
        return await _list_page(request, principal, form=form, errors={"site_id": "厂区不存在"}, status_code=422)
    log.info("portal.enrollment_code", site_id=str(site_id), by=principal.login)
    created = {"code": code, "name": found.agent_name, "expires_at": found.expires_at}
    return await _list_page(request, principal, notice="注册码已生成（只显示这一次）。", created=created)


async def _agent(session: AsyncSession, agent_id: uuid.UUID) -> m.Agent | None:
    return await session.scalar(select(m.Agent).where(m.Agent.id == agent_id))


@page_post(f"{BASE}/{{agent_id:uuid}}/revoke", roles=MANAGERS, denied=_DENIED)
async def revoke(request: Request[Any, Any, Any], principal: Me, agent_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Revoke the agent's credential (with a reason); its live connection is closed."""
    form = await read_form(request, "reason")
    if not csrf_ok(request, form):
        return await _detail_page(request, principal, agent_id, errors=STALE, status_code=400)
    if not form["reason"] or len(form["reason"]) > 200:
        message = "请填写吊销原因" if not form["reason"] else "原因不能超过 200 个字"
        return await _detail_page(request, principal, agent_id, errors={"reason": message}, status_code=422)
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        agent = await _agent(session, agent_id)
        if agent is None:
            return _not_found(request, principal)
        try:
            await credentials.revoke_agent_credential(session, principal, agent, form["reason"])
        except credentials.CredentialStateError as exc:
            return await _detail_page(request, principal, agent_id, errors={"_": str(exc)}, status_code=409)
    log.info("portal.agent_revoked", agent_id=str(agent_id), by=principal.login)
    return Redirect(f"{BASE}/{agent_id}?done=revoked", status_code=303)


@page_post(f"{BASE}/{{agent_id:uuid}}/rotate", roles=MANAGERS, denied=_DENIED)
async def rotate(request: Request[Any, Any, Any], principal: Me, agent_id: FromPath[uuid.UUID]) -> Response[Any]:
    """A new credential (shown once on the answer page); the old one stops working at once."""
    form = await read_form(request)
    if not csrf_ok(request, form):
        return await _detail_page(request, principal, agent_id, errors=STALE, status_code=400)
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        agent = await _agent(session, agent_id)
        if agent is None:
            return _not_found(request, principal)
        try:
            token = await credentials.rotate_agent_credential(session, principal, agent)
        except credentials.CredentialStateError as exc:
            return await _detail_page(request, principal, agent_id, errors={"_": str(exc)}, status_code=409)
    log.info("portal.agent_rotated", agent_id=str(agent_id), by=principal.login)
    return await _detail_page(
        request,
        principal,
        agent_id,
        notice="新凭据已生成（只显示这一次），旧凭据已失效。",
        token=token,
    )


# --------------------------------------------------------------------------- one agent


@page_get(f"{BASE}/{{agent_id:uuid}}", roles=VIEWERS, denied=_DENIED)
async def agent_page(
    request: Request[Any, Any, Any], principal: Me, agent_id: FromPath[uuid.UUID], done: FromQuery[str] = ""
) -> Response[Any]:
    """One agent: health, devices, alarms, lanes with their ROI, recent commands."""
    return await _detail_page(request, principal, agent_id, notice=_DONE.get(done, ""))


async def _detail_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    agent_id: uuid.UUID,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    token: str = "",
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        agent = await _agent(session, agent_id)
        if agent is None:
            return _not_found(request, principal)
        site = await session.get(m.Site, (agent.tenant_id, agent.site_id))
        lanes = [
            (lane, gate, await lane_roi.current_roi(session, lane.id))
            for lane, gate in await lane_roi.site_lanes(session, agent.site_id)
        ]
        addressed = (m.AgentCommand.agent_ids.is_(None)) | (m.AgentCommand.agent_ids.contains([agent.id]))
        recent = list(
            await session.scalars(
                select(m.AgentCommand)
                .where(addressed, m.AgentCommand.created_at >= agent.created_at)
                .order_by(m.AgentCommand.created_at.desc())
                .limit(15)
            )
        )
        answers = {
            r.command_id: r
            for r in await session.scalars(
                select(m.AgentCommandResult).where(
                    m.AgentCommandResult.agent_id == agent.id,
                    m.AgentCommandResult.command_id.in_([c.id for c in recent]),
                )
            )
        }
        refused: dict[uuid.UUID, m.PassEvent] = {}
        for lane, _gate, _roi in lanes:
            last = await session.scalar(
                select(m.PassEvent)
                .where(m.PassEvent.lane_id == lane.id, m.PassEvent.decision == "refuse")
                .order_by(m.PassEvent.occurred_at.desc())
                .limit(1)
            )
            if last is not None:
                refused[lane.id] = last
    view = _view(agent, dt.datetime.now(dt.UTC), {agent.site_id: site.name if site else "—"})
    return render(
        request,
        "enterprise/agents/detail.html",
        status_code=status_code,
        principal=principal,
        row=view,
        lanes=lanes,
        recent=[(c, answers.get(c.id)) for c in recent],
        can_manage=principal.role in MANAGERS,
        can_release=principal.role in RELEASERS,
        refused=refused,
        notice=notice,
        errors=errors or {},
        token=token,
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/{{agent_id:uuid}}/lanes/{{lane_id:uuid}}/release", roles=RELEASERS, denied=_DENIED)
async def release(
    request: Request[Any, Any, Any], principal: Me, agent_id: FromPath[uuid.UUID], lane_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """特批放行: open the lane's barrier with a reason (and the plate typed or the last refused one confirmed)."""
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("reason", "plate", "csrf", "confirm_plate")}
    if not csrf_ok(request, form):
        return await _detail_page(request, principal, agent_id, errors=STALE, status_code=400)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            agent = await _agent(session, agent_id)
            if agent is None:
                return _not_found(request, principal)
            await commands.remote_release(
                session,
                principal,
                agent,
                lane_id,
                form["reason"],
                plate=form["plate"] or None,
                confirm_plate=form["confirm_plate"] == "1",
            )
    except ProblemError as exc:
        found = field_errors(exc)
        general = found.pop("lane_id", "") or found.pop("_", "")
        errors = {"lane": str(lane_id), **found}
        if general:
            errors.setdefault("reason", general)
        return await _detail_page(request, principal, agent_id, errors=errors, status_code=exc.status)
    log.info("portal.remote_release", agent_id=str(agent_id), lane_id=str(lane_id), by=principal.login)
    return Redirect(f"{BASE}/{agent_id}?done=released", status_code=303)


# --------------------------------------------------------------------------- lane ROI


@page_get(f"{BASE}/{{agent_id:uuid}}/lanes/{{lane_id:uuid}}", roles=MANAGERS, denied=_DENIED)
async def roi_page(
    request: Request[Any, Any, Any],
    principal: Me,
    agent_id: FromPath[uuid.UUID],
    lane_id: FromPath[uuid.UUID],
    done: FromQuery[str] = "",
) -> Response[Any]:
    """The lane's latest snapshot with the ROI in force and the form to draw or type a new one."""
    return await _roi_page(request, principal, agent_id, lane_id, notice=_DONE.get(done, ""))


async def _roi_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    agent_id: uuid.UUID,
    lane_id: uuid.UUID,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        found = await lane_roi.agent_lane(session, agent_id, lane_id)
        if found is None:
            return _not_found(request, principal)
        agent, lane = found
        snapshot = await lane_roi.latest_snapshot(session, agent.id, lane.id)
        current = await lane_roi.current_roi(session, lane.id)
        history = await lane_roi.roi_history(session, lane.id)
        pending_roi = bool(
            current is not None
            and current.command_id is not None
            and await session.scalar(
                select(m.AgentCommandResult.id).where(
                    m.AgentCommandResult.command_id == current.command_id,
                    m.AgentCommandResult.agent_id == agent.id,
                )
            )
            is None
        )
    now = dt.datetime.now(dt.UTC)
    state = health.assess(agent, now)
    size = lane_roi.picture_size(_blobs(request), snapshot.sha256 if snapshot is not None else None)
    waiting = bool(
        snapshot is not None and not snapshot.answered and (snapshot.expires_at is None or snapshot.expires_at > now)
    )
    if form is None:
        form = (
            {"x1": str(current.x1), "y1": str(current.y1), "x2": str(current.x2), "y2": str(current.y2)}
            if current is not None
            else {}
        )
    return render(
        request,
        "enterprise/agents/roi.html",
        status_code=status_code,
        principal=principal,
        agent=agent,
        lane=lane,
        online=state.online,
        snapshot=snapshot,
        waiting=waiting,
        size=size,
        current=current,
        pending_roi=pending_roi,
        history=history,
        notice=notice,
        form=form,
        errors=errors or {},
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/{{agent_id:uuid}}/lanes/{{lane_id:uuid}}/snapshot", roles=MANAGERS, denied=_DENIED)
async def ask_snapshot(
    request: Request[Any, Any, Any], principal: Me, agent_id: FromPath[uuid.UUID], lane_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Ask the (online) agent for the lane camera's latest frame."""
    form = await read_form(request)
    if not csrf_ok(request, form):
        return await _roi_page(request, principal, agent_id, lane_id, errors=STALE, status_code=400)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            found = await lane_roi.agent_lane(session, agent_id, lane_id)
            if found is None:
                return _not_found(request, principal)
            await lane_roi.ask_snapshot(session, principal, *found)
    except ProblemError as exc:
        return await _roi_page(
            request, principal, agent_id, lane_id, errors={"snapshot": exc.detail}, status_code=exc.status
        )
    return Redirect(f"{BASE}/{agent_id}/lanes/{lane_id}?done=snapshot", status_code=303)


@page_post(f"{BASE}/{{agent_id:uuid}}/lanes/{{lane_id:uuid}}/roi", roles=MANAGERS, denied=_DENIED)
async def save_roi(
    request: Request[Any, Any, Any], principal: Me, agent_id: FromPath[uuid.UUID], lane_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Save the new ROI (checked inside the snapshot) and send it to the agent; kept for it while offline."""
    form = await read_form(request, "x1", "y1", "x2", "y2")
    if not csrf_ok(request, form):
        return await _roi_page(
            request,
            principal,
            agent_id,
            lane_id,
            form=form,
            errors=STALE,
            status_code=400,
        )
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            found = await lane_roi.agent_lane(session, agent_id, lane_id)
            if found is None:
                return _not_found(request, principal)
            agent, lane = found
            await lane_roi.save_over_snapshot(session, principal, agent, lane, form, _blobs(request))
            online = health.assess(agent, dt.datetime.now(dt.UTC)).online
    except ProblemError as exc:
        errors = {e.field: e.message for e in exc.errors} or {"_": exc.detail}
        return await _roi_page(request, principal, agent_id, lane_id, form=form, errors=errors, status_code=exc.status)
    log.info("portal.lane_roi_saved", lane_id=str(lane_id), agent_id=str(agent_id), by=principal.login)
    return Redirect(f"{BASE}/{agent_id}/lanes/{lane_id}?done={'roi_sent' if online else 'roi_kept'}", status_code=303)


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return [agents_page, create_code, revoke, rotate, release, agent_page, roi_page, ask_snapshot, save_roi]
