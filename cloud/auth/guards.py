"""The principal of a request and the guards that admit it.

The principal comes only from a verified token (bearer header or the portal's session cookie), its
server-side session (cloud/auth/sessions.py) and the account's current state in the database, never
from a header or payload naming a tenant. Regulators are read-only everywhere: every non-GET request
of theirs is refused with 403. An account holding a one-time password (``must_change_password``) may
only change its password, read who it is and log out until it has (handlers with
``opt={"password_pending": True}``; portal pages through :func:`load_principal`'s ``pending_ok``).

The guard also keeps JSON endpoints strict about their content type: a write whose handler takes a
JSON body must say ``application/json`` (415 otherwise), so a cross-site ``text/plain`` form cannot
reach it (issue 17 finding 5). The CSRF/Origin check of cookie-authenticated writes is the middleware
in cloud/auth/csrf.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.params import BodyKwarg
from sqlalchemy import select

from cloud.auth import sessions
from cloud.auth.tokens import InvalidTokenError, read_token
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.lib.problems import ProblemError, forbidden
from tenants.context import Principal, Role

SESSION_COOKIE = "ecogate_session"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The code of the 403 an account with a one-time password gets everywhere else.
PASSWORD_CHANGE_REQUIRED = "password_change_required"  # noqa: S105 - a problem code


@dataclass(frozen=True)
class Authenticated:
    """A verified token: who, in which session, and whether the password must be changed first."""

    principal: Principal
    session_id: uuid.UUID
    must_change_password: bool


def password_change_required() -> ProblemError:
    """403 for an account that must replace its one-time password before anything else."""
    return ProblemError(
        403, PASSWORD_CHANGE_REQUIRED, "请先修改密码", "当前使用的是一次性密码，请先修改密码后再进行其他操作"
    )


def _token_from(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return connection.cookies.get(SESSION_COOKIE)


def _unauthorized(detail: str = "请先登录") -> ProblemError:
    return ProblemError(401, "unauthorized", "未登录或登录已过期", detail)


async def load_session(database: Database, secret: str, token: str) -> Authenticated:
    """Verify ``token`` and its server-side session; build the principal from the account's current state."""
    try:
        claims = read_token(secret, token)
    except InvalidTokenError as exc:
        raise _unauthorized("登录凭证无效或已过期，请重新登录") from exc
    assert claims.sid is not None
    self_scope = Principal(user_id=claims.uid, role=Role.VIEWER)
    async with database.session(self_scope) as session, session.begin():
        account = await session.get(m.UserAccount, claims.uid)
        if account is None or not account.is_active:
            raise _unauthorized("账号不存在或已停用")
        if not await sessions.is_active(session, claims.sid, claims.uid):
            raise _unauthorized("登录已失效（已退出或已被管理员结束），请重新登录")
        pending = account.must_change_password
        if account.kind == "regulator":
            principal = Principal(account.id, Role.REGULATOR, None, account.region_code, account.login)
            return Authenticated(principal, claims.sid, pending)
        if account.kind == "platform_admin" and claims.tid is None:
            principal = Principal(account.id, Role.PLATFORM_ADMIN, None, None, account.login)
            return Authenticated(principal, claims.sid, pending)
        if claims.tid is None:
            raise _unauthorized("登录凭证未指定企业")
        role = await session.scalar(
            select(m.Membership.role).where(m.Membership.tenant_id == claims.tid, m.Membership.user_id == account.id)
        )
        if role is None:
            if account.kind != "platform_admin":
                raise _unauthorized("账号不属于该企业")
            role = Role.PLATFORM_ADMIN.value
        principal = Principal(account.id, Role(role), claims.tid, None, account.login)
        return Authenticated(principal, claims.sid, pending)


async def load_principal(database: Database, secret: str, token: str, *, pending_ok: bool = False) -> Principal:
    """Verify ``token`` and build the principal (portal pages use this).

    Raises:
        ProblemError: 401 for a bad, expired or revoked token; 403 ``password_change_required`` while the
            account holds a one-time password, unless ``pending_ok`` (the password page itself).
    """
    found = await load_session(database, secret, token)
    if found.must_change_password and not pending_ok:
        raise password_change_required()
    return found.principal


def _expects_json(handler: BaseRouteHandler) -> bool:
    """Whether the handler takes a JSON body (``data`` without a form/multipart encoding)."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    kwarg = data.kwarg_definition
    if isinstance(kwarg, BodyKwarg):
        return kwarg.media_type == RequestEncodingType.JSON
    return True


def _check_content_type(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    method = connection.scope.get("method", "GET")
    if method in READ_METHODS or not _expects_json(handler):
        return
    media = connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise ProblemError(
            415, "unsupported_media_type", "不支持的内容类型", "请求体须为 JSON（Content-Type: application/json）"
        )


async def authenticated(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: strict JSON content type, resolve the principal and its session, refuse regulator writes and
    one-time-password accounts, enforce the handler's ``roles`` option."""
    if handler.opt.get("public"):
        _check_content_type(connection, handler)
        return
    token = _token_from(connection)
    if not token:
        raise _unauthorized()
    state = connection.app.state
    found = await load_session(state.database, state.settings.auth.session_secret, token)
    if found.must_change_password and not handler.opt.get("password_pending"):
        raise password_change_required()
    principal = found.principal
    connection.state.principal = principal
    connection.state.session_id = found.session_id
    method = connection.scope.get("method", "GET")
    if principal.is_regulator and method not in READ_METHODS and not handler.opt.get("self_service"):
        raise forbidden("监管账号为只读账号，不能修改任何数据")
    roles: frozenset[Role] | None = handler.opt.get("roles")
    if roles is not None and principal.role not in roles:
        raise forbidden()
    if roles is None and method not in READ_METHODS and not handler.opt.get("self_service") and not principal.can_write:
        raise forbidden()
    _check_content_type(connection, handler)  # after the role checks: a forbidden write is 403 whatever it sends


def session_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> uuid.UUID | None:
    """The server-side session the guard resolved for this request (None on public handlers)."""
    found: uuid.UUID | None = getattr(connection.state, "session_id", None)
    return found


def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency: the principal the guard resolved."""
    principal: Principal = request.state.principal
    return principal
