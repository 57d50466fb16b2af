"""Shared API shapes: pagination envelope and common field types."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

from tenants.context import Role

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="名称")]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$", description="编号")]
Limit = Annotated[int, msgspec.Meta(ge=1, le=500, description="每页条数")]
Offset = Annotated[int, msgspec.Meta(ge=0, description="跳过条数")]


class Page(msgspec.Struct, Generic[T]):
    """A page of results."""

    items: list[T]
    total: int
    limit: int
    offset: int


Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="原因")]
#: A time bound: a China date (2026-11-28) or an ISO 8601 datetime.
TimeBound = Annotated[str, msgspec.Meta(max_length=40, description="日期（YYYY-MM-DD，北京时间）或 ISO 8601 时间")]


#: Opt of handlers that only a tenant administrator may call.
TENANT_ADMIN_ONLY = {"roles": frozenset({Role.TENANT_ADMIN})}
