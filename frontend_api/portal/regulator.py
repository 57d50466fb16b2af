"""Regulator pages (issue 9 / issue 8 §6): region overview, read-only drill-down into a ledger, chain check.

A 生态环境局 account sees the enterprises of its region (province, city or county prefix) and
nothing else: every query runs in the regulator's own session (the regulator database role with
the region-prefix RLS policies of tenants/policies.py), and a drill-down into an enterprise of
another region answers 404 exactly like an unknown one. The pages only read; the JSON API's guard
already refuses every regulator write.

Pages are server-rendered Jinja2 (templates under ``templates/regulator``) built on the portal's
page toolkit (:mod:`frontend_api.portal.toolkit`): each route declares the regulator role, and a
visitor without a session (or with an expired one) is sent to the staff sign-in instead of getting
Problem JSON.
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

from cloud.compliance import chain, emergency
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import regulator as regulator_domain
from cloud.domain.ledger_views import pass_record, sealed_weighing, search_plate, weights
from frontend_api.portal.staff_tenants import TENANTS

# The toolkit's names stay importable from here for modules written before it (issue 19 item 7).
from frontend_api.portal.toolkit import (
    CHINA,
    STAFF_LOGIN,
    Me,
    PageAuthError,
    china_day_start,
    csrf_token,
    decision_labels,
    page_get,
    page_principal,
    render,
)
from tenants.context import Principal, Role

__all__ = ["CHINA", "PageAuthError", "csrf_token", "page_principal", "render", "routes"]

log = structlog.get_logger(__name__)

REGULATORS: Final = frozenset({Role.REGULATOR})
_DECISIONS: Final = decision_labels()


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


@page_get("/regulator", roles=REGULATORS)
async def regulator_home(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Region overview: the enterprises of the regulator's region with KPIs and the alert in force."""
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
_COUNT_CAP: Final = 10_000


@page_get("/regulator/enterprises/{tenant_id:uuid}", roles=REGULATORS)
async def regulator_enterprise(
    request: Request[Any, Any, Any],
    principal: Me,
    tenant_id: FromPath[uuid.UUID],
    plate: FromQuery[str] = "",
    decision: FromQuery[str] = "",
    day: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response[Any]:
    """One enterprise's ledger, read-only: passes with filters, decision and reasons, photos present."""
    errors: dict[str, str] = {}
    query = select(m.PassEvent, m.Lane.name.label("lane_name")).outerjoin(
        m.Lane, (m.Lane.id == m.PassEvent.lane_id) & (m.Lane.tenant_id == m.PassEvent.tenant_id)
    )
    query = query.where(m.PassEvent.tenant_id == tenant_id)
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
        query, plate_note = await search_plate(session, tenant_id, query, plate, day_given=bool(day.strip()))
        # Counted up to a cap: a large plant's year is a million passes (bench/portal_render.py).
        total = int(await session.scalar(select(func.count()).select_from(query.limit(_COUNT_CAP + 1).subquery())) or 0)
        rows = (
            await session.execute(
                query.order_by(m.PassEvent.occurred_at.desc()).limit(_PAGE_SIZE).offset((page - 1) * _PAGE_SIZE)
            )
        ).all()
        alerts = await emergency.alerts_for(session, tenant.region_code)
        missed = await should_have_been_refused(session, tenant, china_day_start() - dt.timedelta(days=29))
        weighed = await weights(session, tenant_id, [row.PassEvent.id for row in rows])
    passes = [
        {
            "event": row.PassEvent,
            "lane": row.lane_name or "—",
            "weighing": weighed.get(row.PassEvent.id) or sealed_weighing(row.PassEvent),
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
        plate_note=plate_note,
        capped=total > _COUNT_CAP,
        errors=errors,
        alerts=alerts,
        missed=missed,
        decisions=_DECISIONS,
    )


@page_get("/regulator/enterprises/{tenant_id:uuid}/verify", roles=REGULATORS)
async def regulator_verify(
    request: Request[Any, Any, Any], principal: Me, tenant_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Verify the enterprise's hash chains (every agent chain, the cloud chain, the anchors)."""
    async with await _session(request, principal) as session, session.begin():
        tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
        if tenant is None:
            return render(request, "regulator/not_found.html", status_code=404, principal=principal)
        report = await session.run_sync(lambda s: chain.verify(s, tenant_id))
    result = chain.report_json(report)
    log.info("portal.regulator_verify", tenant_id=str(tenant_id), ok=result.get("ok"), by=principal.login)
    return render(request, "regulator/verify.html", principal=principal, tenant=tenant, report=result)


@page_get("/regulator/enterprises/{tenant_id:uuid}/passes/{pass_id:uuid}", roles=REGULATORS)
async def regulator_pass(
    request: Request[Any, Any, Any],
    principal: Me,
    tenant_id: FromPath[uuid.UUID],
    pass_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """One pass record, read-only: the enterprise page (photos, clip, reasons, weighing, corrections), no forms."""
    async with await _session(request, principal) as session, session.begin():
        record = await pass_record(session, tenant_id, pass_id)
    if record is None:
        return render(request, "regulator/not_found.html", status_code=404, principal=principal)
    return render(request, "pass.html", principal=principal, regulator=True, **record)


_HOME: Final = {Role.REGULATOR: "/regulator", Role.PLATFORM_ADMIN: "/admin"}


def _safe_next(target: str, role: Role) -> str:
    home = _HOME.get(role, "/")
    if target.startswith(home) and not target.startswith("//"):
        return target
    return home


@get(STAFF_LOGIN, include_in_schema=False, opt={"public": True})
async def staff_login_form(request: Request[Any, Any, Any], denied: FromQuery[str] = "") -> Response[Any]:
    """Sign-in form for regulator, platform-admin and installer accounts."""
    target = request.query_params.get("next", "")
    message = "当前账号无权访问该页面，请使用监管或平台管理员账号登录" if denied else ""
    return render(request, "regulator/login.html", next=target, error=message, login="")


@post(STAFF_LOGIN, include_in_schema=False, opt={"public": True}, status_code=200)
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
    kind = signed.account.kind
    if kind not in {"regulator", "platform_admin", "installer"} or (kind == "installer" and signed.tenant_id is None):
        from cloud.auth import sessions  # noqa: PLC0415

        await sessions.end(request.app.state.database, signed.account.id, signed.session_id, sessions.LOGOUT)
        message = (
            "此安装人员账号尚未获准服务任何企业，请联系平台管理员授权"
            if kind == "installer"
            else "此入口仅供监管、平台管理和安装人员账号使用，企业用户请从企业入口登录"
        )
        return render(request, "regulator/login.html", status_code=401, next=target, error=message, login=login)
    if kind == "installer":
        # An installer acts for one enterprise at a time: several granted → it picks one first.
        many = len(signed.memberships) > 1
        destination = "/portal/account" if signed.account.must_change_password else TENANTS if many else "/portal"
        return Redirect(destination, status_code=303, cookies=[session_cookie(settings.auth, signed.token)])
    role = Role.REGULATOR if signed.account.kind == "regulator" else Role.PLATFORM_ADMIN
    return Redirect(_safe_next(target, role), status_code=303, cookies=[session_cookie(settings.auth, signed.token)])


@get("/staff/logout", include_in_schema=False, opt={"public": True})
async def staff_logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """End the session (server-side too) and go back to the sign-in page."""
    from cloud.auth.web import clear_session_cookie, end_cookie_session  # noqa: PLC0415

    await end_cookie_session(request)
    return Redirect(STAFF_LOGIN, status_code=303, cookies=[clear_session_cookie(request.app.state.settings.auth)])


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
