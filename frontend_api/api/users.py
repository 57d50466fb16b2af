"""Tenant users and roles (tenant administrators), onboarding (platform admins) and the region list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar import delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.domain import onboarding, users
from frontend_api.api.schemas import TENANT_ADMIN_ONLY, Name
from tenants.context import Principal, Role

if TYPE_CHECKING:
    from cloud.db import models as m

Login = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@\-]*$",
        description="登录名（字母、数字及 _ . @ -）",
    ),
]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="姓名")]
TenantRole = Literal["tenant_admin", "manager", "guard", "viewer"]


class UserInvite(msgspec.Struct, forbid_unknown_fields=True):
    """A new account in the caller's tenant."""

    login: Login
    display_name: DisplayName
    role: TenantRole


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a member: role, active flag, display name (absent = unchanged)."""

    role: TenantRole | None = None
    is_active: bool | None = None
    display_name: DisplayName | None = None


class UserOut(msgspec.Struct):
    """A member of the tenant."""

    id: uuid.UUID
    login: str
    display_name: str
    role: str
    role_label: str
    is_active: bool
    must_change_password: bool
    created_at: dt.datetime


class UserWithPassword(msgspec.Struct):
    """A member and a temporary password shown exactly once (it must be changed at first login)."""

    user: UserOut
    temporary_password: str


def _user(u: users.TenantUser) -> UserOut:
    a = u.account
    return UserOut(
        a.id, a.login, a.display_name, u.role.value, u.role.label, a.is_active, a.must_change_password, a.created_at
    )


def _issued(issued: users.IssuedPassword) -> UserWithPassword:
    return UserWithPassword(_user(issued.user), issued.temporary_password)


@get("/users", operation_id="ListUsers", opt=TENANT_ADMIN_ONLY)
async def list_users(session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]) -> list[UserOut]:
    """List the accounts of the caller's tenant."""
    async with session.begin():
        rows = await users.list_users(session, principal)
    return [_user(u) for u in rows]


@post("/users", operation_id="InviteUser", opt=TENANT_ADMIN_ONLY)
async def invite_user(
    data: JSONBody[UserInvite], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> UserWithPassword:
    """Create an account with a one-time temporary password (returned only in this response)."""
    async with session.begin():
        issued = await users.invite_user(session, principal, data.login, data.display_name, Role(data.role))
    return _issued(issued)


@patch("/users/{user_id:uuid}", operation_id="UpdateUser", opt=TENANT_ADMIN_ONLY)
async def update_user(
    user_id: FromPath[uuid.UUID],
    data: JSONBody[UserPatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> UserOut:
    """Change a member's role, deactivate or reactivate it, or rename it."""
    async with session.begin():
        user = await users.update_user(
            session,
            principal,
            user_id,
            role=Role(data.role) if data.role else None,
            is_active=data.is_active,
            display_name=data.display_name,
        )
    return _user(user)


@post("/users/{user_id:uuid}/password-reset", operation_id="ResetUserPassword", opt=TENANT_ADMIN_ONLY, status_code=200)
async def reset_password(
    user_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> UserWithPassword:
    """Issue a new temporary password for a member (returned only in this response)."""
    async with session.begin():
        issued = await users.reset_password(session, principal, user_id)
    return _issued(issued)


class SessionsEnded(msgspec.Struct):
    """How many sessions of the member ended."""

    sessions_ended: int


class Unlocked(msgspec.Struct):
    """Whether the member's login name was locked (too many wrong passwords) before this call."""

    was_locked: bool


@delete("/users/{user_id:uuid}/sessions", operation_id="EndUserSessions", opt=TENANT_ADMIN_ONLY, status_code=200)
async def end_user_sessions(
    user_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> SessionsEnded:
    """End every session of a member at once (their tokens and portal cookies stop working; audited)."""
    async with session.begin():
        ended = await users.end_sessions(session, principal, user_id)
    return SessionsEnded(ended)


@delete("/users/{user_id:uuid}/lockout", operation_id="UnlockUser", opt=TENANT_ADMIN_ONLY, status_code=200)
async def unlock_user(
    user_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> Unlocked:
    """Lift a member's login lockout after too many wrong passwords (audited)."""
    async with session.begin():
        was_locked = await users.unlock(session, principal, user_id)
    return Unlocked(was_locked)


# Platform administration ------------------------------------------------------------------------

Uscc = Annotated[str, msgspec.Meta(min_length=1, max_length=24, description="统一社会信用代码（18 位）")]


class TenantIn(msgspec.Struct, forbid_unknown_fields=True):
    """An enterprise to onboard, with the login of its first administrator."""

    name: Name
    uscc: Uscc
    industry: Annotated[str, msgspec.Meta(min_length=1, max_length=40, description="行业（代码或中文名）")]
    region_code: Annotated[str, msgspec.Meta(min_length=2, max_length=6, description="行政区划代码 GB/T 2260")]
    grade: Annotated[str, msgspec.Meta(min_length=1, max_length=8, description="绩效分级 A/B/B-/C/D/引领性")]
    admin_login: Login
    key_vehicle_unit: bool = True
    plan: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="套餐")] = "standard"
    admin_display_name: DisplayName = "企业管理员"


class TenantOut(msgspec.Struct):
    """An onboarded enterprise and its first administrator's one-time temporary password."""

    id: uuid.UUID
    name: str
    uscc: str
    industry: str
    region_code: str
    grade: str
    key_vehicle_unit: bool
    plan: str
    admin_login: str
    temporary_password: str


@post("/admin/tenants", operation_id="OnboardTenant", opt={"roles": frozenset({Role.PLATFORM_ADMIN})})
async def onboard_tenant(
    data: JSONBody[TenantIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
) -> TenantOut:
    """Onboard an enterprise with its first administrator (platform admins only; audited)."""
    application = onboarding.TenantApplication(
        name=data.name,
        uscc=data.uscc,
        industry=data.industry,
        region_code=data.region_code,
        grade=data.grade,
        key_vehicle_unit=data.key_vehicle_unit,
        plan=data.plan,
        admin_login=data.admin_login,
        admin_display_name=data.admin_display_name,
    )
    done = await onboarding.onboard(state.database, session, principal, application)
    s = done.spec
    return TenantOut(
        done.tenant_id,
        s.name,
        s.uscc,
        s.industry,
        s.region_code,
        s.grade,
        s.key_vehicle_unit,
        s.plan,
        done.admin_login,
        done.temporary_password,
    )


class RegionOut(msgspec.Struct):
    """A GB/T 2260 administrative division."""

    code: str
    name: str
    full_name: str
    level: str
    parent_code: str | None


def _region(r: m.Region) -> RegionOut:
    return RegionOut(r.code, r.name, r.full_name, r.level, r.parent_code)


@get("/regions", operation_id="ListRegions")
async def list_regions(
    session: NamedDependency[AsyncSession],
    parent: Annotated[str | None, QueryParameter(max_length=6, description="上级行政区划代码")] = None,
) -> list[RegionOut]:
    """Provinces, or the divisions directly under ``parent`` (any signed-in user)."""
    async with session.begin():
        rows = await onboarding.list_regions(session, parent)
    return [_region(r) for r in rows]


HANDLERS = [
    list_users,
    invite_user,
    update_user,
    reset_password,
    end_user_sessions,
    unlock_user,
    onboard_tenant,
    list_regions,
]
