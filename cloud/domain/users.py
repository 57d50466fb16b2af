"""Tenant users and roles: list, invite, change role or deactivate, reset a password.

Everything runs in the caller's session, so row-level security confines it to the caller's tenant
and the audit row commits with the change. Temporary passwords are returned once and stored only
as argon2 hashes; the account must change it at the next login.

Sessions (cloud/auth/sessions.py) end with the change that makes them stale, in the same transaction:
a role change, a deactivation and a password reset end every session of the member; changing one's
own password ends every other session of the account; an administrator can also end a member's
sessions or lift a login lockout explicitly (issue 17).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import login as login_throttle
from cloud.auth import sessions
from cloud.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, temporary_password, verify_password
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import require_tenant
from cloud.lib.problems import FieldError, ProblemError, not_found
from tenants.context import Principal, Role

if TYPE_CHECKING:
    from cloud.db.engine import Database

#: Roles a tenant administrator may hand out.
INVITABLE_ROLES = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER})


@dataclass(frozen=True)
class TenantUser:
    """A member of the tenant as the API shows it."""

    account: m.UserAccount
    role: Role


@dataclass(frozen=True)
class IssuedPassword:
    """A member and the one-time temporary password just issued for it."""

    user: TenantUser
    temporary_password: str


async def list_users(session: AsyncSession, principal: Principal) -> list[TenantUser]:
    """Every account of the caller's tenant with its role, by login."""
    tenant_id = require_tenant(principal)
    rows = await session.execute(
        select(m.UserAccount, m.Membership.role)
        .join(m.Membership, m.Membership.user_id == m.UserAccount.id)
        .where(m.Membership.tenant_id == tenant_id, m.UserAccount.tenant_id == tenant_id)
        .order_by(m.UserAccount.login)
    )
    return [TenantUser(account, Role(role)) for account, role in rows]


async def _member(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[m.UserAccount, m.Membership]:
    row = (
        await session.execute(
            select(m.UserAccount, m.Membership)
            .join(m.Membership, m.Membership.user_id == m.UserAccount.id)
            .where(
                m.Membership.tenant_id == tenant_id,
                m.UserAccount.tenant_id == tenant_id,
                m.UserAccount.id == user_id,
            )
            .with_for_update(of=m.Membership)
        )
    ).first()
    if row is None:
        raise not_found("用户")
    return row[0], row[1]


async def invite_user(
    session: AsyncSession, principal: Principal, login: str, display_name: str, role: Role
) -> IssuedPassword:
    """Create an account in the caller's tenant with a one-time temporary password.

    Raises:
        ProblemError: 422 for a role that cannot be invited, 409 when the login is taken.
    """
    tenant_id = require_tenant(principal)
    if role not in INVITABLE_ROLES:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            f"不能邀请角色“{role.label}”",
            [FieldError("role", "role.not_invitable", "只能邀请企业管理员、环保管理员、门岗或只读用户")],
        )
    password = temporary_password()
    account = m.UserAccount(
        login=login,
        display_name=display_name,
        password_hash=hash_password(password),
        kind="tenant",
        tenant_id=tenant_id,
        is_active=True,
        must_change_password=True,
    )
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:
        raise ProblemError(
            409,
            "login_taken",
            "登录名已被使用",
            f"登录名“{login}”已被使用，请换一个",
            [FieldError("login", "login.taken", "登录名已被使用")],
        ) from None
    session.add(m.Membership(tenant_id=tenant_id, user_id=account.id, role=role.value))
    audit.record(session, principal, "user.invited", "user", account.id, {"login": login, "role": role.value})
    return IssuedPassword(TenantUser(account, role), password)


