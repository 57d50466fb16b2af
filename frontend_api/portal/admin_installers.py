"""安装人员 (issue 19): the platform admin creates installer accounts and grants or withdraws enterprises.

An installer serves several enterprises from one staff account; the enterprise it acts for is picked at
the staff sign-in (:mod:`frontend_api.portal.staff_tenants`). Writes go through
:mod:`cloud.domain.installers` (a grant is written and audited in the granted tenant's scope); a new
account gets a one-time password shown once on the answer page, replaced at the first sign-in.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final
from urllib.parse import urlencode

import structlog
from litestar import Request, Response
from litestar.params import FromPath
from litestar.response import Redirect

from cloud.auth.passwords import hash_password, temporary_password
from cloud.domain import installers
from cloud.lib.problems import ProblemError
from frontend_api.portal.admin import ADMINS, fleet
from frontend_api.portal.toolkit import STALE, Me, csrf_ok, field_errors, page_get, page_post, read_form, render
from tenants.context import Principal
from tenants.onboarding import AccountSpec

__all__ = ["BASE", "routes"]

log = structlog.get_logger(__name__)

BASE: Final = "/admin/installers"
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9_.\-]{2,63}$")
_DONE: Final = {"granted": "已授权该安装人员服务所选企业", "revoked": "已撤销授权，该安装人员的登录已结束"}


async def _page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    which: str = "",
    status_code: int = 200,
    created: dict[str, str] | None = None,
) -> Response[Any]:
    database = request.app.state.database
    tenants, _ = await fleet(database, principal)
    rows = await installers.grants(database, principal)
    done = _DONE.get(request.query_params.get("done", ""), "")
    return render(
        request,
        "admin/installers.html",
        status_code=status_code,
        principal=principal,
        tenant_options={str(t.id): t.name for t in sorted(tenants, key=lambda t: t.name)},
        rows=rows,
        form=form or {},
        errors=errors or {},
        which=which,
        done=done,
        created=created,
    )


@page_get(BASE, roles=ADMINS)
async def installers_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Installer accounts with the enterprises each may serve; forms to create one and to grant an enterprise."""
    return await _page(request, principal)


def _tenant(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


@page_post(f"{BASE}/new", roles=ADMINS)
async def installer_create(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """A new installer account (one-time password shown once), granted the chosen enterprise."""
    form = await read_form(request, "login", "name", "tenant_id")
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, which="new", status_code=403)
    errors: dict[str, str] = {}
    login = form["login"].lower()
    if not _LOGIN.match(login):
        errors["login"] = "登录名为 3–64 位小写字母、数字或 _ . -，以字母或数字开头"
    if not form["name"] or len(form["name"]) > 64:
        errors["name"] = "请填写姓名（最多 64 个字）"
    tenant_id = _tenant(form["tenant_id"])
    if form["tenant_id"] and tenant_id is None:
        errors["tenant_id"] = "请选择企业"
    if errors:
        return await _page(request, principal, form=form, errors=errors, which="new", status_code=422)
    password = temporary_password()
    account = AccountSpec(login, form["name"], hash_password(password), must_change_password=True)
    try:
        await installers.create(request.app.state.database, principal, account, tenant_id)
    except ProblemError as exc:
        return await _page(request, principal, form=form, errors=field_errors(exc), which="new", status_code=exc.status)
    log.info("portal.installer_created", login=login, by=principal.login)
    created = {"login": login, "name": form["name"], "password": password}
    return await _page(request, principal, created=created)


@page_post(f"{BASE}/grant", roles=ADMINS)
async def installer_grant(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Let an existing installer serve one more enterprise."""
    form = await read_form(request, "login", "tenant_id")
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, which="grant", status_code=403)
    tenant_id = _tenant(form["tenant_id"])
    errors = {} if tenant_id is not None else {"tenant_id": "请选择企业"}
    if not form["login"]:
        errors["login"] = "请填写安装人员的登录名"
    if errors or tenant_id is None:
        return await _page(request, principal, form=form, errors=errors, which="grant", status_code=422)
    try:
        await installers.grant(request.app.state.database, principal, form["login"].lower(), tenant_id)
    except ProblemError as exc:
        return await _page(
            request, principal, form=form, errors=field_errors(exc), which="grant", status_code=exc.status
        )
    log.info("portal.installer_granted", login=form["login"], tenant_id=str(tenant_id), by=principal.login)
    return Redirect(f"{BASE}?{urlencode({'done': 'granted'})}", status_code=303)


@page_post(f"{BASE}/{{user_id:uuid}}/tenants/{{tenant_id:uuid}}/revoke", roles=ADMINS)
async def installer_revoke(
    request: Request[Any, Any, Any], principal: Me, user_id: FromPath[uuid.UUID], tenant_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Withdraw one enterprise from an installer (its sessions end)."""
    form = await read_form(request)
    if not csrf_ok(request, form):
        return await _page(request, principal, errors=STALE, status_code=403)
    await installers.revoke(request.app.state.database, principal, user_id, tenant_id)
    log.info("portal.installer_revoked", user_id=str(user_id), tenant_id=str(tenant_id), by=principal.login)
    return Redirect(f"{BASE}?{urlencode({'done': 'revoked'})}", status_code=303)


def routes() -> list[Any]:
    """The installer pages of the platform admin."""
    return [installers_page, installer_create, installer_grant, installer_revoke]
