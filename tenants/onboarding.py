"""Tenant lifecycle: onboarding an enterprise with its first administrator, and staff accounts.

Onboarding runs under a principal scoped to the new tenant's (pre-generated) id, so the RLS
WITH CHECK policies admit exactly the rows of that tenant and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hj1321.errors import InvalidValueError
from tenants.context import Principal, Role
from tenants.ids import new_id
from tenants.models import Membership, Tenant, UserAccount

SessionFor = Callable[[Principal], AbstractAsyncContextManager[AsyncSession]]
GRADES = ("A", "B", "B-", "C", "D", "引领性")


@dataclass(frozen=True)
class TenantSpec:
    """What onboarding needs to know about an enterprise."""

    name: str
    uscc: str
    industry: str
    region_code: str
    grade: str
    key_vehicle_unit: bool = True
    plan: str = "standard"


@dataclass(frozen=True)
class AccountSpec:
    """A new login; ``password_hash`` is made by the caller (cloud.auth.passwords)."""

    login: str
    display_name: str
    password_hash: str
    must_change_password: bool = False


def _check_tenant(spec: TenantSpec) -> None:
    if spec.grade not in GRADES:
        raise InvalidValueError("tenant.grade", f"绩效分级“{spec.grade}”无效，应为 {'/'.join(GRADES)}", spec.grade)
    if not spec.name.strip():
        raise InvalidValueError("tenant.name", "企业名称不能为空", spec.name)


async def _add_tenant_account(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, account: AccountSpec, role: Role
) -> None:
    """Add a tenant user's account and its membership to the session's transaction."""
    session.add(
        UserAccount(
            id=user_id,
            login=account.login,
            display_name=account.display_name,
            password_hash=account.password_hash,
            kind="tenant",
            tenant_id=tenant_id,
            must_change_password=account.must_change_password,
        )
    )
    await session.flush()
    session.add(Membership(tenant_id=tenant_id, user_id=user_id, role=role.value))


async def onboard_tenant(session_for: SessionFor, spec: TenantSpec, admin: AccountSpec, actor: Principal) -> uuid.UUID:
    """Create the tenant, its first administrator and the membership, in one transaction."""
    _check_tenant(spec)
    tenant_id = new_id()
    admin_id = new_id()
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with session_for(scope) as session, session.begin():
        session.add(
            Tenant(
                id=tenant_id,
                name=spec.name,
                uscc=spec.uscc,
                industry=spec.industry,
                region_code=spec.region_code,
                grade=spec.grade,
                key_vehicle_unit=spec.key_vehicle_unit,
                plan=spec.plan,
                status="active",
                settings={},
            )
        )
        await session.flush()
        await _add_tenant_account(session, tenant_id, admin_id, admin, Role.TENANT_ADMIN)
    return tenant_id


async def create_staff_account(
    session_for: SessionFor, account: AccountSpec, kind: str, region_code: str | None = None
) -> uuid.UUID:
    """Create a platform admin, installer or regulator account (no tenant)."""
    if kind not in {"platform_admin", "installer", "regulator"}:
        raise InvalidValueError("account.kind", f"账号类型“{kind}”无效", kind)
    if (kind == "regulator") != (region_code is not None):
        raise InvalidValueError("account.region", "监管账号必须且只能指定行政区划", region_code)
    user_id = new_id()
    scope = Principal(user_id=user_id, role=Role.VIEWER)
    async with session_for(scope) as session, session.begin():
        session.add(
            UserAccount(
                id=user_id,
                login=account.login,
                display_name=account.display_name,
                password_hash=account.password_hash,
                kind=kind,
                tenant_id=None,
                region_code=region_code,
                must_change_password=account.must_change_password,
            )
        )
    return user_id


async def add_tenant_user(
    session_for: SessionFor, tenant_id: uuid.UUID, account: AccountSpec, role: Role, actor: Principal
) -> uuid.UUID:
    """Create a user inside a tenant with a role."""
    if role not in {Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER}:
        raise InvalidValueError("account.role", f"企业用户角色“{role}”无效", role)
    user_id = new_id()
    scope = Principal(user_id=actor.user_id, role=actor.role, tenant_id=tenant_id, login=actor.login)
    async with session_for(scope) as session, session.begin():
        await _add_tenant_account(session, tenant_id, user_id, account, role)
    return user_id


async def add_membership(
    session_for: SessionFor, tenant_id: uuid.UUID, user_id: uuid.UUID, role: Role, actor: Principal
) -> None:
    """Grant an existing account (e.g. an installer) a role in a tenant."""
    scope = Principal(user_id=actor.user_id, role=actor.role, tenant_id=tenant_id, login=actor.login)
    async with session_for(scope) as session, session.begin():
        session.add(Membership(tenant_id=tenant_id, user_id=user_id, role=role.value))
