"""Regulator pages (issue 9 / issue 8 §6): region overview, read-only drill-down into a ledger, chain check.

A 生态环境局 account sees the enterprises of its region (province, city or county prefix) and
nothing else: every query runs in the regulator's own session (the regulator database role with
the region-prefix RLS policies of tenants/policies.py), and a drill-down into an enterprise of
another region answers 404 exactly like an unknown one. The pages only read; the JSON API's guard
already refuses every regulator write.

Pages are server-rendered Jinja2 (templates under ``templates/regulator``) and share a small page
toolkit (:func:`page_principal`, :func:`render`) with the platform-admin pages. They authenticate
with the portal's session cookie; without one (or with an expired one) they redirect to the login
page instead of answering Problem JSON.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import web
from cloud.auth.guards import SESSION_COOKIE, load_session
from cloud.auth.web import csp_nonce
from cloud.compliance import chain, emergency
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import regulator as regulator_domain
from cloud.lib.problems import ProblemError
from frontend_api.portal import navigation, vocabulary
from tenants.context import Principal, Role

__all__ = ["CHINA", "PageAuthError", "csrf_token", "page_principal", "render", "routes", "to_login"]

log = structlog.get_logger(__name__)

CHINA: Final = dt.timezone(dt.timedelta(hours=8), "CST")
#: Sign-in page of the staff pages (regulators, platform admins) until the portal's own login page serves them.
LOGIN_PATH: Final = "/staff/login"
#: The pages an account holding a one-time password may open (the first is where the others send it).
PASSWORD_PAGES: Final = ("/portal/account",)
_TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(str(_TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_DECISIONS: Final = {"allow": "放行", "refuse": "拦截", "manual": "人工放行"}
_LEVELS: Final = {"none": "无预警", "yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
_INDUSTRIES: Final[dict[str, str]] = {}


def _industry_label(code: str) -> str:
    if not _INDUSTRIES:
        from hj1321.industries import Industry  # noqa: PLC0415

        _INDUSTRIES.update({"steel": "钢铁"})  # early tenants carry the generic slug
        _INDUSTRIES.update({i.value: i.label for i in Industry})
    return _INDUSTRIES.get(code, code)


def _reasons(codes: list[str] | None) -> str:
    from cloud.reports.stats import REASON_LABELS  # noqa: PLC0415

    labels = {**REASON_LABELS, "unknown_vehicle": "未登记车辆"}
    return "、".join(labels.get(c, c) for c in codes or () if c != "allowed") or "—"


_ENV.filters["reasons"] = _reasons
_ENV.filters["decision"] = lambda code: _DECISIONS.get(str(code), str(code))
_ENV.filters["level"] = lambda code: _LEVELS.get(str(code), str(code))
_ENV.filters["industry"] = _industry_label
_ENV.filters["cst"] = lambda moment: moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"
vocabulary.install(_ENV)  # hj1321's Chinese names for every code (issue 19)
_ENV.globals["nav_menu"] = navigation.menu  # the menu by role, from the routes' own role sets
_ENV.globals["nav_logout"] = navigation.logout_of


class PageAuthError(Exception):
    """The page needs a signed-in user of another kind (or any signed-in user)."""

    def __init__(self, redirect_to: str) -> None:
        """Remember where the person should go."""
        super().__init__(redirect_to)
        self.redirect_to = redirect_to


def render(request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any) -> Response[str]:
    """Render a page (HTML, Chinese) with the signed-in person in the layout."""
    principal: Principal | None = context.pop("principal", None)
    # Every page gets its form token and its CSP nonce (cloud/auth/web.py), so the layout's forms and
    # inline scripts work under the CSRF check and the Content-Security-Policy.
    csrf = context.pop("csrf", "") or (csrf_token(request) if request.cookies.get(SESSION_COOKIE) else "")
    html = _ENV.get_template(template).render(
        request_path=request.url.path, me=principal, csrf=csrf, csp_nonce=csp_nonce(request), **context
    )
    return Response(html, media_type="text/html; charset=utf-8", status_code=status_code)


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The form token of this session (cloud/auth/web.py; HMAC of the session cookie)."""
    return web.csrf_token(request)


