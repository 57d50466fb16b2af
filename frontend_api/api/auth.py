"""Login, logout, who am I, and changing one's own password."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures.state import State
from litestar.di import NamedDependency
from litestar.params import JSONBody

from cloud.auth import sessions
from cloud.auth.guards import session_id_of
from cloud.auth.login import client_address, sign_in
from cloud.auth.web import clear_session_cookie, session_cookie
from cloud.db.engine import Database
from cloud.domain import users
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
    #: The account holds a one-time password: only ``POST /auth/password``, ``/auth/me`` and logout work.
    must_change_password: bool = False


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


@post("/auth/login", opt={"public": True}, status_code=200)
async def login(data: JSONBody[LoginRequest], request: Request[Any, Any, Any], state: State) -> Response[LoginResponse]:
    """Check credentials and issue a token (and the portal's session cookie).

    Unknown logins, wrong passwords and disabled accounts get the same 401 in the same time; the 11th
    failure of a login name within a minute (or too many from one address) answers 429 with
    ``Retry-After`` (cloud/auth/login.py).
    """
    from cloud.auth.guards import load_principal  # noqa: PLC0415

    database: Database = state.database
    settings = state.settings
    address = client_address(request, settings.auth.trust_forwarded)
    signed = await sign_in(
        database, settings.auth, data.login, data.password, address, entry="api", tenant_hint=data.tenant_id
    )
    ttl = settings.auth.token_ttl_seconds
    principal = await load_principal(database, settings.auth.session_secret, signed.token, pending_ok=True)
    body = LoginResponse(
        token=signed.token,
        token_type="Bearer",  # noqa: S106 - the token scheme, not a secret
        expires_in=ttl,
        me=_me(principal),
        must_change_password=signed.account.must_change_password,
    )
    return Response(body, cookies=[session_cookie(settings.auth, signed.token)])


@post("/auth/logout", opt={"self_service": True, "password_pending": True}, status_code=200)
async def logout(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal], state: State
) -> Response[dict[str, str]]:
    """End the session (the token and the portal cookie stop working at once)."""
    session_id = session_id_of(request)
    if session_id is not None:
        await sessions.end(state.database, principal.user_id, session_id, sessions.LOGOUT)
    return Response({"status": "ok"}, cookies=[clear_session_cookie(state.settings.auth)])


@get("/auth/me", opt={"password_pending": True})
async def me(principal: NamedDependency[Principal]) -> Me:
    """Who am I."""
    return _me(principal)


@post("/auth/password", opt={"self_service": True, "password_pending": True}, status_code=200)
async def change_password(
    data: JSONBody[PasswordChange],
    principal: NamedDependency[Principal],
    request: Request[Any, Any, Any],
    state: State,
) -> dict[str, Any]:
    """Change one's own password (the old one is required); every other session of the account ends."""
    await users.change_own_password(
        state.database, principal, data.old_password, data.new_password, keep_session=session_id_of(request)
    )
    return {"status": "ok"}


HANDLERS = [login, logout, me, change_password]
