"""Shared API shapes: pagination envelope and common field types."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from tenants.context import Role

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="名称")]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$", description="编号")]
# Query parameters carry their bounds in QueryParameter: Litestar does not enforce msgspec.Meta there.
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="每页条数")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="跳过条数")]


class Page(msgspec.Struct, Generic[T]):
    """A page of results."""

    items: list[T]
    total: int
    limit: int
    offset: int


Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="原因")]
_BOUND = "日期（YYYY-MM-DD，北京时间）或 ISO 8601 时间"
#: ``from``/``to`` query bounds (Python keywords, hence the explicit names).
From = Annotated[str | None, QueryParameter(name="from", max_length=40, description=f"起始{_BOUND}")]
To = Annotated[str | None, QueryParameter(name="to", max_length=40, description=f"截止{_BOUND}（含当天）")]
PlateQuery = Annotated[str | None, QueryParameter(max_length=16, description="车牌号码（可部分匹配）")]


#: Opt of handlers that only a tenant administrator may call.
TENANT_ADMIN_ONLY = {"roles": frozenset({Role.TENANT_ADMIN})}