async def _active_admins(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(m.Membership)
        .join(m.UserAccount, m.UserAccount.id == m.Membership.user_id)
        .where(
            m.Membership.tenant_id == tenant_id,
            m.Membership.role == Role.TENANT_ADMIN.value,
            m.UserAccount.is_active.is_(True),
        )
    )
    return count or 0


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    role: Role | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
) -> TenantUser:
    """Change a member's role, active flag or display name.

    Nobody changes their own role or deactivates themselves, and the tenant keeps at least one
    active administrator (a tenant nobody can administer needs a platform ticket to recover).

    Raises:
        ProblemError: 404 for a user outside the tenant, 422 for a role that cannot be given,
            409 for a change that would lock the tenant out.
    """
    tenant_id = require_tenant(principal)
    account, membership = await _member(session, tenant_id, user_id)
    if role is not None and role not in INVITABLE_ROLES:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            f"不能授予角色“{role.label}”",
            [FieldError("role", "role.not_invitable", "只能授予企业管理员、环保管理员、门岗或只读用户角色")],
        )
    is_self = account.id == principal.user_id
    if is_self and ((role is not None and role.value != membership.role) or is_active is False):
        raise ProblemError(409, "self_change", "不能修改自己的角色或状态", "不能修改自己的角色，也不能停用自己的账号")
    changes: dict[str, object] = {}
    if role is not None and role.value != membership.role:
        changes["role"] = {"from": membership.role, "to": role.value}
        membership.role = role.value
    if is_active is not None and is_active != account.is_active:
        changes["is_active"] = is_active
        account.is_active = is_active
    if display_name is not None and display_name != account.display_name:
        changes["display_name"] = display_name
        account.display_name = display_name
    if changes:
        await session.flush()
        if await _active_admins(session, tenant_id) == 0:
            raise ProblemError(409, "last_admin", "至少保留一名企业管理员", "该操作会使企业没有可用的企业管理员")
        if "role" in changes or changes.get("is_active") is False:
            reason = sessions.ROLE_CHANGED if "role" in changes else sessions.DEACTIVATED
            changes["sessions_ended"] = await sessions.revoke_user(session, account.id, reason)
        audit.record(session, principal, "user.updated", "user", account.id, changes)
    return TenantUser(account, Role(membership.role))


async def reset_password(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> IssuedPassword:
    """Issue a new one-time temporary password for a member (it must be changed at next login).

    Raises:
        ProblemError: 404 for a user outside the tenant, 409 for one's own account (use the
            password change instead, which asks for the old password).
    """
    tenant_id = require_tenant(principal)
    account, membership = await _member(session, tenant_id, user_id)
    if account.id == principal.user_id:
        raise ProblemError(409, "self_reset", "不能重置自己的密码", "请通过“修改密码”更改自己的密码")
    password = temporary_password()
    account.password_hash = hash_password(password)
    account.must_change_password = True
    ended = await sessions.revoke_user(session, account.id, sessions.PASSWORD_RESET)
    await login_throttle.unlock(session, account.login)
    audit.record(session, principal, "user.password_reset", "user", account.id, {"sessions_ended": ended})
    return IssuedPassword(TenantUser(account, Role(membership.role)), password)


async def end_sessions(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> int:
    """End every session of a member (e.g. a lost phone); returns how many ended.

    Raises:
        ProblemError: 404 for a user outside the tenant.
    """
    tenant_id = require_tenant(principal)
    account, _ = await _member(session, tenant_id, user_id)
    ended = await sessions.revoke_user(session, account.id, sessions.ADMIN)
    audit.record(session, principal, "user.sessions_ended", "user", account.id, {"sessions_ended": ended})
    return ended


async def unlock(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> bool:
    """Lift the login lockout of a member (too many wrong passwords); True when it was locked.

    Raises:
        ProblemError: 404 for a user outside the tenant.
    """
    tenant_id = require_tenant(principal)
    account, _ = await _member(session, tenant_id, user_id)
    was_locked = await login_throttle.unlock(session, account.login)
    audit.record(session, principal, "user.unlocked", "user", account.id, {"was_locked": was_locked})
    return was_locked


async def change_own_password(
    database: Database,
    principal: Principal,
    old_password: str,
    new_password: str,
    *,
    keep_session: uuid.UUID | None = None,
) -> None:
    """Change the caller's own password (the old one is required); clears "must change at next login".

    Every session of the account ends except ``keep_session`` (the one making the change).

    Runs in the app pool even for regulators: the account row admits its owner (id = app.user_id).

    Raises:
        ProblemError: 422 ``password_too_short`` (field ``new_password``) or ``password_mismatch``
            (field ``old_password``); nothing is written then.
    """
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise ProblemError(
            422,
            "password_too_short",
            "密码过短",
            f"新密码至少 {MIN_PASSWORD_LENGTH} 位",
            [FieldError("new_password", "too_short", f"至少 {MIN_PASSWORD_LENGTH} 位")],
        )
    self_scope = Principal(principal.user_id, Role.VIEWER, principal.tenant_id, None, principal.login)
    async with database.session(self_scope) as session, session.begin():
        account = await session.get(m.UserAccount, principal.user_id)
        stored = account.password_hash if account is not None else None
        if account is None or not await anyio.to_thread.run_sync(verify_password, stored, old_password):
            raise ProblemError(
                422,
                "password_mismatch",
                "原密码错误",
                "原密码不正确",
                [FieldError("old_password", "mismatch", "原密码不正确")],
            )
        account.password_hash = await anyio.to_thread.run_sync(hash_password, new_password)
        account.must_change_password = False
        ended = await sessions.revoke_user(session, account.id, sessions.PASSWORD_CHANGED, keep=keep_session)
        if principal.tenant_id is not None:
            detail = {"sessions_ended": ended}
            audit.record(session, principal, "user.password_changed", "user", principal.user_id, detail)
