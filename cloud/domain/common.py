"""Helpers every business slice shares: field-error collection, tenant checks, time ranges, cursors.

Validation collects every offending field before failing, so one request reports all its problems at
once (RFC 9457 ``errors`` with a field pointer each) and nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

from cloud.lib.problems import FieldError, ProblemError
from hj1321.errors import InvalidValueError
from tenants.context import Principal

T = TypeVar("T")

#: Business days, filters and displays use China time (ARCHITECTURE.md "Conventions").
CHINA_TZ = ZoneInfo("Asia/Shanghai")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FieldErrors:
    """Collects field errors; :meth:`raise_if_any` turns them into one 422 Problem."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, code: str, message: str) -> None:
        """Record one offending field."""
        self.errors.append(FieldError(field=field, code=code, message=message))

    def check(self, field: str, parse: Callable[[object], T], value: object) -> T | None:
        """Run an hj1321-style parser; record its :class:`InvalidValueError` under ``field``."""
        try:
            return parse(value)
        except InvalidValueError as exc:
            self.add(field, exc.code, exc.message)
            return None

    def raise_if_any(self, status: int = 422, code: str = "validation_failed", title: str = "数据校验未通过") -> None:
        """Fail with every collected error (nothing has been written yet)."""
        if self.errors:
            detail = "；".join(f"{e.field}：{e.message}" for e in self.errors)
            raise ProblemError(status, code, title, detail, list(self.errors))


def require_tenant(principal: Principal) -> uuid.UUID:
    """The tenant the principal acts for; 400 when the operation needs one and there is none."""
    if principal.tenant_id is None:
        raise ProblemError(400, "tenant_required", "需要企业身份", "该操作需要以企业身份登录")
    return principal.tenant_id


def parse_instant(raw: str, field: str, *, end: bool = False) -> dt.datetime:
    """Parse a filter bound: a China date (``2026-11-28``) or an ISO 8601 datetime.

    A date as the lower bound means the start of that day in Asia/Shanghai; as the upper bound
    (``end=True``) the start of the next day, so ``from=to=2026-11-28`` covers that whole day. A
    datetime without an offset is read as China time.

    Raises:
        InvalidValueError: ``<field>.format`` with a Chinese reason.
    """
    text = raw.strip()
    try:
        if _DATE.match(text):
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), CHINA_TZ)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValueError(
            f"{field}.format", f"时间“{raw}”格式错误，应为 YYYY-MM-DD 或 ISO 8601 时间", raw
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TZ)


@dataclass(frozen=True)
class TimeRange:
    """A half-open time window ``[start, end)``; either side may be open."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None


def time_range(errors: FieldErrors, start: str | None, end: str | None) -> TimeRange:
    """Parse ``from``/``to`` query values into a :class:`TimeRange`, recording errors."""
    lower = errors.check("from", lambda v: parse_instant(str(v), "from"), start) if start else None
    upper = errors.check("to", lambda v: parse_instant(str(v), "to", end=True), end) if end else None
    if lower is not None and upper is not None and lower >= upper:
        errors.add("to", "to.before_from", "结束时间必须晚于开始时间")
    return TimeRange(lower, upper)


def encode_cursor(at: dt.datetime, oid: uuid.UUID) -> str:
    """An opaque keyset cursor for lists ordered by (time, id) descending."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{oid}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[dt.datetime, uuid.UUID]:
    """Read a cursor made by :func:`encode_cursor`.

    Raises:
        ProblemError: 400 ``cursor_invalid`` when the cursor was not made by us.
    """
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        at, _, oid = text.partition("|")
        value, oid_value = dt.datetime.fromisoformat(at), uuid.UUID(oid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        value, oid_value = None, None
    if value is None or oid_value is None or value.tzinfo is None:
        raise ProblemError(
            400,
            "cursor_invalid",
            "分页游标无效",
            "分页游标无效，请从第一页重新查询",
            [FieldError(field="cursor", code="cursor.invalid", message="分页游标无效")],
        )
    return value, oid_value
