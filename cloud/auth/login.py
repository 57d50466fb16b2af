"""Password sign-in shared by the three login endpoints (JSON API, enterprise portal, staff portal).

* Equal time: the argon2 verification runs for every attempt, against a dummy hash when the login is
  unknown, and the same queries run whether the account exists or not, so the answer time does not
  reveal which logins exist (issue 17 finding 2). The hash runs in a worker thread, off the event loop.
* Throttling, stored in PostgreSQL so every replica agrees (``auth_throttle``, migration 0015): per
  login name, ``AuthSettings.account_attempts`` (10) failures within :data:`WINDOW_S` lock the name
  for :data:`ACCOUNT_LOCK_S`; per client address, ``address_attempts`` (100) failures within the
  window lock the address for :data:`ADDRESS_LOCK_S`. A locked attempt answers 429 with ``Retry-After`` before
  any password is checked, even a right one. A tenant administrator lifts a member's lockout
  (``DELETE /api/v1/users/{id}/lockout``); a successful sign-in clears the name's counter.
* Audit: failures and lockouts of tenant accounts are written to the tenant's audit log
  (``auth.login_failed``, ``auth.locked``; lifting one is ``user.unlocked``); every attempt is also
  logged, and a successful sign-in is recorded by its ``user_session`` row (time, address).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
import structlog
from litestar.connection import ASGIConnection
from sqlalchemy import select, text

from cloud.auth import sessions
from cloud.auth.passwords import verify_password
from cloud.db import models as m
from cloud.domain import audit
from cloud.lib.problems import ProblemError
from tenants.context import Principal, Role

if TYPE_CHECKING:
    from cloud.db.engine import Database
    from cloud.settings import AuthSettings

log = structlog.get_logger(__name__)

WINDOW_S: Final = 60
#: How long a login name stays locked after ``AuthSettings.account_attempts`` failures within the window
#: (default 10: the 11th wrong password within a minute answers 429, issue 17 acceptance).
ACCOUNT_LOCK_S: Final = 15 * 60
#: How long an address stays locked after ``AuthSettings.address_attempts`` failures within the window.
ADDRESS_LOCK_S: Final = 5 * 60
_NO_USER: Final = uuid.UUID(int=0)


class LoginFailedError(ProblemError):
    """401 for wrong credentials (the same answer for an unknown login, a wrong password, a disabled account)."""

    def __init__(self) -> None:
        """The one failure answer."""
        super().__init__(401, "login_failed", "登录失败", "账号或密码错误")


class TooManyAttemptsError(ProblemError):
    """429: the login name or the address is locked after too many failures."""

    def __init__(self, retry_after_s: int) -> None:
        """Remember when to try again (``Retry-After``)."""
        minutes = max(1, math.ceil(retry_after_s / 60))
        super().__init__(
            429,
            "too_many_attempts",
            "登录尝试过于频繁",
            f"密码错误次数过多，账号已临时锁定，请 {minutes} 分钟后再试，或联系企业管理员解锁",
        )
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(retry_after_s)}


@dataclass(frozen=True)
class SignedIn:
    """A verified account, its memberships, and the session opened for it."""

    account: m.UserAccount
    memberships: list[uuid.UUID]
    token: str
    session_id: uuid.UUID
    tenant_id: uuid.UUID | None


def client_address(connection: ASGIConnection[Any, Any, Any, Any], trust_forwarded: bool = False) -> str:
    """The client's address; behind a trusted proxy (``ECOGATE_TRUST_FORWARDED=1``) the last X-Forwarded-For hop."""
    if trust_forwarded:
        forwarded = connection.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1][:64]
    client = connection.client
    return (client.host if client else "unknown")[:64]


def account_key(login: str) -> str:
    """The throttle key of a login name (case-folded: the names are compared as typed, but ``Admin``≈``admin``)."""
    return "account:" + login.strip().lower()[:64]


def address_key(address: str) -> str:
    """The throttle key of a client address."""
    return "address:" + address


def _retry_after(until: dt.datetime) -> int:
    return max(1, math.ceil((until - dt.datetime.now(dt.UTC)).total_seconds()))


