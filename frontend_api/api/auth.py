"""Login, logout, who am I, and changing one's own password."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.datastructures.state import State
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import select

from cloud.auth.guards import SESSION_COOKIE
from cloud.auth.passwords import verify_password
from cloud.auth.tokens import issue_token
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import users
from cloud.lib.problems import ProblemError
from tenants.context import Principal

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Credentials; ``tenant_id`` picks the enterprise when an installer serves several."""

    login: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Password
    tenant_id: uuid.UUID | None = None


class Me(msgspec.Struct):
    """The signed-in account."""

    user_id: uuid.UUID
    login: str
    role: str
    role_label: str
    tenant_id: uuid.UUID | None
    region_code: str | None


class LoginResponse(msgspec.Struct):
    """A bearer token for API clients; the portal gets the same value as a session cookie."""

    token: str
    token_type: str
    expires_in: int
    me: Me


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """Change one's own password."""

    old_password: Password
    new_password: Password


def _me(principal: NamedDependency[Principal]) -> Me:
    return Me(
        principal.user_id,
        principal.login,
        principal.role.value,
        principal.role.label,
        principal.tenant_id,
        principal.region_code,
    )


_BAD_LOGIN = ProblemError(401, "login_failed", "登录失败", "账号或密码错误")


@post("/auth/login", opt={"public": True}, status_code=200)
async def login(data: JSONBody[LoginRequest], state: State) -> Response[LoginResponse]:
    """Check credentials and issue a token (and the portal's session cookie)."""
    from cloud.auth.guards import load_principal  # noqa: PLC0415

    database: Database = state.database
    async with database.login_session(data.login) as session:
        account = await session.scalar(select(m.UserAccount).where(m.UserAccount.login == data.login))
        memberships: list[uuid.UUID] = []
        if account is not None:
            rows = await session.scalars(select(m.Membership.tenant_id).where(m.Membership.user_id == account.id))
            memberships = list(rows)
    if account is None or not verify_password(account.password_hash, data.password) or not account.is_active:
        raise _BAD_LOGIN
    tenant_id = account.tenant_id
    if account.kind in {"installer", "platform_admin"}:
        tenant_id = data.tenant_id if data.tenant_id in memberships else (memberships[0] if memberships else None)
    settings = state.settings
    ttl = settings.auth.token_ttl_seconds
    token = issue_token(settings.auth.session_secret, account.id, tenant_id, ttl)
    principal = await load_principal(database, settings.auth.session_secret, token)
    body = LoginResponse(
        token=token,
        token_type="Bearer",  # noqa: S106 - the token scheme, not a secret
        expires_in=ttl,
        me=_me(principal),
    )
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        secure=settings.auth.secure_cookies,
        path="/",
    )
    return Response(body, cookies=[cookie])


@post("/auth/logout", opt={"self_service": True}, status_code=200)
async def logout() -> Response[dict[str, str]]:
    """End the portal session (bearer tokens simply expire)."""
    return Response({"status": "ok"}, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])


@get("/auth/me")
async def me(principal: NamedDependency[Principal]) -> Me:
    """Who am I."""
    return _me(principal)


@post("/auth/password", opt={"self_service": True}, status_code=200)
async def change_password(
    data: JSONBody[PasswordChange], principal: NamedDependency[Principal], state: State
) -> dict[str, Any]:
    """Change one's own password (the old one is required)."""
    await users.change_own_password(state.database, principal, data.old_password, data.new_password)
    return {"status": "ok"}


HANDLERS = [login, logout, me, change_password]
_ = Request  # re-exported type used in signatures elsewhere