async def page_principal(request: Request[Any, Any, Any], roles: frozenset[Role]) -> Principal:
    """The signed-in person of a page, who must hold one of ``roles``.

    Raises:
        PageAuthError: not signed in, expired, or the wrong kind of account (→ login page).
    """
    token = request.cookies.get(SESSION_COOKIE)
    target = f"{LOGIN_PATH}?next={quote(request.url.path)}"
    if not token:
        raise PageAuthError(target)
    state = request.app.state
    try:
        found = await load_session(state.database, state.settings.auth.session_secret, token)
    except ProblemError as exc:
        raise PageAuthError(target) from exc
    # A one-time password is replaced before anything else (issue 17): every other page sends there.
    if found.must_change_password and request.url.path not in PASSWORD_PAGES:
        raise PageAuthError(PASSWORD_PAGES[0])
    principal = found.principal
    if principal.role not in roles:
        raise PageAuthError(f"{LOGIN_PATH}?next={quote(request.url.path)}&denied=1")
    request.state.session_id = found.session_id
    return principal


def to_login(exc: PageAuthError) -> Response[Any]:
    """Send the person to the login page (303 See Other)."""
    return Redirect(exc.redirect_to, status_code=303)


def china_day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight (China time) of today, as an aware UTC moment."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


async def region_overview(session: AsyncSession) -> list[dict[str, Any]]:
    """Every enterprise the session may see, with today's and the week's figures (one query each)."""
    today = china_day_start()
    week = today - dt.timedelta(days=6)
    tenants = (await session.execute(select(m.Tenant).order_by(m.Tenant.region_code, m.Tenant.name))).scalars().all()
    rows = await session.execute(
        select(
            m.PassEvent.tenant_id,
            func.count().filter(m.PassEvent.occurred_at >= today).label("today"),
            func.count().filter(m.PassEvent.occurred_at >= today, m.PassEvent.decision == "refuse").label("refused"),
            func.count().label("week"),
            func.count().filter(m.PassEvent.decision == "refuse").label("week_refused"),
            func.max(m.PassEvent.received_at).label("last_received"),
        )
        .where(m.PassEvent.occurred_at >= week)
        .group_by(m.PassEvent.tenant_id)
    )
    figures = {r.tenant_id: r for r in rows}
    overview = []
    for tenant in tenants:
        fig = figures.get(tenant.id)
        overview.append(
            {
                "tenant": tenant,
                "today": fig.today if fig else 0,
                "refused": fig.refused if fig else 0,
                "week": fig.week if fig else 0,
                "week_refused": fig.week_refused if fig else 0,
                "refuse_rate": (fig.week_refused / fig.week * 100.0) if fig and fig.week else None,
                "last_received": fig.last_received if fig else None,
            }
        )
    return overview


async def should_have_been_refused(
    session: AsyncSession, tenant: m.Tenant, since: dt.datetime, limit: int = 50
) -> list[m.PassEvent]:
    """Allowed entries of 国四-or-below heavy diesel trucks during an orange/red alert of the region, newest first.

    The rule and its query live in :func:`cloud.domain.regulator.should_have_been_refused` (shared with the API).
    """
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    rows, _ = await regulator_domain.should_have_been_refused(session, tenant, since, until, limit, 0)
    return rows


async def _session(request: Request[Any, Any, Any], principal: Principal) -> Any:
    database: Database = request.app.state.database
    return database.session(principal)


@get("/regulator", include_in_schema=False, opt={"public": True})
async def regulator_home(request: Request[Any, Any, Any]) -> Response[Any]:
    """Region overview: the enterprises of the regulator's region with KPIs and the alert in force."""
    try:
        principal = await page_principal(request, frozenset({Role.REGULATOR}))
    except PageAuthError as exc:
        return to_login(exc)
    async with await _session(request, principal) as session, session.begin():
        overview = await region_overview(session)
        alerts = await emergency.alerts_for(session, principal.region_code or "")
    totals = {
        "enterprises": len(overview),
        "today": sum(o["today"] for o in overview),
        "refused": sum(o["refused"] for o in overview),
        "week": sum(o["week"] for o in overview),
    }
    return render(
        request,
        "regulator/overview.html",
        principal=principal,
        overview=overview,
        totals=totals,
        alerts=alerts,
        region=principal.region_code,
    )


_PAGE_SIZE: Final = 50


