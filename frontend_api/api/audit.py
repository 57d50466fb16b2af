"""The tenant's audit log: filtered, paginated reads for tenant administrators and managers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.domain import audit
from frontend_api.api.schemas import From, Limit, Offset, Page, To
from tenants.context import Role


class AuditOut(msgspec.Struct):
    """One audit-log row."""

    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None
    actor_login: str
    actor_role: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


@get("/audit-log", operation_id="ListAuditLog", opt={"roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER})})
async def list_audit_log(
    session: NamedDependency[AsyncSession],
    action: Annotated[str | None, QueryParameter(max_length=64)] = None,
    object_type: Annotated[str | None, QueryParameter(max_length=32)] = None,
    object_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
    actor_id: FromQuery[uuid.UUID | None] = None,
    start: From = None,
    end: To = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[AuditOut]:
    """The tenant's audit log, newest first (``action=vehicle.`` matches every vehicle action)."""
    criteria = audit.AuditFilter(action, object_type, object_id, actor_id, start, end)
    async with session.begin():
        rows, total = await audit.list_entries(session, criteria, limit, offset)
    items = [
        AuditOut(a.id, a.at, a.actor_id, a.actor_login, a.actor_role, a.action, a.object_type, a.object_id, a.detail)
        for a in rows
    ]
    return Page(items, total, limit, offset)


HANDLERS = [list_audit_log]
