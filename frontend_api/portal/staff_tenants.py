"""选择服务企业: an installer signed in at the staff entry picks the enterprise it acts for (issue 19).

An installer serves the enterprises the platform admin granted it (:mod:`cloud.domain.installers`). Its
session acts for one of them at a time; choosing another here opens a session for that tenant and ends
the current one (:func:`cloud.domain.installers.act_for`), so every page after it runs under that
tenant's row-level security, as the JSON API's ``tenant_id`` at sign-in does.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.response import Redirect

from cloud.auth.login import client_address
from cloud.auth.web import session_cookie
from cloud.domain import installers
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import STALE, Me, csrf_ok, page_get, page_post, read_form, render
from tenants.context import Principal, Role

__all__ = ["INSTALLERS", "TENANTS", "routes"]

log = structlog.get_logger(__name__)

TENANTS: Final = "/staff/tenants"
INSTALLERS: Final = frozenset({Role.INSTALLER})


async def _page(
    request: Request[Any, Any, Any], principal: Principal, errors: dict[str, str] | None = None, status_code: int = 200
) -> Response[Any]:
    enterprises = await installers.enterprises_of(request.app.state.database, principal.user_id)
    return render(
        request,
        "enterprise/tenants.html",
        status_code=status_code,
        principal=principal,
        enterprises=enterprises,
        errors=errors or {},
    )


@page_get(TENANTS, roles=INSTALLERS)
async def tenants_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The enterprises this installer may serve, the current one marked."""
    return await _page(request, principal)


@page_post(TENANTS, roles=INSTALLERS)
async def choose_tenant(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Act for the chosen enterprise from now on (a new session for it), then its home page."""
    form = await read_form(request, "tenant_id")
    if not csrf_ok(request, form):
        return await _page(request, principal, STALE, 403)
    try:
        tenant_id = uuid.UUID(form["tenant_id"])
    except ValueError:
        return await _page(request, principal, {"_": "请选择企业"}, 422)
    settings = request.app.state.settings
    address = client_address(request, settings.auth.trust_forwarded)
    try:
        token = await installers.act_for(
            request.app.state.database, settings.auth, principal.user_id, request.state.session_id, tenant_id, address
        )
    except ProblemError as exc:
        return await _page(request, principal, {"_": exc.detail}, exc.status)
    log.info("portal.installer_acts_for", tenant_id=str(tenant_id), by=principal.login)
    return Redirect("/portal", status_code=303, cookies=[session_cookie(settings.auth, token)])


def routes() -> list[Any]:
    """The installer's enterprise picker."""
    return [tenants_page, choose_tenant]