@get("/regulator/enterprises/{tenant_id:uuid}", include_in_schema=False, opt={"public": True})
async def regulator_enterprise(
    request: Request[Any, Any, Any],
    tenant_id: FromPath[uuid.UUID],
    plate: FromQuery[str] = "",
    decision: FromQuery[str] = "",
    day: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response[Any]:
    """One enterprise's ledger, read-only: passes with filters, decision and reasons, photos present."""
    try:
        principal = await page_principal(request, frozenset({Role.REGULATOR}))
    except PageAuthError as exc:
        return to_login(exc)
    errors: dict[str, str] = {}
    query = select(m.PassEvent, m.Lane.name.label("lane_name")).outerjoin(
        m.Lane, (m.Lane.id == m.PassEvent.lane_id) & (m.Lane.tenant_id == m.PassEvent.tenant_id)
    )
    query = query.where(m.PassEvent.tenant_id == tenant_id)
    if plate.strip():
        query = query.where(m.PassEvent.plate.contains(plate.strip().upper()))
    if decision in _DECISIONS:
        query = query.where(m.PassEvent.decision == decision)
    if day.strip():
        try:
            local = dt.datetime.combine(dt.date.fromisoformat(day.strip()), dt.time(), CHINA)
            query = query.where(
                m.PassEvent.occurred_at >= local.astimezone(dt.UTC),
                m.PassEvent.occurred_at < (local + dt.timedelta(days=1)).astimezone(dt.UTC),
            )
        except ValueError:
            errors["day"] = "日期格式应为 年-月-日，例如 2026-11-28"
    page = max(1, min(page, 10_000))
    async with await _session(request, principal) as session, session.begin():
        tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
        if tenant is None:
            return render(request, "regulator/not_found.html", status_code=404, principal=principal)
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await session.execute(
                query.order_by(m.PassEvent.occurred_at.desc()).limit(_PAGE_SIZE).offset((page - 1) * _PAGE_SIZE)
            )
        ).all()
        alerts = await emergency.alerts_for(session, tenant.region_code)
        missed = await should_have_been_refused(session, tenant, china_day_start() - dt.timedelta(days=29))
        weights = await _weights(session, tenant_id, [row.PassEvent.id for row in rows])
    passes = [
        {
            "event": row.PassEvent,
            "lane": row.lane_name or "—",
            "weighing": weights.get(row.PassEvent.id) or _sealed_weighing(row.PassEvent),
        }
        for row in rows
    ]
    return render(
        request,
        "regulator/enterprise.html",
        principal=principal,
        tenant=tenant,
        passes=passes,
        total=total,
        page=page,
        pages=max(1, (total + _PAGE_SIZE - 1) // _PAGE_SIZE),
        filters={"plate": plate, "decision": decision, "day": day},
        errors=errors,
        alerts=alerts,
        missed=missed,
        decisions=_DECISIONS,
    )


@get("/regulator/enterprises/{tenant_id:uuid}/verify", include_in_schema=False, opt={"public": True})
async def regulator_verify(request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Verify the enterprise's hash chains (every agent chain, the cloud chain, the anchors)."""
    try:
        principal = await page_principal(request, frozenset({Role.REGULATOR}))
    except PageAuthError as exc:
        return to_login(exc)
    async with await _session(request, principal) as session, session.begin():
        tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
        if tenant is None:
            return render(request, "regulator/not_found.html", status_code=404, principal=principal)
        report = await session.run_sync(lambda s: chain.verify(s, tenant_id))
    result = chain.report_json(report)
    log.info("portal.regulator_verify", tenant_id=str(tenant_id), ok=result.get("ok"), by=principal.login)
    return render(request, "regulator/verify.html", principal=principal, tenant=tenant, report=result)


def _number(value: Decimal | None) -> int | float | None:
    return None if value is None else (int(value) if value == value.to_integral_value() else float(value))


async def _weights(session: AsyncSession, tenant_id: uuid.UUID, pass_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The weight of each pass as stored since issue 15 (late ``weighing`` rows, not the sealed event).

    The rule of the reports (cloud/reports/facts.py): the newest row carrying a trip's net, else the newest
    row (an entry weighing is the gross weight).
    """
    if not pass_ids:
        return {}
    rows = await session.scalars(
        select(m.Weighing)
        .where(m.Weighing.tenant_id == tenant_id, m.Weighing.pass_event_id.in_(pass_ids))
        .order_by(m.Weighing.received_at, m.Weighing.id)
    )
    out: dict[uuid.UUID, Any] = {}
    for w in rows:
        assert w.pass_event_id is not None
        held = out.get(w.pass_event_id)
        if held is None or w.net_kg is not None or held["net_kg"] is None:
            out[w.pass_event_id] = {
                "gross_kg": _number(w.gross_kg if w.gross_kg is not None else w.weight_kg),
                "tare_kg": _number(w.tare_kg),
                "net_kg": _number(w.net_kg),
            }
    return out


def _sealed_weighing(event: m.PassEvent) -> Any:
    """The weight an agent before issue 15 sealed into the event itself."""
    return (event.payload.get("weighing") if isinstance(event.payload, dict) else None) or {}


@get("/regulator/enterprises/{tenant_id:uuid}/passes/{pass_id:uuid}", include_in_schema=False, opt={"public": True})
async def regulator_pass(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], pass_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """One pass record, read-only: photos (zoom), decision and reasons, vehicle snapshot, weighing, corrections."""
    from cloud.ledger.corrections import list_corrections  # noqa: PLC0415

    try:
        principal = await page_principal(request, frozenset({Role.REGULATOR}))
    except PageAuthError as exc:
        return to_login(exc)
    async with await _session(request, principal) as session, session.begin():
        tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
        event = await session.scalar(
            select(m.PassEvent).where(m.PassEvent.tenant_id == tenant_id, m.PassEvent.id == pass_id)
        )
        if tenant is None or event is None:
            return render(request, "regulator/not_found.html", status_code=404, principal=principal)
        lane = await session.scalar(
            select(m.Lane.name).where(m.Lane.tenant_id == tenant_id, m.Lane.id == event.lane_id)
        )
        corrections = await list_corrections(session, event.id)
        weighing = (await _weights(session, tenant_id, [event.id])).get(event.id) or _sealed_weighing(event)
    payload = event.payload if isinstance(event.payload, dict) else {}
    return render(
        request,
        "regulator/pass.html",
        principal=principal,
        tenant=tenant,
        event=event,
        lane=lane or "—",
        vehicle=payload.get("vehicle") or {},
        weighing=weighing,
        corrections=corrections,
    )


_HOME: Final = {Role.REGULATOR: "/regulator", Role.PLATFORM_ADMIN: "/admin"}


def _safe_next(target: str, role: Role) -> str:
    home = _HOME.get(role, "/")
    if target.startswith(home) and not target.startswith("//"):
        return target
    return home


@get(LOGIN_PATH, include_in_schema=False, opt={"public": True})
async def staff_login_form(request: Request[Any, Any, Any], denied: FromQuery[str] = "") -> Response[Any]:
    """Sign-in form for regulator and platform-admin accounts."""
    target = request.query_params.get("next", "")
    message = "当前账号无权访问该页面，请使用监管或平台管理员账号登录" if denied else ""
    return render(request, "regulator/login.html", next=target, error=message, login="")


@post(LOGIN_PATH, include_in_schema=False, opt={"public": True}, status_code=200)
async def staff_login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the password (equal time, throttled: cloud/auth/login.py), set the session cookie, go on."""
    from cloud.auth.login import LoginFailedError, TooManyAttemptsError, client_address, sign_in  # noqa: PLC0415
    from cloud.auth.web import session_cookie  # noqa: PLC0415

    form = await request.form()
    login = str(form.get("login", "")).strip()[:64]
    password = str(form.get("password", ""))[:128]
    target = str(form.get("next", ""))
    settings = request.app.state.settings
    address = client_address(request, settings.auth.trust_forwarded)
    try:
        signed = await sign_in(request.app.state.database, settings.auth, login, password, address, entry="staff")
    except TooManyAttemptsError as exc:
        page = render(request, "regulator/login.html", status_code=429, next=target, error=exc.detail, login=login)
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    except LoginFailedError:
        message = "账号或密码错误"
        return render(request, "regulator/login.html", status_code=401, next=target, error=message, login=login)
    if signed.account.kind not in {"regulator", "platform_admin"}:
        from cloud.auth import sessions  # noqa: PLC0415

        await sessions.end(request.app.state.database, signed.account.id, signed.session_id, sessions.LOGOUT)
        message = "此入口仅供监管和平台管理员账号使用"
        return render(request, "regulator/login.html", status_code=401, next=target, error=message, login=login)
    role = Role.REGULATOR if signed.account.kind == "regulator" else Role.PLATFORM_ADMIN
    return Redirect(_safe_next(target, role), status_code=303, cookies=[session_cookie(settings.auth, signed.token)])


@get("/staff/logout", include_in_schema=False, opt={"public": True})
async def staff_logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """End the session (server-side too) and go back to the sign-in page."""
    from cloud.auth.web import clear_session_cookie, end_cookie_session  # noqa: PLC0415

    await end_cookie_session(request)
    return Redirect(LOGIN_PATH, status_code=303, cookies=[clear_session_cookie(request.app.state.settings.auth)])


def routes() -> list[Any]:
    """The regulator pages and the staff sign-in."""
    return [
        regulator_home,
        regulator_enterprise,
        regulator_pass,
        regulator_verify,
        staff_login_form,
        staff_login,
        staff_logout,
    ]
