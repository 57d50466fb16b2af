"""The principal of a request and the guards that admit it.

The principal comes only from a verified token (bearer header or the portal's session cookie) and
the account's current state in the database, never from a header or payload naming a tenant.
Regulators are read-only everywhere: every non-GET request of theirs is refused with 403.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import select

from cloud.auth.tokens import InvalidTokenError, read_token
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.lib.problems import ProblemError, forbidden
from tenants.context import Principal, Role

SESSION_COOKIE = "ecogate_session"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _token_from(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return connection.cookies.get(SESSION_COOKIE)


def _unauthorized(detail: str = "请先登录") -> ProblemError:
    return ProblemError(401, "unauthorized", "未登录或登录已过期", detail)


async def load_principal(database: Database, secret: str, token: str) -> Principal:
    """Verify ``token`` and build the principal from the account's current state."""
    try:
        claims = read_token(secret, token)
    except InvalidTokenError as exc:
        raise _unauthorized("登录凭证无效或已过期，请重新登录") from exc
    self_scope = Principal(user_id=claims.uid, role=Role.VIEWER)
    async with database.session(self_scope) as session:
        account = await session.get(m.UserAccount, claims.uid)
        if account is None or not account.is_active:
            raise _unauthorized("账号不存在或已停用")
        if account.kind == "regulator":
            return Principal(account.id, Role.REGULATOR, None, account.region_code, account.login)
        if account.kind == "platform_admin" and claims.tid is None:
            return Principal(account.id, Role.PLATFORM_ADMIN, None, None, account.login)
        if claims.tid is None:
            raise _unauthorized("登录凭证未指定企业")
        role = await session.scalar(
            select(m.Membership.role).where(m.Membership.tenant_id == claims.tid, m.Membership.user_id == account.id)
        )
        if role is None:
            if account.kind != "platform_admin":
                raise _unauthorized("账号不属于该企业")
            role = Role.PLATFORM_ADMIN.value
        return Principal(account.id, Role(role), claims.tid, None, account.login)


async def authenticated(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: resolve the principal, refuse regulator writes, enforce the handler's ``roles`` option."""
    if handler.opt.get("public"):
        return
    token = _token_from(connection)
    if not token:
        raise _unauthorized()
    state = connection.app.state
    principal = await load_principal(state.database, state.settings.auth.session_secret, token)
    connection.state.principal = principal
    method = connection.scope.get("method", "GET")
    if principal.is_regulator and method not in READ_METHODS and not handler.opt.get("self_service"):
        raise forbidden("监管账号为只读账号，不能修改任何数据")
    roles: frozenset[Role] | None = handler.opt.get("roles")
    if roles is not None and principal.role not in roles:
        raise forbidden()
    if roles is None and method not in READ_METHODS and not handler.opt.get("self_service") and not principal.can_write:
        raise forbidden()


def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency: the principal the guard resolved."""
    principal: Principal = request.state.principal
    return principal
