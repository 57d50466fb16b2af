"""Signed, expiring bearer tokens (also used as the portal's session cookie value).

A token names the account, the tenant it acts for and its server-side session (``sid``, a row of
``user_session``: cloud/auth/sessions.py). The role, the account's state and the session are read from
the database on every request, so logging out, disabling an account or changing a role takes effect at
once (issue 17).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import msgspec


class TokenClaims(msgspec.Struct, frozen=True):
    """What a token asserts."""

    uid: uuid.UUID
    tid: uuid.UUID | None
    exp: int
    #: The server-side session (``user_session.id``); a token without one is refused.
    sid: uuid.UUID | None = None


class InvalidTokenError(Exception):
    """The token is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    secret: str, user_id: uuid.UUID, tenant_id: uuid.UUID | None, ttl_seconds: int, session_id: uuid.UUID
) -> str:
    """Sign a token for ``user_id`` acting in ``tenant_id`` within the server-side session ``session_id``."""
    claims = TokenClaims(uid=user_id, tid=tenant_id, exp=int(time.time()) + ttl_seconds, sid=session_id)
    payload = _b64(msgspec.json.encode(claims))
    signature = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_token(secret: str, token: str) -> TokenClaims:
    """Verify and decode a token."""
    if len(token) > 1024:
        raise InvalidTokenError("too long")
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature, expected):
        raise InvalidTokenError("bad signature")
    try:
        claims = msgspec.json.decode(_unb64(payload), type=TokenClaims)
    except (msgspec.DecodeError, ValueError) as exc:
        raise InvalidTokenError("malformed") from exc
    if claims.exp < time.time():
        raise InvalidTokenError("expired")
    if claims.sid is None:
        raise InvalidTokenError("no session")
    return claims
