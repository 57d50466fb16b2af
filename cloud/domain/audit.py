"""The audit log: every change records who, what and when, in the same transaction; and reading it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain.common import FieldErrors, time_range
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


@dataclass(frozen=True)
class AuditFilter:
    """Audit-log criteria; all optional. ``action`` ending in ``.`` matches a family (``vehicle.``)."""

    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    actor_id: uuid.UUID | None = None
    start: str | None = None
    end: str | None = None


async def list_entries(
    session: AsyncSession, criteria: AuditFilter, limit: int, offset: int
) -> tuple[list[m.AuditLog], int]:
    """Audit rows of the caller's tenant (row-level security), newest first, with the total count.

    Raises:
        ProblemError: 422 for a malformed time bound.
    """
    errors = FieldErrors()
    window = time_range(errors, criteria.start, criteria.end)
    errors.raise_if_any()
    query = select(m.AuditLog)
    if criteria.action:
        if criteria.action.endswith("."):
            query = query.where(m.AuditLog.action.startswith(criteria.action, autoescape=True))
        else:
            query = query.where(m.AuditLog.action == criteria.action)
    if criteria.object_type:
        query = query.where(m.AuditLog.object_type == criteria.object_type)
    if criteria.object_id:
        query = query.where(m.AuditLog.object_id == criteria.object_id)
    if criteria.actor_id is not None:
        query = query.where(m.AuditLog.actor_id == criteria.actor_id)
    if window.start is not None:
        query = query.where(m.AuditLog.at >= window.start)
    if window.end is not None:
        query = query.where(m.AuditLog.at < window.end)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(m.AuditLog.at.desc(), m.AuditLog.id.desc()).limit(limit).offset(offset))
    return list(rows), total
