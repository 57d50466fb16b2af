"""Platform-admin pages (issue 9): onboard a tenant, fleet health across tenants, declare a regional alert.

Our own operators work here. Tenant rows stay under RLS for them too: a platform admin's app-role
session without a tenant sees no tenant rows, so the cross-tenant views read through the
regulator role one province at a time (the same region-prefix policies a 生态环境局 uses, the
pattern of ``cloud.compliance.emergency.tenants_in_region``) — read-only by construction. Writes
go through the domain services: :func:`tenants.onboarding.onboard_tenant` (one transaction: the
tenant, its first administrator, the membership) and :func:`cloud.compliance.emergency.declare`
(the alert, its push to every agent of the region, the emergency-response records).

Bad input is answered on the form itself: a Chinese message next to each offending field, and
nothing saved. Forms carry a per-session token (:func:`frontend_api.portal.toolkit.csrf_token`); the routes declare the
platform-admin role (:func:`frontend_api.portal.toolkit.page_get`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import structlog
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloud.auth.passwords import hash_password, temporary_password
from cloud.compliance import emergency
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import CHINA, Me, csrf_ok, csrf_token, page_get, page_post, render
from hj1321.errors import InvalidValueError
from tenants.context import Principal, Role
from tenants.models import Region
from tenants.onboarding import GRADES, AccountSpec, TenantSpec, onboard_tenant

__all__ = ["routes"]

log = structlog.get_logger(__name__)

ADMINS: Final = frozenset({Role.PLATFORM_ADMIN})
PLANS: Final = {"standard": "标准版", "professional": "专业版", "enterprise": "旗舰版"}
LEVELS: Final = {"yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9_.\-]{2,63}$")
#: An agent not heard from for this long is shown as offline.
OFFLINE_AFTER: Final = dt.timedelta(minutes=2)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _industries() -> dict[str, str]:
    from hj1321.industries import Industry  # noqa: PLC0415

    return {i.value: i.label for i in Industry}


async def _provinces(database: Database, actor: Principal) -> list[str]:
    async with database.session(actor) as session, session.begin():
        return list((await session.scalars(select(Region.code).where(Region.level == "province"))).all())


async def fleet(database: Database, actor: Principal) -> tuple[list[m.Tenant], list[dict[str, Any]]]:
    """Every tenant and every agent, read province by province through the regulator role (read-only)."""
    tenants: list[m.Tenant] = []
    agents: list[dict[str, Any]] = []
    now = dt.datetime.now(dt.UTC)
    for province in await _provinces(database, actor):
        scope = Principal(user_id=actor.user_id, role=Role.REGULATOR, region_code=province, login=actor.login)
        async with database.session(scope) as session, session.begin():
            found = list((await session.scalars(select(m.Tenant).order_by(m.Tenant.name))).all())
            if not found:
                continue
            tenants.extend(found)
            names = {t.id: t.name for t in found}
            rows = await session.execute(
                select(
                    m.Agent.id, m.Agent.tenant_id, m.Agent.name, m.Agent.status, m.Agent.last_seen_at, m.Agent.health
                )
            )
            for row in rows:
                seen = row.last_seen_at
                online = seen is not None and now - seen <= OFFLINE_AFTER and row.status == "active"
                health = row.health if isinstance(row.health, dict) else {}
                alarms = health.get("alarms") or []
                agents.append(
                    {
                        "tenant": names.get(row.tenant_id, str(row.tenant_id)),
                        "name": row.name,
                        "status": row.status,
                        "online": online,
                        "last_seen": seen,
                        "alarms": alarms if isinstance(alarms, list) else [],
                    }
                )
    agents.sort(key=lambda a: (a["online"], a["tenant"], a["name"]))
    return tenants, agents


@page_get("/admin", roles=ADMINS)
async def admin_home(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Fleet health across tenants, the tenants, the alerts in force."""
    database: Database = request.app.state.database
    tenants, agents = await fleet(database, principal)
    async with database.session(principal) as session, session.begin():
        now = dt.datetime.now(dt.UTC)
        alerts = list(
            (
                await session.scalars(
                    select(m.RegionAlert)
                    .where(m.RegionAlert.ends_at > now, m.RegionAlert.cancelled_at.is_(None))
                    .order_by(m.RegionAlert.starts_at.desc())
                )
            ).all()
        )
    summary = {
        "tenants": len(tenants),
        "agents": len(agents),
        "online": sum(1 for a in agents if a["online"]),
        "offline": sum(1 for a in agents if not a["online"]),
    }
    return render(
        request,
        "admin/home.html",
        principal=principal,
        tenants=tenants,
        agents=agents,
        alerts=alerts,
        summary=summary,
        plans=PLANS,
        notice=request.query_params.get("notice", ""),
    )


