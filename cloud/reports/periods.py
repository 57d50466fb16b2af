"""Report periods: whole China (Asia/Shanghai) days, validated once at the edge of the domain."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from cloud.domain.common import CHINA_TZ
from cloud.lib.problems import FieldError, ProblemError

PeriodKind = Literal["day", "month", "year", "range"]
#: The oldest year a report may ask about, and the longest range (the ledger is kept ≥ 24 months).
MIN_YEAR = 2000
MAX_SPAN_DAYS = 731

_KIND_LABEL = {"day": "日报", "month": "月报", "year": "年报", "range": "报表"}


@dataclass(frozen=True)
class Period:
    """``first``…``last`` inclusive China days."""

    kind: PeriodKind
    first: dt.date
    last: dt.date

    @property
    def start(self) -> dt.datetime:
        """The first instant (China midnight of ``first``)."""
        return dt.datetime.combine(self.first, dt.time(), CHINA_TZ)

    @property
    def end(self) -> dt.datetime:
        """The instant after the period (China midnight after ``last``)."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), CHINA_TZ)

    @property
    def days(self) -> int:
        """Number of calendar days."""
        return (self.last - self.first).days + 1

    def elapsed_days(self, today: dt.date) -> int:
        """Days of the period up to and including ``today`` (0 for a period in the future)."""
        if today < self.first:
            return 0
        return (min(self.last, today) - self.first).days + 1

    @property
    def label(self) -> str:
        """The period as people read it: 2026年11月, 2026年11月28日, 2026年, 2026-11-01 至 2026-11-28."""
        if self.kind == "day":
            return f"{self.first.year}年{self.first.month}月{self.first.day}日"
        if self.kind == "month":
            return f"{self.first.year}年{self.first.month}月"
        if self.kind == "year":
            return f"{self.first.year}年"
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"

    @property
    def kind_label(self) -> str:
        """日报 / 月报 / 年报 / 报表."""
        return _KIND_LABEL[self.kind]

    def as_params(self) -> dict[str, str]:
        """The period as query values (for links and stored export jobs)."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "kind": self.kind}


def china_today() -> dt.date:
    """Today in China."""
    return dt.datetime.now(CHINA_TZ).date()


def _bad(field: str, code: str, message: str, status: int = 422) -> ProblemError:
    title = "请求参数不合法" if status == 400 else "报表期间不合法"
    return ProblemError(
        status,
        "request_invalid" if status == 400 else "period_invalid",
        title,
        message,
        [FieldError(field=field, code=code, message=message)],
    )


def _check_year(year: int, field: str, today: dt.date) -> None:
    if not MIN_YEAR <= year <= today.year + 1:
        raise _bad(field, f"{field}.out_of_range", f"年份 {year} 超出范围（{MIN_YEAR}–{today.year + 1}）")


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def _parse_day(raw: str, field: str, today: dt.date) -> dt.date:
    match = _DAY.match(raw.strip())
    if not match:
        raise _bad(field, f"{field}.format", f"日期“{raw}”格式错误，应为 YYYY-MM-DD", 400)
    _check_year(int(match.group(1)), field, today)
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(field, f"{field}.out_of_range", f"日期“{raw}”不存在") from None


def _range(start: str | None, end: str | None, today: dt.date) -> Period:
    first = _parse_day(start or "", "from", today) if start else None
    last = _parse_day(end or "", "to", today) if end else None
    if first is None or last is None:
        missing = "from" if first is None else "to"
        raise _bad(missing, f"{missing}.missing", "起止日期须同时给出")
    if last < first:
        raise _bad("to", "to.before_from", "截止日期早于起始日期")
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        raise _bad("to", "to.span", f"报表期间最长 {MAX_SPAN_DAYS} 天")
    return Period("range", first, last)


def _month(text: str, today: dt.date) -> Period:
    match = _MONTH.match(text)
    if not match:
        raise _bad("date", "date.format", f"月份“{text}”格式错误，应为 YYYY-MM", 400)
    year, month = int(match.group(1)), int(match.group(2))
    _check_year(year, "date", today)
    if not 1 <= month <= 12:
        raise _bad("date", "date.out_of_range", f"月份 {month} 超出范围（1–12）")
    return Period("month", dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1]))


def parse_period(
    kind: str | None, date: str | None, start: str | None, end: str | None, *, today: dt.date | None = None
) -> Period:
    """Read ``period`` + ``date`` (日报 ``YYYY-MM-DD``, 月报 ``YYYY-MM``, 年报 ``YYYY``) or ``from`` + ``to``.

    With neither, the current China month. Dates are China days; ``to`` is included.

    Raises:
        ProblemError: 400 for a malformed value, 422 ``period_invalid`` for a month 13, a year out of
            range, ``to`` before ``from``, a range over 731 days, or both forms at once.
    """
    today = today or china_today()
    if (start or end) and (kind or date):
        raise _bad("period", "period.ambiguous", "period/date 与 from/to 不能同时使用")
    if start or end:
        return _range(start, end, today)
    kind = kind or "month"
    if date is None:
        date = {"day": today.isoformat(), "month": today.isoformat()[:7], "year": str(today.year)}.get(kind)
    text = (date or "").strip()
    if kind == "day":
        day = _parse_day(text, "date", today)
        return Period("day", day, day)
    if kind == "month":
        return _month(text, today)
    if kind == "year":
        match = _YEAR.match(text)
        if not match:
            raise _bad("date", "date.format", f"年份“{text}”格式错误，应为 YYYY", 400)
        year = int(text)
        _check_year(year, "date", today)
        return Period("year", dt.date(year, 1, 1), dt.date(year, 12, 31))
    raise _bad("period", "period.unknown", f"未知的报表周期“{kind}”，应为 day、month 或 year", 400)


def months_back(today: dt.date, months: int) -> Period:
    """The ``months`` whole China months ending with the current one."""
    year, month = today.year, today.month - (months - 1)
    while month <= 0:
        month += 12
        year -= 1
    last = dt.date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
    return Period("range", dt.date(year, month, 1), last)
