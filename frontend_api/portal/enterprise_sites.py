"""Site, gate and lane set-up (issue 19 item 1): 厂区、出入口、道闸 through the pages.

A new tenant needs a site before it can create an enrollment code (门禁终端 asks "请选择厂区"), so this
page is the first step of the onboarding path: create a site, its gates (出入口) and their lanes
(道闸, one direction each), delete what is not used yet. Writes go through :mod:`cloud.domain.sites`
(plan limits, audit rows); errors are shown next to the field of the form that was sent.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from cloud.domain import sites
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import STALE, Me, csrf_ok, field_errors, page_get, page_post, read_form, render
from tenants.context import Principal, Role

__all__ = ["MANAGERS", "routes"]

log = structlog.get_logger(__name__)

BASE: Final = "/portal/sites"
#: Who sets up sites, gates and lanes (the JSON API's writers among enterprise roles).
MANAGERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER})
_DENIED: Final = "当前账号（{role}）无权管理厂区、出入口和道闸。请联系企业管理员。"
_DONE: Final = {
    "site": "厂区已创建。下一步：为它添加出入口和道闸，再到“门禁终端”生成注册码。",
    "gate": "出入口已添加。",
    "lane": "道闸已添加。",
    "deleted": "已删除。",
}
_KINDS: Final = {"site": "厂区", "gate": "出入口", "lane": "道闸"}


async def _page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        layout = await sites.layout(session)
    return render(
        request,
        "enterprise/setup/sites.html",
        status_code=status_code,
        principal=principal,
        layout=layout,
        directions=sites.DIRECTIONS,
        notice=notice,
        form=form or {},
        errors=errors or {},
    )


@page_get(BASE, roles=MANAGERS, denied=_DENIED)
async def sites_page(request: Request[Any, Any, Any], principal: Me, done: FromQuery[str] = "") -> Response[Any]:
    """Every site with its gates and lanes; the forms to add and delete them."""
    return await _page(request, principal, notice=_DONE.get(done, ""))


async def _write(
    request: Request[Any, Any, Any], principal: Principal, form: dict[str, str], done: str, action: Any
) -> Response[Any]:
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await action(session)
    except ProblemError as exc:
        return await _page(request, principal, form=form, errors=field_errors(exc), status_code=exc.status)
    log.info("portal.sites_changed", form=form.get("form"), done=done, by=principal.login)
    return Redirect(f"{BASE}?done={done}", status_code=303)


@page_post(f"{BASE}/new", roles=MANAGERS, denied=_DENIED)
async def create_site(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Create a site."""
    form = await read_form(request, "name", "address")
    form["form"] = "site"
    return await _write(
        request, principal, form, "site", lambda s: sites.create_site(s, principal, form["name"], form["address"])
    )


@page_post(f"{BASE}/{{site_id:uuid}}/gates", roles=MANAGERS, denied=_DENIED)
async def create_gate(request: Request[Any, Any, Any], principal: Me, site_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Add a gate (出入口) to a site."""
    form = await read_form(request, "code", "name")
    form["form"] = f"gate:{site_id}"
    return await _write(
        request,
        principal,
        form,
        "gate",
        lambda s: sites.create_gate(s, principal, site_id, form["code"], form["name"]),
    )


@page_post(f"{BASE}/gates/{{gate_id:uuid}}/lanes", roles=MANAGERS, denied=_DENIED)
async def create_lane(request: Request[Any, Any, Any], principal: Me, gate_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Add a lane (道闸) to a gate."""
    form = await read_form(request, "code", "name", "direction")
    form["form"] = f"lane:{gate_id}"
    return await _write(
        request,
        principal,
        form,
        "lane",
        lambda s: sites.create_lane(s, principal, gate_id, form["code"], form["name"], form["direction"]),
    )


@page_post(f"{BASE}/delete", roles=MANAGERS, denied=_DENIED)
async def delete(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Delete an unused site, gate or lane."""
    form = await read_form(request, "kind", "id")
    form["form"] = f"delete:{form['id']}"
    try:
        oid = uuid.UUID(form["id"])
    except ValueError:
        oid = uuid.UUID(int=0)
    kind = form["kind"] if form["kind"] in _KINDS else "site"
    return await _write(request, principal, form, "deleted", lambda s: sites.delete(s, principal, kind, oid))


def routes() -> list[Any]:
    """The set-up pages."""
    return [sites_page, create_site, create_gate, create_lane, delete]
