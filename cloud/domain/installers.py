"""Installers (安装调试人员): staff accounts that serve several enterprises (issue 19, the installer's walk).

An installer is a staff account (``user_account.kind = 'installer'``, no tenant of its own) with one
``membership`` row of role ``installer`` per enterprise it may serve. The platform admin creates the
account and grants or withdraws an enterprise (the admin portal's 安装人员 page); the installer signs in
at the staff entry and picks the enterprise to act for (:func:`enterprises_of`, then a session for that
tenant: :func:`cloud.auth.login.switch_tenant`).

Row-level security holds throughout: a grant is written in a session scoped to the granted tenant (its
``WITH CHECK``), the account is found by its login name through the sign-in lookup scope (the one row
of that name), each grant is audited in the tenant's own log (``installer.granted`` /
``installer.revoked``), and listing reads the memberships through the regulator role province by
province (read-only, as the admin's fleet view) and each installer's own row through a self scope.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from cloud.auth import sessions
from cloud.db import models as m
from cloud.domain import audit
from cloud.lib.problems import FieldError, ProblemError
from tenants.context import Principal, Role
from tenants.models import Region
from tenants.onboarding import AccountSpec, create_staff_account

if TYPE_CHECKING:
    from cloud.db.engine import Database
    from cloud.settings import AuthSettings

__all__ = ["Enterprise", "Grant", "act_for", "create", "enterprises_of", "grant", "grants", "revoke"]

KIND: Final = "installer"


@dataclass(frozen=True)
class Enterprise:
    """An enterprise an installer may serve."""

    tenant_id: uuid.UUID
    name: str


@dataclass(frozen=True)
class Grant:
    """One installer's access to one enterprise."""

    user_id: uuid.UUID
    login: str
    display_name: str
    active: bool
    tenant_id: uuid.UUID
    tenant_name: str


def _field(field: str, message: str, status: int = 422, code: str = "validation_failed") -> ProblemError:
    return ProblemError(status, code, "数据校验未通过", message, [FieldError(field=field, code=code, message=message)])


async def create(database: Database, actor: Principal, account: AccountSpec, tenant_id: uuid.UUID | None) -> uuid.UUID:
    """A new installer account (one-time password in ``account``), granted ``tenant_id`` when given.

    Raises:
        ProblemError: 409 ``login_taken`` on the ``login`` field; those of :func:`grant`.
    """
    try:
        user_id = await create_staff_account(database.session, account, KIND)
    except IntegrityError as exc:
        raise _field("login", "该登录名已被占用", 409, "login_taken") from exc
    if tenant_id is not None:
        await grant(database, actor, account.login, tenant_id)
    return user_id


async def _account(database: Database, login: str) -> m.UserAccount | None:
    async with database.login_session(login) as session, session.begin():
        return await session.scalar(select(m.UserAccount).where(m.UserAccount.login == login))


async def grant(database: Database, actor: Principal, login: str, tenant_id: uuid.UUID) -> uuid.UUID:
    """Let the installer named ``login`` serve ``tenant_id`` (audited in that tenant's log); its user id.

    Raises:
        ProblemError: 422 on ``login`` (no installer of that name), 404 on ``tenant_id`` (no such
            enterprise), 409 on ``tenant_id`` (already granted).
    """
    account = await _account(database, login.strip())
    if account is None or account.kind != KIND:
        raise _field("login", "没有这个安装人员账号（请先新建）")
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with database.session(scope) as session, session.begin():
        tenant = await session.scalar(select(m.Tenant).where(m.Tenant.id == tenant_id))
        if tenant is None:
            raise _field("tenant_id", "企业不存在", 404, "not_found")
        existing = await session.scalar(
            select(m.Membership.role).where(m.Membership.tenant_id == tenant_id, m.Membership.user_id == account.id)
        )
        if existing is not None:
            raise _field("tenant_id", f"该账号已可服务“{tenant.name}”", 409, "already_granted")
        session.add(m.Membership(tenant_id=tenant_id, user_id=account.id, role=Role.INSTALLER.value))
        detail = {"login": account.login, "name": account.display_name}
        audit.record(session, scope, "installer.granted", "user", account.id, detail, tenant_id=tenant_id)
    return account.id