def _tenant_form(request: Request[Any, Any, Any], principal: Principal, **context: Any) -> Response[Any]:
    return render(
        request,
        "admin/tenant_new.html",
        status_code=context.pop("status_code", 200),
        principal=principal,
        csrf=csrf_token(request),
        industries=_industries(),
        grades={g: g for g in GRADES},
        plans=PLANS,
        form=context.pop("form", {}),
        errors=context.pop("errors", {}),
        **context,
    )


@page_get("/admin/tenants/new", roles=ADMINS)
async def tenant_new(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The onboarding form."""
    return _tenant_form(request, principal, form={"grade": "B", "plan": "standard", "key_vehicle_unit": "on"})


def _validate_tenant(form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    from hj1321.identifiers import parse_uscc  # noqa: PLC0415
    from hj1321.industries import parse_industry  # noqa: PLC0415
    from hj1321.regions import parse_region  # noqa: PLC0415

    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = "请填写企业名称"
    elif len(name) > 100:
        errors["name"] = "企业名称最多 100 个字"
    clean["name"] = name
    parsers: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("uscc", parse_uscc),
        ("region_code", lambda v: parse_region(v).code),
        ("industry", lambda v: parse_industry(v).value),
    )
    for field, parse in parsers:
        raw = form.get(field, "").strip()
        try:
            clean[field] = str(parse(raw))
        except InvalidValueError as exc:
            errors[field] = exc.message
    grade = form.get("grade", "")
    if grade not in GRADES:
        errors["grade"] = f"请选择绩效分级（{'/'.join(GRADES)}）"
    clean["grade"] = grade
    plan = form.get("plan", "")
    if plan not in PLANS:
        errors["plan"] = "请选择套餐"
    clean["plan"] = plan
    login = form.get("admin_login", "").strip().lower()
    if not _LOGIN.match(login):
        errors["admin_login"] = "登录名为 3–64 位小写字母、数字或 _ . -，以字母或数字开头"
    clean["admin_login"] = login
    admin_name = form.get("admin_name", "").strip()
    if not admin_name or len(admin_name) > 64:
        errors["admin_name"] = "请填写管理员姓名（最多 64 个字）"
    clean["admin_name"] = admin_name
    return clean, errors


@page_post("/admin/tenants/new", roles=ADMINS)
async def tenant_create(request: Request[Any, Any, Any], principal: Me, data: Form) -> Response[Any]:
    """Onboard the tenant and its first administrator (one transaction), or show the form's errors."""
    if not csrf_ok(request, data):
        return _tenant_form(
            request, principal, form=data, errors={"form": "页面已过期，请刷新后重新提交"}, status_code=403
        )
    clean, errors = _validate_tenant(data)
    if errors:
        return _tenant_form(request, principal, form=data, errors=errors, status_code=422)
    database: Database = request.app.state.database
    password = temporary_password()
    spec = TenantSpec(
        name=clean["name"],
        uscc=clean["uscc"],
        industry=clean["industry"],
        region_code=clean["region_code"],
        grade=clean["grade"],
        key_vehicle_unit=data.get("key_vehicle_unit") == "on",
        plan=clean["plan"],
    )
    admin = AccountSpec(clean["admin_login"], clean["admin_name"], hash_password(password), must_change_password=True)
    try:
        tenant_id = await onboard_tenant(database.session, spec, admin, principal)
    except IntegrityError as exc:
        text = str(exc.orig)
        field = "uscc" if "uscc" in text else "admin_login" if "login" in text else "form"
        message = {
            "uscc": "该统一社会信用代码已开户",
            "admin_login": "该登录名已被占用",
            "form": "保存失败：数据与已有记录冲突",
        }[field]
        return _tenant_form(request, principal, form=data, errors={field: message}, status_code=409)
    except (InvalidValueError, ProblemError) as exc:
        return _tenant_form(request, principal, form=data, errors={"form": str(exc)}, status_code=422)
    log.info("portal.tenant_onboarded", tenant_id=str(tenant_id), by=principal.login)
    return render(
        request,
        "admin/tenant_done.html",
        principal=principal,
        tenant_id=tenant_id,
        spec=spec,
        admin_login=admin.login,
        password=password,
    )


def _alert_form(request: Request[Any, Any, Any], principal: Principal, **context: Any) -> Response[Any]:
    return render(
        request,
        "admin/alert_new.html",
        status_code=context.pop("status_code", 200),
        principal=principal,
        csrf=csrf_token(request),
        levels=LEVELS,
        form=context.pop("form", {}),
        errors=context.pop("errors", {}),
    )


@page_get("/admin/alerts/new", roles=ADMINS)
async def alert_new(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The form to declare a regional heavy-pollution alert."""
    now = dt.datetime.now(CHINA).replace(second=0, microsecond=0)
    form = {
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "level": "orange",
    }
    return _alert_form(request, principal, form=form)


def _local(raw: str) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.strip()).replace(tzinfo=CHINA)


@page_post("/admin/alerts/new", roles=ADMINS)
async def alert_declare(request: Request[Any, Any, Any], principal: Me, data: Form) -> Response[Any]:
    """Declare the alert (pushed to every agent of the region) or show the form's errors."""
    if not csrf_ok(request, data):
        return _alert_form(
            request, principal, form=data, errors={"form": "页面已过期，请刷新后重新提交"}, status_code=403
        )
    errors: dict[str, str] = {}
    times: dict[str, dt.datetime] = {}
    for field, label in (("starts_at", "开始时间"), ("ends_at", "结束时间")):
        try:
            times[field] = _local(data.get(field, ""))
        except ValueError:
            errors[field] = f"请填写{label}，格式如 2026-11-28T08:00"
    if data.get("level") not in LEVELS:
        errors["level"] = "请选择预警级别（黄色、橙色或红色）"
    if errors:
        return _alert_form(request, principal, form=data, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        outcome = await emergency.declare(
            database,
            principal,
            data.get("region_code", "").strip(),
            data.get("level", ""),
            times["starts_at"],
            times["ends_at"],
            data.get("reason", ""),
        )
    except ProblemError as exc:
        fields = {e.field: e.message for e in (exc.errors or [])} or {"form": exc.detail or exc.title}
        return _alert_form(request, principal, form=data, errors=fields, status_code=422)
    log.info("portal.alert_declared", alert_id=str(outcome.alert.id), by=principal.login)
    notice = (
        f"已发布预警：{outcome.alert.region_code} {LEVELS[outcome.alert.level]}，涉及企业 {len(outcome.tenants)} 家"
    )
    return Redirect(f"/admin?{urlencode({'notice': notice})}", status_code=303)


async def _alerts_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    now = dt.datetime.now(dt.UTC)
    async with database.session(principal) as session, session.begin():
        alerts, total = await emergency.list_alerts(session, None, 100, 0)
        codes = {a.region_code for a in alerts}
        names = {
            r.code: r.full_name
            for r in await session.execute(select(Region.code, Region.full_name).where(Region.code.in_(codes)))
        }
    rows = []
    for a in alerts:
        ahead = "未开始" if now < a.starts_at else "已结束"
        state = "已解除" if a.cancelled_at else ("生效中" if a.starts_at <= now < a.ends_at else ahead)
        rows.append({"alert": a, "area": names.get(a.region_code, "—"), "state": state})
    return render(
        request,
        "admin/alerts.html",
        status_code=status_code,
        principal=principal,
        rows=rows,
        total=total,
        notice=notice,
        form=form or {},
        errors=errors or {},
    )


@page_get("/admin/alerts", roles=ADMINS)
async def alerts_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Every region alert (newest first) with its state; those in force or ahead can be lifted with a reason."""
    return await _alerts_page(request, principal, notice=request.query_params.get("notice", "")[:200])


@page_post("/admin/alerts/{alert_id:uuid}/cancel", roles=ADMINS)
async def alert_cancel(request: Request[Any, Any, Any], principal: Me, alert_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Lift an alert early: agents fall back to the level still in force; each enterprise's response record
    notes the end (:func:`cloud.compliance.emergency.cancel`)."""
    raw = await request.form()
    form = {"reason": str(raw.get("reason") or "").strip(), "csrf": str(raw.get("csrf") or ""), "alert": str(alert_id)}
    if not csrf_ok(request, form):
        return await _alerts_page(
            request, principal, form=form, errors={"_": "页面已过期，请刷新后重新提交"}, status_code=403
        )
    database: Database = request.app.state.database
    try:
        outcome = await emergency.cancel(database, principal, alert_id, form["reason"])
    except ProblemError as exc:
        message = "；".join(e.message for e in exc.errors) or exc.detail
        return await _alerts_page(request, principal, form=form, errors={"reason": message}, status_code=exc.status)
    log.info("portal.alert_cancelled", alert_id=str(alert_id), by=principal.login)
    notice = (
        f"已解除预警，涉及企业 {len(outcome.tenants)} 家，已通知门禁终端 {outcome.agents_notified} 台，"
        "各企业的应急响应记录已登记解除"
    )
    return Redirect(f"/admin/alerts?{urlencode({'notice': notice})}", status_code=303)


def routes() -> list[Any]:
    """The platform-admin pages."""
    return [admin_home, tenant_new, tenant_create, alert_new, alert_declare, alerts_page, alert_cancel]
