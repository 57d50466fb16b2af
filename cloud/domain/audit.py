"""Writing the audit log: every change records who, what and when, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from tenants.context import Principal


def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: object,
    detail: dict[str, Any] | None = None,
    *,
    tenant_id: object = None,
) -> None:
    """Add an audit row to the session (committed with the change it describes)."""
    session.add(
        m.AuditLog(
            tenant_id=tenant_id or principal.tenant_id,
            actor_id=principal.user_id,
            actor_login=principal.login,
            actor_role=principal.role.value,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            detail=detail or {},
        )
    )