async def revoke(database: Database, actor: Principal, user_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Withdraw an installer's access to ``tenant_id``; its open sessions end. False when there was none."""
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with database.session(scope) as session, session.begin():
        gone = await session.execute(
            delete(m.Membership)
            .where(
                m.Membership.tenant_id == tenant_id,
                m.Membership.user_id == user_id,
                m.Membership.role == Role.INSTALLER.value,
            )
            .returning(m.Membership.user_id)
        )
        if gone.first() is None:
            return False
        audit.record(session, scope, "installer.revoked", "user", user_id, {}, tenant_id=tenant_id)
        # A session acting for the withdrawn enterprise must not outlive the grant (the simplest sure way:
        # every session of the account ends; the installer signs in again for the others).
        await sessions.revoke_user(session, user_id, sessions.ROLE_CHANGED)
    return True


async def grants(database: Database, actor: Principal) -> list[Grant]:
    """Every installer's enterprises, by installer login then enterprise name (read-only)."""
    found: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    async with database.session(actor) as session, session.begin():
        provinces = list((await session.scalars(select(Region.code).where(Region.level == "province"))).all())
    for province in provinces:
        scope = Principal(user_id=actor.user_id, role=Role.REGULATOR, region_code=province, login=actor.login)
        async with database.session(scope) as session, session.begin():
            rows = await session.execute(
                select(m.Membership.user_id, m.Membership.tenant_id, m.Tenant.name)
                .join(m.Tenant, m.Tenant.id == m.Membership.tenant_id)
                .where(m.Membership.role == Role.INSTALLER.value)
            )
            found.extend((r.user_id, r.tenant_id, r.name) for r in rows)
    accounts: dict[uuid.UUID, m.UserAccount] = {}
    for user_id in {f[0] for f in found}:
        async with database.session(Principal(user_id=user_id, role=Role.VIEWER)) as session, session.begin():
            account = await session.get(m.UserAccount, user_id)
            if account is not None and account.kind == KIND:
                accounts[user_id] = account
    out = [
        Grant(uid, accounts[uid].login, accounts[uid].display_name, accounts[uid].is_active, tid, name)
        for uid, tid, name in found
        if uid in accounts
    ]
    return sorted(out, key=lambda g: (g.login, g.tenant_name))


async def enterprises_of(database: Database, user_id: uuid.UUID) -> list[Enterprise]:
    """The enterprises an installer may serve (its own memberships; each name read in that tenant's scope)."""
    async with database.session(Principal(user_id=user_id, role=Role.VIEWER)) as session, session.begin():
        tenant_ids = list(
            await session.scalars(
                select(m.Membership.tenant_id).where(
                    m.Membership.user_id == user_id, m.Membership.role == Role.INSTALLER.value
                )
            )
        )
    out: list[Enterprise] = []
    for tenant_id in tenant_ids:
        scope = Principal(user_id=user_id, role=Role.INSTALLER, tenant_id=tenant_id)
        async with database.session(scope) as session, session.begin():
            name = await session.scalar(select(m.Tenant.name).where(m.Tenant.id == tenant_id))
        if name is not None:
            out.append(Enterprise(tenant_id, name))
    return sorted(out, key=lambda e: e.name)


async def act_for(
    database: Database,
    auth: AuthSettings,
    user_id: uuid.UUID,
    old_session: uuid.UUID,
    tenant_id: uuid.UUID,
    address: str,
) -> str:
    """Switch a signed-in installer to another of its enterprises: a new session for ``tenant_id`` (its token),
    the old one ended. The membership is checked in the account's own scope.

    Raises:
        ProblemError: 403 ``not_granted`` when the account may not serve ``tenant_id``.
    """
    async with database.session(Principal(user_id=user_id, role=Role.VIEWER)) as session, session.begin():
        role = await session.scalar(
            select(m.Membership.role).where(m.Membership.user_id == user_id, m.Membership.tenant_id == tenant_id)
        )
        if role != Role.INSTALLER.value:
            raise ProblemError(403, "not_granted", "无权访问", "当前账号未获准服务该企业，请联系平台管理员")
    actor = Principal(user_id=user_id, role=Role.VIEWER, tenant_id=tenant_id)
    async with database.session(actor) as session, session.begin():
        token, _ = await sessions.open_session(
            session, auth.session_secret, user_id, tenant_id, auth.token_ttl_seconds, address
        )
        await sessions.revoke(session, old_session, sessions.LOGOUT)
    return token
