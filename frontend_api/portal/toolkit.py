"""The portal's page toolkit (issue 19 item 7): templates, the signed-in person, role checks, forms.

Every page module builds on this one module and nothing else of the portal's plumbing:

* **Routes declare who may open them.** :func:`page_get` / :func:`page_post` wrap Litestar's ``get`` /
  ``post`` with the :func:`page_guard` guard and the roles of the page (``roles=``). The guard resolves
  the session cookie, sends a signed-out visitor to the sign-in of the page's entry (enterprise
  ``/login`` or staff ``/staff/login``, with ``next=``), a person holding a one-time password to
  ``/portal/account``, a person of the other entry to that sign-in, and answers an enterprise person
  of another role with the Chinese 403 page (``denied=`` is its sentence). The handler receives the
  person as its ``principal: Me`` parameter (the app's ``principal`` dependency reads what the guard
  stored), so no handler repeats a "principal or redirect" preamble.
* **One Jinja environment** (:func:`render`) with the vocabulary filters (hj1321's Chinese names), the
  menus by role (:mod:`frontend_api.portal.navigation`), the form token and the CSP nonce.
* **Forms**: :func:`read_form`, :func:`csrf_ok`, :func:`field_errors` (a service's Problem Details
  errors next to the fields), :data:`STALE` (the expired-form sentence).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.response import Redirect

from cloud.auth import web
from cloud.auth.guards import SESSION_COOKIE, load_session
from cloud.auth.web import csp_nonce
from cloud.lib.problems import ProblemError
from frontend_api.portal import navigation, vocabulary
from tenants.context import Principal, Role

__all__ = [
    "CHINA",
    "ENTERPRISE_ROLES",
    "PASSWORD_PAGES",
    "STAFF_LOGIN",
    "STALE",
    "Me",
    "PageAuthError",
    "china_day_start",
    "csrf_ok",
    "csrf_token",
    "field_errors",
    "page_get",
    "page_guard",
    "page_post",
    "page_principal",
    "read_form",
    "render",
]

CHINA: Final = dt.timezone(dt.timedelta(hours=8), "CST")
#: Sign-in of enterprise accounts.
ENTERPRISE_LOGIN: Final = "/login"
#: Sign-in of the staff pages (regulators, platform admins).
STAFF_LOGIN: Final = "/staff/login"
#: The pages an account holding a one-time password may open (the first is where the others send it).
PASSWORD_PAGES: Final = ("/portal/account",)
#: Every enterprise role (the enterprise entry's pages).
ENTERPRISE_ROLES: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER, Role.INSTALLER})
#: A page handler's signed-in person (the app's ``principal`` dependency: what :func:`page_guard` stored).
Me = NamedDependency[Principal]
#: The answer to a form sent with a missing or stale token.
STALE: Final = {"_": "页面已过期，请刷新后重新提交"}
_DEFAULT_DENIED: Final = "当前账号（{role}）无权访问该页面。如需开通，请联系本企业的企业管理员。"

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


def decision_labels() -> dict[str, str]:
    """The pass decisions by their Chinese names (filters of the ledger pages)."""
    return dict(_DECISIONS)


# --------------------------------------------------------------------------------------- rendering


def render(request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any) -> Response[str]:
    """Render a page (HTML, Chinese) with the signed-in person in the layout."""
    principal: Principal | None = context.pop("principal", None)
    if principal is None:
        principal = getattr(request.state, "principal", None)
    # Every page gets its form token and its CSP nonce (cloud/auth/web.py), so the layout's forms and
    # inline scripts work under the CSRF check and the Content-Security-Policy.
    csrf = context.pop("csrf", "") or (csrf_token(request) if request.cookies.get(SESSION_COOKIE) else "")
    path = request.url.path
    # The dunning banner (past due, grace, restricted) of every enterprise page, read by the page guard.
    dunning = None if path.startswith(_OWN_BANNER) else getattr(request.state, "dunning", None)
    html = _ENV.get_template(template).render(
        request_path=path, me=principal, csrf=csrf, csp_nonce=csp_nonce(request), dunning=dunning, **context
    )
    return Response(html, media_type="text/html; charset=utf-8", status_code=status_code)


def not_found(request: Request[Any, Any, Any], template: str = "enterprise/not_found.html") -> Response[str]:
    """The Chinese 404 page (another tenant's row is invisible under RLS: the same answer as an unknown one)."""
    return render(request, template, status_code=404)


def forbidden(request: Request[Any, Any, Any], message: str) -> Response[str]:
    """The Chinese 403 page of the enterprise entry, with its sentence."""
    return render(request, "enterprise/forbidden.html", status_code=403, message=message)


# --------------------------------------------------------------------------------------- forms


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The form token of this session (cloud/auth/web.py; HMAC of the session cookie)."""
    return web.csrf_token(request)


def csrf_ok(request: Request[Any, Any, Any], sent: object) -> bool:
    """Whether a form's ``csrf`` field (or the form itself) carries this session's token."""
    value = sent.get("csrf", "") if isinstance(sent, dict) else sent
    return hmac.compare_digest(str(value or ""), csrf_token(request))


async def read_form(request: Request[Any, Any, Any], *names: str) -> dict[str, str]:
    """A posted form as text: the named fields (stripped, missing as "") plus ``csrf``, or every field."""
    raw = await request.form()
    if not names:
        return {str(k): str(v) for k, v in raw.items()}
    return {name: str(raw.get(name) or "").strip() for name in (*names, "csrf")}


def field_errors(exc: ProblemError, rename: dict[str, str] | None = None) -> dict[str, str]:
    """A service's refusal as ``{field: message}`` (``"_"``: the form as a whole)."""
    names = rename or {}
    errors: dict[str, str] = {}
    for e in exc.errors:
        errors.setdefault(names.get(e.field, e.field), e.message)
    return errors or {"_": exc.detail}


def china_day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight (China time) of today, as an aware UTC moment."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


# --------------------------------------------------------------------------------------- access


class PageAuthError(Exception):
    """The page needs a signed-in user of another kind (or any signed-in user): go to ``redirect_to``."""

    def __init__(self, redirect_to: str) -> None:
        """Remember where the person should go."""
        super().__init__(redirect_to)
        self.redirect_to = redirect_to


class PageForbiddenError(Exception):
    """A signed-in enterprise person whose role may not open the page (the Chinese 403 page)."""

    def __init__(self, message: str) -> None:
        """The sentence of the 403 page."""
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class _Access:
    roles: frozenset[Role]
    denied: str

    @property
    def enterprise(self) -> bool:
        return self.roles <= ENTERPRISE_ROLES


def _login_of(access: _Access, path: str) -> str:
    return f"{ENTERPRISE_LOGIN if access.enterprise else STAFF_LOGIN}?next={quote(path)}"


async def page_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of every page: the session, the one-time-password detour, the roles the route declares.

    Stores the person in ``connection.state.principal`` (the handler's ``principal`` parameter).
    """
    access: _Access = handler.opt["page_access"]
    path = connection.url.path
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        raise PageAuthError(_login_of(access, path))
    state = connection.app.state
    try:
        found = await load_session(state.database, state.settings.auth.session_secret, token)
    except ProblemError as exc:
        raise PageAuthError(_login_of(access, path)) from exc
    # A one-time password is replaced before anything else (issue 17): every other page sends there.
    if found.must_change_password and path not in PASSWORD_PAGES:
        raise PageAuthError(PASSWORD_PAGES[0])
    principal = found.principal
    connection.state.principal = principal
    connection.state.session_id = found.session_id
    if principal.role in access.roles:
        if access.enterprise and principal.tenant_id is not None and connection.scope.get("method") == "GET":
            connection.state.dunning = await _dunning(state.database, principal)
        return
    if access.enterprise and principal.role in ENTERPRISE_ROLES:
        raise PageForbiddenError((access.denied or _DEFAULT_DENIED).format(role=principal.role.label))
    login = _login_of(access, path)
    raise PageAuthError(login if access.enterprise else f"{login}&denied=1")


#: Pages that show the dunning stage themselves (账单与发票 has its own banner and details).
_OWN_BANNER: Final = ("/portal/billing",)


async def _dunning(database: Any, principal: Principal) -> tuple[str, str] | None:
    """The tenant's dunning banner ``(stage, text)`` for the layout of every enterprise page (one indexed read)."""
    from cloud.billing import service  # noqa: PLC0415 - the billing service imports the domain

    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        return await service.banner(session, principal.tenant_id)


async def page_principal(request: Request[Any, Any, Any], roles: frozenset[Role]) -> Principal:
    """The signed-in person holding one of ``roles``, for code outside a guarded route (e.g. a live poll).

    Raises:
        PageAuthError: not signed in, expired, one-time password, or another kind of account.
        PageForbiddenError: an enterprise person of another role.
    """
    opt = {"page_access": _Access(frozenset(roles), "")}
    holder = _Handler(opt)
    await page_guard(request, holder)  # type: ignore[arg-type]
    principal: Principal = request.state.principal
    return principal


@dataclass(frozen=True, slots=True)
class _Handler:
    opt: dict[str, Any]


def _to_login(_: Request[Any, Any, Any], exc: PageAuthError) -> Response[Any]:
    return Redirect(exc.redirect_to, status_code=303)


def _to_forbidden(request: Request[Any, Any, Any], exc: PageForbiddenError) -> Response[Any]:
    return forbidden(request, exc.message)


_HANDLERS: Final[dict[type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]]] = {
    PageAuthError: _to_login,
    PageForbiddenError: _to_forbidden,
}


def _page(
    method: Callable[..., HTTPRouteHandler], path: str, roles: frozenset[Role], denied: str, kwargs: dict[str, Any]
) -> HTTPRouteHandler:
    opt = {"public": True, "page_access": _Access(frozenset(roles), denied), **kwargs.pop("opt", {})}
    return method(
        path, include_in_schema=False, guards=[page_guard], exception_handlers=dict(_HANDLERS), opt=opt, **kwargs
    )


def page_get(path: str, *, roles: frozenset[Role], denied: str = "", **kwargs: Any) -> HTTPRouteHandler:
    """A GET page that ``roles`` may open (``denied``: the 403 sentence for other enterprise roles)."""
    return _page(get, path, roles, denied, kwargs)


def page_post(path: str, *, roles: frozenset[Role], denied: str = "", **kwargs: Any) -> HTTPRouteHandler:
    """A POST form handler that ``roles`` may send (answers 200 unless the handler says otherwise)."""
    kwargs.setdefault("status_code", 200)
    return _page(post, path, roles, denied, kwargs)
