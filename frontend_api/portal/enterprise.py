"""Enterprise pages (issue 9, part 1): sign-in, home with today's figures, ledger search.

Every query runs in the signed-in person's own session (``Database.session(principal)``: the app
role under RLS with the tenant taken from the session token), never around it. Access is declared on
each route (:func:`frontend_api.portal.toolkit.page_get`); the handler receives the signed-in person.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

import structlog
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import emergency, flags
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain.ledger_views import pass_record, search_plate
from cloud.hub import health
from cloud.uplink import alarms as uplink_alarms
from cloud.uplink import outbox
from frontend_api.portal.toolkit import (
    CHINA,
    ENTERPRISE_ROLES,
    Me,
    china_day_start,
    csrf_ok,
    csrf_token,
    page_get,
    page_post,
    render,
)
from tenants.context import Principal, Role

__all__ = ["routes"]

log = structlog.get_logger(__name__)

LOGIN_PATH: Final = "/login"
HOME_PATH: Final = "/portal"
_PAGE_SIZE: Final = 50


@page_get(HOME_PATH, roles=ENTERPRISE_ROLES)
async def enterprise_home(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Today's passes and interceptions, the latest records, the emergency level in force."""
    return await _home(request, principal, "enterprise/home.html")


@page_get(f"{HOME_PATH}/live", roles=ENTERPRISE_ROLES)
async def enterprise_home_live(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The live part of the home page (figures and latest records), polled by the page every 10 s."""
    return await _home(request, principal, "enterprise/_live.html")


async def _home(request: Request[Any, Any, Any], principal: Principal, template: str) -> Response[Any]:
    database: Database = request.app.state.database
    today = china_day_start()
    async with database.session(principal) as session, session.begin():
        tenant = await session.get(m.Tenant, principal.tenant_id)
        figures = (
            await session.execute(
                select(
                    func.count().label("today"),
                    func.count().filter(m.PassEvent.decision == "refuse").label("refused"),
                    func.max(m.PassEvent.received_at).label("last_received"),
                ).where(m.PassEvent.occurred_at >= today)
            )
        ).one()
        latest = (
            (await session.execute(select(m.PassEvent).order_by(m.PassEvent.occurred_at.desc()).limit(10)))
            .scalars()
            .all()
        )
        level = "none"
        if tenant is not None:
            level = (await emergency.level_in_force(session, tenant.region_code)).level
        # The one definition of an open flag (cloud.compliance.flags); the reports page counts its month.
        open_flags = await flags.count_open(session, principal.tenant_id) if principal.tenant_id else 0
        flagged = await flags.open_by_pass(session, [e.id for e in latest])
        upload = await _upload(session, principal)
        agents = await _agents(session)
    return render(
        request,
        template,
        principal=principal,
        tenant=tenant,
        figures=figures,
        latest=latest,
        level=level,
        open_flags=open_flags,
        flagged=flagged,
        upload=upload,
        agents=agents,
    )


async def _upload(session: AsyncSession, principal: Principal) -> dict[str, Any] | None:
    """Today's upload KPIs and the alarms in force (None when no regulator platform is set up)."""
    if principal.tenant_id is None:
        return None
    start = china_day_start()
    status = await outbox.upload_status(session, principal.tenant_id, start, start + dt.timedelta(days=1))
    threshold = await uplink_alarms.threshold_of(session, principal.tenant_id)
    if status is None or threshold is None:
        return None
    return {**status, "alarms": uplink_alarms.current(status, threshold)}


async def _agents(session: AsyncSession) -> list[dict[str, Any]]:
    """Each active agent's state and its failing cameras/devices, from the stored heartbeat."""
    now = dt.datetime.now(dt.UTC)
    rows = (await session.scalars(select(m.Agent).where(m.Agent.status == "active").order_by(m.Agent.name))).all()
    out = []
    for agent in rows:
        state = health.assess(agent, now)
        raw = (agent.health or {}).get("devices")
        devices: list[Any] = raw if isinstance(raw, list) else []
        failing = [str(d.get("device") or "设备") for d in devices if isinstance(d, dict) and not d.get("ok")]
        alarms = (agent.health or {}).get("alarms")
        out.append(
            {
                "name": agent.name,
                "online": state.online,
                "silent": state.silent,
                "failing": failing,
                "devices": len(devices),
                "alarms": [str(a) for a in alarms][:5] if isinstance(alarms, list) else [],
            }
        )
    return out


@page_get(f"{HOME_PATH}/ledger", roles=ENTERPRISE_ROLES)
async def enterprise_ledger(
    request: Request[Any, Any, Any],
    principal: Me,
    plate: FromQuery[str] = "",
    decision: FromQuery[str] = "",
    day: FromQuery[str] = "",
) -> Response[Any]:
    """Search the pass ledger by plate, decision and day (China time)."""
    database: Database = request.app.state.database
    query = select(m.PassEvent).order_by(m.PassEvent.occurred_at.desc()).limit(_PAGE_SIZE)
    error = ""
    if decision in {"allow", "refuse"}:
        query = query.where(m.PassEvent.decision == decision)
    if day:
        try:
            noon = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=CHINA)
            start = china_day_start(noon)
        except ValueError:
            error = "日期格式应为 年-月-日，如 2026-11-28"
        else:
            query = query.where(
                m.PassEvent.occurred_at >= start, m.PassEvent.occurred_at < start + dt.timedelta(days=1)
            )
    async with database.session(principal) as session, session.begin():
        query, plate_note = await search_plate(session, principal.tenant_id, query, plate, day_given=bool(day))
        rows = [] if error else (await session.execute(query)).scalars().all()
        flagged = await flags.open_by_pass(session, [e.id for e in rows])  # red rows (ADR 0026's open flags)
    return render(
        request,
        "enterprise/ledger.html",
        principal=principal,
        rows=rows,
        flagged=flagged,
        plate=plate,
        plate_note=plate_note,
        decision=decision,
        day=day,
        error=error,
    )


