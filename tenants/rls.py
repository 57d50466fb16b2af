"""The one place that sets the tenant for a database transaction.

A listener on our Session class runs ``set_config(..., true)`` (transaction-local, bound parameters)
at the start of every transaction from ``session.info``. A transaction that begins with neither a
principal's settings nor an explicit, logged system scope raises :class:`MissingTenantError`: in
request and job paths a missing tenant is a bug, and RLS would otherwise hide it behind empty results.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session, SessionTransaction

from tenants.context import MissingTenantError, Principal

log = structlog.get_logger(__name__)

_SETTINGS_KEY = "ecogate.db_settings"
#: System-scope reasons already logged at info level by this process.
_LOGGED_REASONS: set[str] = set()
_SYSTEM_KEY = "ecogate.system_reason"
_SQL = (
    "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true), "
    "set_config('app.region_code', $3, true), set_config('app.login', $4, true)"
)


class TenantSession(Session):
    """The ORM session class every AsyncSession of ours uses (``sync_session_class``)."""


def bind_principal(session: Session, principal: Principal) -> None:
    """Scope every later transaction of ``session`` to ``principal``."""
    session.info[_SETTINGS_KEY] = principal.db_settings()
    session.info.pop(_SYSTEM_KEY, None)


def bind_login_lookup(session: Session, login: str) -> None:
    """Scope the session to the single account row named ``login`` (authentication only)."""
    session.info[_SETTINGS_KEY] = {"app.tenant_id": "", "app.user_id": "", "app.region_code": "", "app.login": login}


def bind_system(session: Session, reason: str) -> None:
    """Mark a session as a deliberate system scope (no tenant); the reason is logged."""
    if not reason:
        raise ValueError("a system scope needs a reason")
    session.info[_SYSTEM_KEY] = reason
    session.info.pop(_SETTINGS_KEY, None)


@event.listens_for(TenantSession, "after_begin")
def _apply_settings(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    settings: dict[str, str] | None = session.info.get(_SETTINGS_KEY)
    if settings is None:
        reason: Any = session.info.get(_SYSTEM_KEY)
        if reason is None:
            raise MissingTenantError("数据库事务缺少租户上下文（未绑定身份）")
        # Info the first time per reason in a process, debug after: the job and uplink runners open one
        # every second or so, and the line said nothing new after the first.
        if reason in _LOGGED_REASONS:
            log.debug("system scope transaction", reason=reason)
        else:
            _LOGGED_REASONS.add(reason)
            log.info("system scope transaction", reason=reason)
        settings = {"app.tenant_id": "", "app.user_id": "", "app.region_code": "", "app.login": ""}
    connection.exec_driver_sql(
        _SQL,
        (settings["app.tenant_id"], settings["app.user_id"], settings["app.region_code"], settings["app.login"]),
    )


async def scope_connection(connection: AsyncConnection, principal: Principal) -> None:
    """Scope the current transaction of a Core connection to ``principal`` (sessions use the listener).

    For hot paths that write with Core statements on a connection of their own (the hub's ingest);
    the same transaction-local settings as every session's.
    """
    if not connection.in_transaction():
        raise MissingTenantError("租户上下文只能设置在事务内")
    settings = principal.db_settings()
    await connection.exec_driver_sql(
        _SQL,
        (settings["app.tenant_id"], settings["app.user_id"], settings["app.region_code"], settings["app.login"]),
    )
