"""Reading import files (CSV or Excel) into header + rows, and mapping Chinese headers to fields.

Both importers (blacklist, vehicle ledger) share this: a file that cannot be read, has no header,
has a column we do not know or lacks a required column is refused as a whole (nothing imported);
everything else is judged row by row. The file itself is read by ``cloud.lib.spreadsheets.read_table``
(streamed, capped, off the event loop: issue 17).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.lib.problems import FieldError, ProblemError


@dataclass
class RowReport:
    """The outcome of one data row (``row`` is the spreadsheet row number, header = 1)."""

    row: int
    status: str  # imported / skipped / error / valid (dry run)
    key: str = ""
    errors: list[FieldError] = field(default_factory=list)
    message: str = ""


@dataclass
class ImportReport:
    """The whole file's outcome."""

    rows: list[RowReport] = field(default_factory=list)
    dry_run: bool = False
    all_or_nothing: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """How many rows ended in each status."""
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def has_errors(self) -> bool:
        """Whether any row was refused."""
        return any(r.status == "error" for r in self.rows)


def _file_error(code: str, detail: str, errors: list[FieldError] | None = None) -> ProblemError:
    return ProblemError(422, code, "导入文件无法处理", detail, errors)


def _norm(header: str) -> str:
    text = unicodedata.normalize("NFKC", header)
    text = re.sub(r"[\s*＊（）()【】\[\]：:]", "", text)
    return text.lower()


def map_headers(
    header: Sequence[str], aliases: Mapping[str, Sequence[str]], required: Sequence[str | tuple[str, ...]]
) -> dict[int, str]:
    """Column index → field for a header row.

    Raises:
        ProblemError: 422 ``import_columns`` listing unknown, duplicated and missing columns at once.
    """
    lookup: dict[str, str] = {}
    for name, spellings in aliases.items():
        for spelling in (name, *spellings):
            lookup[_norm(spelling)] = name
    out: dict[int, str] = {}
    errors: list[FieldError] = []
    for index, title in enumerate(header):
        if not str(title).strip():
            continue
        found = lookup.get(_norm(str(title)))
        if found is None:
            errors.append(FieldError(field=str(title), code="column.unknown", message=f"无法识别的列“{title}”"))
        elif found in out.values():
            errors.append(FieldError(field=str(title), code="column.duplicate", message=f"列“{title}”重复"))
        else:
            out[index] = found
    for rule in required:
        names = rule if isinstance(rule, tuple) else (rule,)
        if not set(names) & set(out.values()):
            label = "或".join(f"“{aliases[n][0] if aliases[n] else n}”" for n in names)
            errors.append(FieldError(field=names[0], code="column.missing", message=f"缺少必需的列{label}"))
    if errors:
        detail = "；".join(e.message for e in errors)
        expected = "、".join(v[0] for v in aliases.values() if v)
        raise _file_error("import_columns", f"{detail}。可用的列：{expected}", errors)
    return out


def row_values(row: Sequence[Any], columns: Mapping[int, str]) -> dict[str, Any]:
    """Field → cell value of one row (missing trailing cells are blank)."""
    return {name: (row[index] if index < len(row) else "") for index, name in columns.items()}


_DATE_FORMATS: Final = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")


def parse_date(value: Any) -> dt.date:
    """A date cell: an Excel date, ``2024-07-01``, ``20240701``, ``2024/7/1`` or ``2024年7月1日``.

    Raises:
        ValueError: with a Chinese message.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time zone
        except ValueError:
            continue
    raise ValueError(f"日期“{text}”格式错误，应为 YYYY-MM-DD")


def parse_int(value: Any, title: str) -> int:
    """A whole-number cell.

    Raises:
        ValueError: with a Chinese message.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().replace(",", "")
    if re.fullmatch(r"-?\d+(\.0+)?", text):
        return int(float(text))
    raise ValueError(f"{title}“{value}”应为整数")
