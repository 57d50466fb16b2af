"""Reading import files (CSV or Excel) into header + rows, and mapping Chinese headers to fields.

Both importers (blacklist, vehicle ledger) share this: a file that cannot be read, has no header,
has a column we do not know or lacks a required column is refused as a whole (nothing imported);
everything else is judged row by row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.lib.problems import FieldError, ProblemError

MAX_ROWS: Final = 20_000
_XLSX_MAGIC: Final = b"PK\x03\x04"


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


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_table(data: bytes, filename: str = "") -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """The header and the non-empty data rows (with their row numbers) of a CSV or .xlsx file.

    Raises:
        ProblemError: 422 ``import_unreadable`` / ``import_empty`` / ``import_too_large``.
    """
    if data.startswith(_XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        raw_rows = _xlsx_rows(data)
    else:
        raw_rows = _csv_rows(data)
    numbered = [(n, [_cell(c) for c in row]) for n, row in enumerate(raw_rows, start=1)]
    numbered = [(n, row) for n, row in numbered if any(c != "" for c in row)]
    if not numbered:
        raise _file_error("import_empty", "文件中没有数据（第一行应为表头）")
    (_, header), body = numbered[0], numbered[1:]
    if len(body) > MAX_ROWS:
        raise _file_error("import_too_large", f"一次最多导入 {MAX_ROWS} 行，文件有 {len(body)} 行")
    return [str(h) for h in header], body


def _xlsx_rows(data: bytes) -> list[Sequence[Any]]:
    import openpyxl  # noqa: PLC0415 - only imports need it
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise _file_error("import_unreadable", f"无法读取 Excel 文件：{exc}") from exc
    sheet = book.worksheets[0]
    rows: list[Sequence[Any]] = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def _csv_rows(data: bytes) -> list[Sequence[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _file_error("import_unreadable", "无法识别文件编码（应为 UTF-8 或 GBK 的 CSV，或 .xlsx）")
    if "\x00" in text:
        raise _file_error("import_unreadable", "文件不是 CSV 或 .xlsx")
    return list(csv.reader(io.StringIO(text)))


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
