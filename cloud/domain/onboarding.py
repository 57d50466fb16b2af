"""Platform-admin onboarding of an enterprise, and the region reference data.

Onboarding crosses tenants (the tenant does not exist yet), so it goes through the separate,
audited path of :func:`tenants.onboarding.onboard_tenant`: a session scoped to the new tenant's
pre-generated id, in one transaction that also writes the new tenant's first audit row.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cloud.auth.passwords import hash_password, temporary_password
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit
from cloud.domain.common import FieldErrors
from cloud.lib.problems import FieldError, ProblemError
from hj1321.errors import InvalidValueError
from hj1321.grading import PerformanceGrade
from hj1321.identifiers import parse_uscc
from hj1321.industries import parse_industry
from hj1321.regions import parse_region
from tenants.context import Principal
from tenants.onboarding import GRADES, AccountSpec, TenantSpec, onboard_tenant

#: The grade spelling the tenant table stores for 引领性 (tenants.onboarding.GRADES).
_LEADING = "引领性"


@dataclass(frozen=True)
class TenantApplication:
    """What a platform admin submits to onboard an enterprise (raw, validated here)."""

    name: str
    uscc: str
    industry: str
    region_code: str
    grade: str
    key_vehicle_unit: bool
    plan: str
    admin_login: str
    admin_display_name: str


@dataclass(frozen=True)
class OnboardedTenant:
    """The new tenant and its first administrator's one-time temporary password."""

    tenant_id: uuid.UUID
    spec: TenantSpec
    admin_login: str
    temporary_password: str


def _grade(raw: object) -> str:
    grade = PerformanceGrade.parse(raw)
    value = _LEADING if grade is PerformanceGrade.LEADING else str(grade.value)
    if value not in GRADES:  # the tenant table and hj1321 must agree; fail loudly if they drift
        raise InvalidValueError("performance_grade.unknown", f"未知的绩效分级“{raw}”", raw)
    return value


async def validate_application(session: AsyncSession, app: TenantApplication) -> TenantSpec:
    """Check an application against hj1321 and the region table; 422 listing every bad field."""
    errors = FieldErrors()
    name = app.name.strip()
    if not name:
        errors.add("name", "name.empty", "企业名称不能为空")
    uscc = errors.check("uscc", parse_uscc, app.uscc)
    industry = errors.check("industry", parse_industry, app.industry)
    region = errors.check("region_code", parse_region, app.region_code)
    if region is not None:
        known = await session.scalar(select(m.Region.code).where(m.Region.code == region.code))
        if known is None:
            errors.add("region_code", "region.unknown", f"行政区划代码“{app.region_code}”不在区划表中")
    grade = errors.check("grade", _grade, app.grade)
    errors.raise_if_any()
    assert uscc is not None
    assert industry is not None
    assert region is not None
    assert grade is not None
    return TenantSpec(
        name=name,
        uscc=uscc,
        industry=industry.code,
        region_code=region.code,
        grade=grade,
        key_vehicle_unit=app.key_vehicle_unit,
        plan=app.plan,
    )


def _conflict(exc: IntegrityError, app: TenantApplication) -> ProblemError:
    text = str(exc.orig)
    if "uq_tenant_uscc" in text:
        return ProblemError(
            409,
            "tenant_exists",
            "企业已存在",
            f"统一社会信用代码“{app.uscc}”的企业已开通",
            [FieldError("uscc", "uscc.taken", "该统一社会信用代码的企业已开通")],
        )
    if "uq_user_account_login" in text:
        return ProblemError(
            409,
            "login_taken",
            "登录名已被使用",
            f"登录名“{app.admin_login}”已被使用，请换一个",
            [FieldError("admin_login", "login.taken", "登录名已被使用")],
        )
    return ProblemError(409, "conflict", "数据冲突", "数据与已有记录冲突")


async def onboard(
    database: Database, session: AsyncSession, actor: Principal, app: TenantApplication
) -> OnboardedTenant:
    """Onboard an enterprise with its first administrator (temporary password, must change it).

    Raises:
        ProblemError: 422 for invalid fields, 409 when the credit code or the login is taken.
    """
    async with session.begin():
        spec = await validate_application(session, app)
    password = temporary_password()
    admin = AccountSpec(
        login=app.admin_login,
        display_name=app.admin_display_name,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    detail: dict[str, Any] = {
        "name": spec.name,
        "uscc": spec.uscc,
        "region_code": spec.region_code,
        "grade": spec.grade,
        "admin_login": app.admin_login,
    }

    @asynccontextmanager
    async def audited_session(scope: Principal) -> AsyncIterator[AsyncSession]:
        # The tenant's first audit row joins onboarding's own transaction (before_commit adds it,
        # the commit flushes it), so a tenant never exists without the record of who created it.
        async with database.session(scope) as new_session:

            def _audit(_sync: Session) -> None:
                audit.record(
                    new_session, actor, "tenant.onboarded", "tenant", scope.tenant_id, detail, tenant_id=scope.tenant_id
                )

            event.listen(new_session.sync_session, "before_commit", _audit, once=True)
            yield new_session

    try:
        tenant_id = await onboard_tenant(audited_session, spec, admin, actor)
    except IntegrityError as exc:
        raise _conflict(exc, app) from None
    return OnboardedTenant(tenant_id, spec, app.admin_login, password)


async def list_regions(session: AsyncSession, parent: str | None) -> list[m.Region]:
    """Provinces, or the children of ``parent`` (2/4/6-digit GB/T 2260 code, ``420100`` = ``4201``).

    Raises:
        ProblemError: 422 for a malformed or unknown parent code.
    """
    query = select(m.Region).order_by(m.Region.code)
    if parent is None:
        query = query.where(m.Region.parent_code.is_(None))
    else:
        errors = FieldErrors()
        region = errors.check("parent", parse_region, parent)
        errors.raise_if_any()
        assert region is not None
        query = query.where(m.Region.parent_code == region.code)
    return list(await session.scalars(query))
