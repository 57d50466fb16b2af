"""Browser-facing protections, registered once in cloud/app.py: cookies, CSRF/Origin check, security headers.

* Session cookie: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` unless the settings are in development
  mode on plain-http localhost (cloud/settings.py).
* :class:`OriginCheckMiddleware`: every state-changing request that is not authenticated by a bearer
  header (so: cookie-authenticated writes and the sign-in forms) must come from this site. A browser
  sends ``Origin`` (or at least ``Referer``) on every cross-site POST; a foreign or ``null`` origin, or
  ``Sec-Fetch-Site: cross-site``, is refused with 403 ``csrf_failed``. Requests with neither header are
  not from a browser's cross-site form; the portal's forms also carry the per-session token
  (:func:`csrf_token`, the hidden ``csrf`` field the layout provides) and JSON endpoints demand
  ``application/json`` (cloud/auth/guards.py), which a cross-site form cannot send.
* :func:`security_headers`: a ``before_send`` hook, so every response gets them, errors and 404s
  included: CSP (own assets only, a per-response nonce for the portal's inline scripts),
  ``frame-ancestors 'none'`` + ``X-Frame-Options: DENY``, ``nosniff``, ``Referrer-Policy``, and HSTS when
  cookies are ``Secure`` (i.e. the site is served over HTTPS).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from cloud.auth.guards import SESSION_COOKIE
from cloud.lib.problems import ProblemError

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from cloud.settings import AuthSettings

_UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NONCE_KEY: Final = "ecogate_csp_nonce"
#: The API documentation page loads Swagger UI from its CDN (development aid; no session is used there).
_DOCS_PREFIX: Final = "/schema"
_DOCS_CDN: Final = "https://cdn.jsdelivr.net https://unpkg.com"


def session_cookie(auth: AuthSettings, token: str) -> Cookie:
    """The portal's session cookie carrying ``token``."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=auth.token_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=auth.secure_cookies,
        path="/",
    )


def clear_session_cookie(auth: AuthSettings) -> Cookie:
    """An expired session cookie (logout)."""
    return Cookie(
        key=SESSION_COOKIE, value="", max_age=0, httponly=True, samesite="lax", secure=auth.secure_cookies, path="/"
    )


def csrf_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The form token of this session (HMAC of the session cookie): a cross-site form cannot know it."""
    secret = connection.app.state.settings.auth.session_secret or ""
    cookie = connection.cookies.get(SESSION_COOKIE, "")
    return hmac.new(secret.encode(), cookie.encode(), hashlib.sha256).hexdigest()[:40]


def csp_nonce(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The CSP nonce of this response (made on first use; templates put it on their inline scripts)."""
    state = connection.scope.setdefault("state", {})
    nonce = state.get(_NONCE_KEY)
    if not nonce:
        nonce = secrets.token_urlsafe(16)
        state[_NONCE_KEY] = nonce
    return str(nonce)


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return "\x00invalid"


class OriginCheckMiddleware(ASGIMiddleware):
    """Refuse cross-site state-changing requests that a browser would authenticate with the cookie."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, public_url: str = "", trust_forwarded: bool = False) -> None:
        """``public_url``: the site's public base URL (behind a proxy the Host header may differ)."""
        self.public_host = _netloc(public_url) if public_url else ""
        self.trust_forwarded = trust_forwarded

    def _own_hosts(self, headers: MutableScopeHeaders) -> set[str]:
        hosts = {(headers.get("host") or "").lower()}
        if self.trust_forwarded and headers.get("x-forwarded-host"):
            hosts.add((headers.get("x-forwarded-host") or "").split(",")[-1].strip().lower())
        if self.public_host:
            hosts.add(self.public_host)
        hosts.discard("")
        return hosts

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Check the request's origin, then pass it on."""
        if scope.get("method", "GET") in _UNSAFE:
            headers = MutableScopeHeaders(scope)
            if not (headers.get("authorization") or "").lower().startswith("bearer "):
                self._check(headers)
        await next_app(scope, receive, send)

    def _check(self, headers: MutableScopeHeaders) -> None:
        site = (headers.get("sec-fetch-site") or "").lower()
        origin = headers.get("origin")
        referer = headers.get("referer")
        source = origin if origin is not None else referer
        refused = site in {"cross-site", "same-site"}
        if source is not None:
            refused = refused or _netloc(source) not in self._own_hosts(headers)
        if refused:
            raise ProblemError(
                403,
                "csrf_failed",
                "请求来源不可信",
                "该操作必须从本站页面发起（跨站请求已被拒绝），请刷新页面后重试",
            )


def security_headers(auth: AuthSettings) -> Any:
    """A ``before_send`` hook adding the security headers to every HTTP response."""
    hsts = auth.secure_cookies

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        nonce = (scope.get("state") or {}).get(_NONCE_KEY)
        if scope.get("path", "").startswith(_DOCS_PREFIX):
            script = f"'self' 'unsafe-inline' {_DOCS_CDN}"
            style = f"'self' 'unsafe-inline' {_DOCS_CDN}"
        else:
            script = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
            style = "'self' 'unsafe-inline'"
        csp = (
            f"default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

    return hook


async def end_cookie_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """End the server-side session of the request's session cookie, if it names a valid one (portal logout)."""
    from cloud.auth import sessions  # noqa: PLC0415
    from cloud.auth.guards import load_session  # noqa: PLC0415

    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return
    state = connection.app.state
    try:
        found = await load_session(state.database, state.settings.auth.session_secret, token)
    except ProblemError:
        return
    await sessions.end(state.database, found.principal.user_id, found.session_id, sessions.LOGOUT)