async def sign_in(
    database: Database,
    auth: AuthSettings,
    login: str,
    password: str,
    address: str,
    *,
    entry: str,
    kinds: frozenset[str] | None = None,
    tenant_hint: uuid.UUID | None = None,
) -> SignedIn:
    """Check a password and open a session.

    Args:
        database: the pools.
        auth: the session secret and lifetime.
        login: the login name as typed.
        password: the password as typed.
        address: the client address (for the per-address throttle and the log).
        entry: which sign-in this is (``api``, ``portal``, ``staff``), for the logs and the audit trail.
        kinds: the account kinds this entry admits (others fail like a wrong password); None = all.
        tenant_hint: the tenant an installer or platform admin asks to act for.

    Raises:
        TooManyAttemptsError: 429, the login name or the address is locked.
        LoginFailedError: 401 for anything else that is not a right password of an active account.
    """
    keys = [account_key(login), address_key(address)]
    async with database.login_session(login) as session, session.begin():
        locked = await session.scalar(text("SELECT auth_throttle_locked_until(:keys)"), {"keys": keys})
        account = await session.scalar(select(m.UserAccount).where(m.UserAccount.login == login))
        # The same query whether the account exists or not (equal time).
        memberships = list(
            await session.scalars(
                select(m.Membership.tenant_id).where(m.Membership.user_id == (account.id if account else _NO_USER))
            )
        )
    if locked is not None:
        log.warning("auth.login_locked", login=login[:64], address=address, entry=entry)
        raise TooManyAttemptsError(_retry_after(locked))
    stored_hash = account.password_hash if account is not None else None
    matches = await anyio.to_thread.run_sync(verify_password, stored_hash, password)
    ok = matches and account is not None and account.is_active and (kinds is None or account.kind in kinds)
    if not ok:
        await _failed(database, auth, account, login, address, entry)
        raise LoginFailedError
    assert account is not None
    tenant_id = account.tenant_id
    if account.kind in {"installer", "platform_admin"}:
        # The sign-in lookup scope sees the account row only, not its memberships (RLS admits a user's own
        # rows by its id): read them in the account's own scope, now that the password is right.
        memberships = await _memberships(database, account.id)
        tenant_id = tenant_hint if tenant_hint in memberships else (memberships[0] if memberships else None)
    if account.kind == "regulator" or (account.kind == "platform_admin" and entry == "staff"):
        tenant_id = None
    # The session row (user_session: when, from which address) is the record of a successful sign-in.
    actor = Principal(account.id, Role.VIEWER, tenant_id, None, account.login)
    async with database.session(actor) as session, session.begin():
        await session.execute(text("SELECT auth_throttle_clear(:key)"), {"key": account_key(login)})
        token, session_id = await sessions.open_session(
            session, auth.session_secret, account.id, tenant_id, auth.token_ttl_seconds, address
        )
    log.info("auth.login", login=account.login, address=address, entry=entry)
    return SignedIn(account, memberships, token, session_id, tenant_id)


async def _memberships(database: Database, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The tenants a staff account (installer, platform admin) is a member of, read in its own scope."""
    async with database.session(Principal(user_id, Role.VIEWER)) as session, session.begin():
        found = await session.scalars(select(m.Membership.tenant_id).where(m.Membership.user_id == user_id))
        return list(found)


async def _failed(
    database: Database, auth: AuthSettings, account: m.UserAccount | None, login: str, address: str, entry: str
) -> None:
    """Count the failure against the name and the address; audit it for tenant accounts.

    One transaction whether the account exists or not (the audit row is one more INSERT in it), so a
    failure for a known login takes the time of one for an unknown login.
    """
    tenant_id = account.tenant_id if account is not None else None
    actor = Principal(account.id if account else _NO_USER, Role.VIEWER, tenant_id, None, login[:64])
    async with database.session(actor) as session, session.begin():
        account_lock = await session.scalar(
            text("SELECT auth_throttle_fail(:key, :limit, :window, :lock)"),
            {"key": account_key(login), "limit": auth.account_attempts, "window": WINDOW_S, "lock": ACCOUNT_LOCK_S},
        )
        address_lock = await session.scalar(
            text("SELECT auth_throttle_fail(:key, :limit, :window, :lock)"),
            {"key": address_key(address), "limit": auth.address_attempts, "window": WINDOW_S, "lock": ADDRESS_LOCK_S},
        )
        if account is not None and tenant_id is not None:
            detail: dict[str, object] = {"entry": entry, "address": address}
            audit.record(session, actor, "auth.login_failed", "user", account.id, detail, tenant_id=tenant_id)
            if account_lock is not None:
                until = {"until": account_lock.isoformat(), "address": address}
                audit.record(session, actor, "auth.locked", "user", account.id, until, tenant_id=tenant_id)
    log.warning("auth.login_failed", login=login[:64], address=address, entry=entry, locked=account_lock is not None)
    if address_lock is not None:
        log.warning("auth.address_locked", address=address, until=address_lock.isoformat())


async def unlock(session: Any, login: str) -> bool:
    """Clear a login name's failure counter and lockout (in the caller's transaction); True if it was locked."""
    return bool(await session.scalar(text("SELECT auth_throttle_clear(:key)"), {"key": account_key(login)}))
