"""Server-side sessions: every token names a ``user_session`` row that logout and administrators revoke.

A token stays signed and self-describing (cloud/auth/tokens.py), but it is honoured only while its
session row is active (not revoked, not expired), checked on every request in the same transaction
that reads the account. The rows are reached only through SECURITY DEFINER functions (migration 0015):
the application cannot list or read other people's sessions, the regulator role cannot reach them.

Revocation reasons (``user_session.revoked_reason``): ``logout``, ``password_changed``,
``password_reset``, ``role_changed``, ``deactivated``, ``admin`` (an administrator ended them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.tokens import issue_token
from tenants.context import Principal, Role
from tenants.ids import new_id

if TYPE_CHECKING:
    from cloud.db.engine import Database

LOGOUT: Final = "logout"
PASSWORD_CHANGED: Final = "password_changed"  # noqa: S105 - a reason code
PASSWORD_RESET: Final = "password_reset"  # noqa: S105 - a reason code
ROLE_CHANGED: Final = "role_changed"
DEACTIVATED: Final = "deactivated"
ADMIN: Final = "admin"


async def open_session(
    session: AsyncSession,
    secret: str,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    ttl_seconds: int,
    address: str,
) -> tuple[str, uuid.UUID]:
    """Record a new session (in the caller's transaction) and sign its token; returns (token, session id)."""
    session_id = new_id()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl_seconds)
    await session.execute(
        text("SELECT auth_session_open(:sid, :uid, :tid, :exp, :addr)"),
        {"sid": session_id, "uid": user_id, "tid": tenant_id, "exp": expires, "addr": address[:64]},
    )
    return issue_token(secret, user_id, tenant_id, ttl_seconds, session_id), session_id


async def is_active(session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the session is the user's, not revoked and not expired."""
    active = await session.scalar(text("SELECT auth_session_active(:sid, :uid)"), {"sid": session_id, "uid": user_id})
    return bool(active)


async def revoke(session: AsyncSession, session_id: uuid.UUID, reason: str = LOGOUT) -> bool:
    """End one session; True when it was active."""
    done = await session.scalar(text("SELECT auth_session_revoke(:sid, :why)"), {"sid": session_id, "why": reason})
    return bool(done)


async def revoke_user(session: AsyncSession, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None) -> int:
    """End every active session of a user except ``keep``; returns how many ended.

    The caller must already have established its right over the account (RLS-checked read of the
    member, or the account itself): the function trusts its caller, as the application role's own.
    """
    count = await session.scalar(
        text("SELECT auth_session_revoke_user(:uid, :why, :keep)"), {"uid": user_id, "why": reason, "keep": keep}
    )
    return int(count or 0)


async def end(database: Database, user_id: uuid.UUID, session_id: uuid.UUID, reason: str = LOGOUT) -> bool:
    """End one session of ``user_id`` in a transaction of its own (logout); True when it was active."""
    async with database.session(Principal(user_id=user_id, role=Role.VIEWER)) as session, session.begin():
        return await revoke(session, session_id, reason)
