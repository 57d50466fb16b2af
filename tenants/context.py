"""Who is acting: the principal resolved from authentication, and the database settings it implies.

The tenant of a request or job always comes from the authenticated principal, never from a header or
payload. A principal turns into transaction-local PostgreSQL settings (``app.tenant_id``,
``app.user_id``, ``app.region_code``) that the row-level-security policies read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """Roles of the platform (issue 2, PRODUCT.md "Who uses it")."""

    PLATFORM_ADMIN = "platform_admin"
    INSTALLER = "installer"
    TENANT_ADMIN = "tenant_admin"
    MANAGER = "manager"
    GUARD = "guard"
    VIEWER = "viewer"
    REGULATOR = "regulator"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.PLATFORM_ADMIN: "平台管理员",
    Role.INSTALLER: "安装实施人员",
    Role.TENANT_ADMIN: "企业管理员",
    Role.MANAGER: "环保管理员",
    Role.GUARD: "门岗",
    Role.VIEWER: "只读用户",
    Role.REGULATOR: "监管人员",
}

#: Roles that may change a tenant's data.
WRITER_ROLES = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER, Role.PLATFORM_ADMIN})
#: Roles that exist only inside one tenant.
TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER, Role.INSTALLER})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor.

    Attributes:
        user_id: the account's id.
        role: the role it acts in now.
        tenant_id: the tenant it acts for (None for platform admins and regulators).
        region_code: the GB/T 2260 prefix a regulator may see (None otherwise).
        login: the login name, for logs and the audit trail.
    """

    user_id: uuid.UUID
    role: Role
    tenant_id: uuid.UUID | None = None
    region_code: str | None = None
    login: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_regulator(self) -> bool:
        """Regulators read region-wide through their own role and pool."""
        return self.role is Role.REGULATOR

    @property
    def can_write(self) -> bool:
        """Whether this principal may change tenant data at all."""
        return self.role in WRITER_ROLES

    def db_settings(self) -> dict[str, str]:
        """Transaction-local settings for the RLS policies (empty string = unset)."""
        return {
            "app.tenant_id": str(self.tenant_id) if self.tenant_id else "",
            "app.user_id": str(self.user_id),
            "app.region_code": self.region_code or "",
            "app.login": "",
        }


class MissingTenantError(RuntimeError):
    """A tenant-scoped database transaction began without a principal: fail closed, loudly."""