@page_get(f"{HOME_PATH}/passes/{{pass_id:uuid}}", roles=ENTERPRISE_ROLES)
async def enterprise_pass(
    request: Request[Any, Any, Any], principal: Me, pass_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """One pass record: photos (zoom), decision and reasons, vehicle snapshot, weighing, corrections timeline."""
    return await _pass_page(request, principal, pass_id)


async def _pass_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    pass_id: uuid.UUID,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        record = await pass_record(session, principal.tenant_id, pass_id) if principal.tenant_id else None
    if record is None:  # another tenant's record is invisible under RLS: same 404
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    return render(
        request,
        "pass.html",
        status_code=status_code,
        principal=principal,
        regulator=False,
        **record,
        can_correct=principal.role in CORRECTORS,
        form=form or {},
        errors=errors or {},
        csrf=csrf_token(request),
    )


#: Who may correct a record (the API's writers among enterprise roles).
CORRECTORS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
_CORRECTION_FIELDS: Final = ("reason", "plate", "plate_colour", "cargo_name", "net_kg")


@page_post(f"{HOME_PATH}/passes/{{pass_id:uuid}}/corrections", roles=ENTERPRISE_ROLES)
async def correct_pass(request: Request[Any, Any, Any], principal: Me, pass_id: FromPath[uuid.UUID]) -> Response[Any]:
    """The correction form: a new correction row with who and why; errors next to the fields, nothing saved."""
    from cloud.ledger.corrections import CorrectionInput, correct_pass  # noqa: PLC0415
    from cloud.lib.problems import ProblemError  # noqa: PLC0415

    raw = await request.form()
    form = {name: str(raw.get(name) or "").strip() for name in (*_CORRECTION_FIELDS, "csrf", "void")}
    if principal.role not in CORRECTORS:
        return await _pass_page(
            request, principal, pass_id, form=form, errors={"_": "当前账号无权更正记录"}, status_code=403
        )
    if not csrf_ok(request, form):
        return await _pass_page(
            request, principal, pass_id, form=form, errors={"_": "页面已过期，请刷新后重新提交"}, status_code=400
        )
    data = CorrectionInput(
        reason=form["reason"],
        plate=form["plate"] or None,
        plate_colour=form["plate_colour"] or None,
        cargo_name=form["cargo_name"] or None,
        net_kg=form["net_kg"] or None,
        void=form["void"] == "1",
    )
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await correct_pass(session, principal, pass_id, data)
    except ProblemError as exc:
        if exc.status == 404:
            return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
        errors = {e.field: e.message for e in exc.errors} or {"_": exc.detail}
        return await _pass_page(request, principal, pass_id, form=form, errors=errors, status_code=422)
    log.info("portal.pass_corrected", pass_id=str(pass_id), by=principal.login, void=data.void)
    return Redirect(f"{HOME_PATH}/passes/{pass_id}", status_code=303)


def _safe_next(target: str) -> str:
    if target.startswith(HOME_PATH) and not target.startswith("//"):
        return target
    return HOME_PATH


@get(LOGIN_PATH, include_in_schema=False, opt={"public": True})
async def login_form(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign-in form for enterprise accounts."""
    return render(request, "enterprise/login.html", next=request.query_params.get("next", ""), error="", login="")


@post(LOGIN_PATH, include_in_schema=False, opt={"public": True}, status_code=200)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the password (equal time, throttled: cloud/auth/login.py), set the session cookie, go on."""
    from cloud.auth.login import LoginFailedError, TooManyAttemptsError, client_address, sign_in  # noqa: PLC0415
    from cloud.auth.web import session_cookie  # noqa: PLC0415

    form = await request.form()
    login_name = str(form.get("login", "")).strip()[:64]
    password = str(form.get("password", ""))[:128]
    target = str(form.get("next", ""))
    settings = request.app.state.settings
    address = client_address(request, settings.auth.trust_forwarded)
    try:
        database: Database = request.app.state.database
        signed = await sign_in(database, settings.auth, login_name, password, address, entry="portal")
    except TooManyAttemptsError as exc:
        page = render(
            request, "enterprise/login.html", status_code=429, next=target, error=exc.detail, login=login_name
        )
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    except LoginFailedError:
        message = "账号或密码错误"
        return render(request, "enterprise/login.html", status_code=401, next=target, error=message, login=login_name)
    if signed.tenant_id is None:
        from cloud.auth import sessions  # noqa: PLC0415

        await sessions.end(request.app.state.database, signed.account.id, signed.session_id, sessions.LOGOUT)
        message = "此入口仅供企业账号使用，监管和平台人员请从工作人员入口登录"
        return render(request, "enterprise/login.html", status_code=401, next=target, error=message, login=login_name)
    # A one-time password (invitation or reset by the administrator) is changed before anything else.
    destination = "/portal/account" if signed.account.must_change_password else _safe_next(target)
    return Redirect(destination, status_code=303, cookies=[session_cookie(settings.auth, signed.token)])


@get("/logout", include_in_schema=False, opt={"public": True})
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """End the session (server-side too) and go back to the sign-in page."""
    from cloud.auth.web import clear_session_cookie, end_cookie_session  # noqa: PLC0415

    await end_cookie_session(request)
    settings = request.app.state.settings
    return Redirect(LOGIN_PATH, status_code=303, cookies=[clear_session_cookie(settings.auth)])


def routes() -> list[Any]:
    """The enterprise pages and their sign-in."""
    return [
        enterprise_home,
        enterprise_home_live,
        enterprise_ledger,
        enterprise_pass,
        correct_pass,
        login_form,
        login,
        logout,
    ]
