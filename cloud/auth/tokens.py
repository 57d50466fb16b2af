"""Signed, expiring bearer tokens (also used as the portal's session cookie value).

A token names the account and the tenant it acts for; the role and the account's state are read
from the database on every request, so disabling an account or changing a role takes effect at once.
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


class InvalidTokenError(Exception):
    """The token is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: str, user_id: uuid.UUID, tenant_id: uuid.UUID | None, ttl_seconds: int) -> str:
    """Sign a token for ``user_id`` acting in ``tenant_id``."""
    payload = _b64(msgspec.json.encode(TokenClaims(uid=user_id, tid=tenant_id, exp=int(time.time()) + ttl_seconds)))
    signature = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_token(secret: str, token: str) -> TokenClaims:
    """Verify and decode a token."""
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
    return claims
