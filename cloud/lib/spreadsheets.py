"""Reading uploaded CSV and .xlsx tables with limits that hold before the work is done (issue 17).

Both importers (blacklist, vehicle ledger) read their file here. The limits are checked as early as
the format allows, so a hostile file costs a bounded amount of time and memory:

* .xlsx: the zip directory first (total uncompressed size, and a compression ratio above 100:1 like
  Apache POI's ``ZipSecureFile`` zip-bomb check), then the sheet's declared ``<dimension>``, then the
  rows are streamed (openpyxl ``read_only`` + ``iter_rows``) and reading stops at the row cap;
* CSV: rows are streamed from the decoded text by ``csv.reader`` and reading stops at the cap; a
  field longer than ``csv.field_size_limit`` is an unreadable file, not an exception;
* the parse runs in a worker thread (``anyio.to_thread``, at most two at a time), so the event loop
  keeps answering other requests (``/health`` included) while a large file is read.

Every refusal is a 422 Problem Details (``import_unreadable`` / ``import_empty`` / ``import_too_large``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Final

import anyio
import anyio.to_thread

from cloud.lib.problems import ProblemError

#: Data rows one import may hold (the header row is not counted).
MAX_ROWS: Final = 20_000
#: Columns read from a row; a sheet declaring more is refused.
MAX_COLUMNS: Final = 64
#: Physical rows (blank ones included) read before giving up: blank rows are cheap but not free.
MAX_PHYSICAL_ROWS: Final = 2 * MAX_ROWS + 1_000
#: Uncompressed size of all members of an .xlsx (a 20,000-row ledger is about 25 MB of XML).
MAX_XLSX_UNCOMPRESSED: Final = 100 * 1024 * 1024
#: Highest uncompressed : compressed ratio of a member past ``_RATIO_FLOOR`` bytes (POI's default 0.01).
MAX_COMPRESSION_RATIO: Final = 100
_RATIO_FLOOR: Final = 1024 * 1024
_XLSX_MAGIC: Final = b"PK\x03\x04"
_DIMENSION: Final = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?\"")
_ROW_ELEMENT: Final = re.compile(rb"<(?:\w+:)?row[\s>/]")
#: Parses of uploaded tables running at once (each holds one core while it runs).
_PARSERS: Final = anyio.CapacityLimiter(2)

Row = list[Any]


def _file_error(code: str, detail: str) -> ProblemError:
    return ProblemError(422, code, "导入文件无法处理", detail)


def _too_large(rows: int | None = None) -> ProblemError:
    found = f"，文件有 {rows} 行" if rows is not None else ""
    return _file_error("import_too_large", f"一次最多导入 {MAX_ROWS} 行{found}")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters:
        number = number * 26 + (char - ord("A") + 1)
    return number


async def read_table(
    data: bytes, filename: str = "", max_rows: int = MAX_ROWS
) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """The header and the non-empty data rows (with their row numbers) of a CSV or .xlsx file.

    The parse runs in a worker thread; the event loop stays free.

    Raises:
        ProblemError: 422 ``import_unreadable`` / ``import_empty`` / ``import_too_large``.
    """
    return await anyio.to_thread.run_sync(partial(read_table_sync, data, filename, max_rows), limiter=_PARSERS)


def read_table_sync(
    data: bytes, filename: str = "", max_rows: int = MAX_ROWS
) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """:func:`read_table` on the calling thread (for callers already off the event loop, and tests).

    Raises:
        ProblemError: 422 ``import_unreadable`` / ``import_empty`` / ``import_too_large``.
    """
    if data.startswith(_XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        try:
            return _collect(_xlsx_rows(data), max_rows)
        except ProblemError:
            raise
        except Exception as exc:  # hostile bytes: any zip/zlib/XML/openpyxl failure is an unreadable file
            raise _file_error("import_unreadable", _UNREADABLE) from exc
    return _collect(_csv_rows(data), max_rows)


def _collect(raw_rows: Iterable[Sequence[Any]], max_rows: int) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    header: list[str] | None = None
    body: list[tuple[int, list[Any]]] = []
    for number, raw in enumerate(raw_rows, start=1):
        if number > MAX_PHYSICAL_ROWS:
            raise _too_large()
        row = [_cell(c) for c in raw[:MAX_COLUMNS]]
        while row and row[-1] == "":
            row.pop()
        if not row:
            continue
        if header is None:
            header = [str(h) for h in row]
            continue
        if len(body) >= max_rows:
            raise _too_large()
        body.append((number, row))
    if header is None:
        raise _file_error("import_empty", "文件中没有数据（第一行应为表头）")
    return header, body


#: The reader's own message ("File is not a zip file") stays in the exception chain for the log, never on a page.
_UNKNOWN_ENCODING = "无法识别文件编码：请上传 Excel 工作簿，或在 Excel 中另存为“CSV UTF-8（逗号分隔）”后上传"
_UNREADABLE = "无法读取 Excel 文件：文件已损坏或不是 Excel 工作簿，请在 Excel 中另存为“Excel 工作簿”后重新上传"


def _check_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _file_error("import_unreadable", _UNREADABLE) from exc
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size > _RATIO_FLOOR and member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
            raise _file_error("import_too_large", "Excel 文件压缩比异常（疑似压缩炸弹），请另存为普通 .xlsx 后重试")
    if total > MAX_XLSX_UNCOMPRESSED:
        raise _file_error("import_too_large", f"Excel 文件解压后超过 {MAX_XLSX_UNCOMPRESSED // (1024 * 1024)} MB")
    return archive


def _declared_size(archive: zipfile.ZipFile, sheet_path: str) -> tuple[int, int] | None:
    """The sheet's declared ``<dimension>`` (last row, columns), read from the first 4 KB of its XML."""
    try:
        with archive.open(sheet_path) as member:
            head = member.read(4096)
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return None  # openpyxl reports the broken file itself
    match = _DIMENSION.search(head)
    if match is None or match.group(4) is None:
        return None
    return int(match.group(4)), _column_number(match.group(3)) - _column_number(match.group(1)) + 1


def _count_row_elements(archive: zipfile.ZipFile, sheet_path: str) -> None:
    """Without a declared dimension: count ``<row`` elements in the raw XML (C speed) before parsing any.

    Every data row is a ``<row>`` element, so more elements than :data:`MAX_PHYSICAL_ROWS` is a file
    past the cap, refused after a decompression instead of a parse (0.1 s against seconds).
    """
    count = 0
    tail = b""
    try:
        with archive.open(sheet_path) as member:
            while chunk := member.read(1024 * 1024):
                block = tail + chunk
                count += len(_ROW_ELEMENT.findall(block))
                tail = block[-16:]
                count -= len(_ROW_ELEMENT.findall(tail))  # counted again with the next block
                if count > MAX_PHYSICAL_ROWS:
                    raise _too_large()
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return  # openpyxl reports the broken file itself


def _first_sheet(data: bytes) -> Any:
    """The first worksheet of a workbook, opened read-only without openpyxl's full scan for its size.

    ``load_workbook(read_only=True)`` looks for ``<dimension>`` with an iterparse that, when the element is
    missing, runs to the end of ``<sheetData>``: a whole-file parse before the first row (4.7 s for
    300,000 rows). The same steps as ``ExcelReader.read`` without that scan: the size comes from the
    first 4 KB only (:func:`_declared_size`) and the rows are streamed with explicit bounds.
    """
    from openpyxl.reader.excel import ExcelReader  # noqa: PLC0415 - only imports need it
    from openpyxl.styles.stylesheet import apply_stylesheet  # noqa: PLC0415
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet  # noqa: PLC0415

    class _Sheet(ReadOnlyWorksheet):  # type: ignore[misc]
        def _get_size(self) -> None:
            return None

    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    for sheet, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return _Sheet(reader.wb, sheet.name, rel.target, reader.shared_strings)
    raise _file_error("import_empty", "Excel 文件中没有工作表")


def _xlsx_rows(data: bytes) -> Iterator[Sequence[Any]]:
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415 - only imports need it

    errors = (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, SyntaxError)
    archive = _check_zip(data)
    try:
        sheet = _first_sheet(data)
    except errors as exc:
        raise _file_error("import_unreadable", _UNREADABLE) from exc
    declared = _declared_size(archive, sheet._worksheet_path)  # noqa: SLF001 - the sheet's part name
    if declared is None:
        _count_row_elements(archive, sheet._worksheet_path)  # noqa: SLF001
    else:
        last_row, columns = declared
        if last_row > MAX_PHYSICAL_ROWS:
            raise _too_large(last_row - 1)
        if columns > MAX_COLUMNS:
            raise _file_error("import_columns", f"文件有 {columns} 列，最多 {MAX_COLUMNS} 列")
    try:
        # Explicit bounds: openpyxl fills gaps between rows up to max_row and cells up to max_col.
        yield from sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS, max_row=MAX_PHYSICAL_ROWS + 1)
    except errors as exc:
        raise _file_error("import_unreadable", _UNREADABLE) from exc
    finally:
        archive.close()


def _csv_rows(data: bytes) -> Iterator[Row]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _file_error("import_unreadable", _UNKNOWN_ENCODING)
    if "\x00" in text:
        raise _file_error("import_unreadable", "文件不是 Excel 工作簿或 CSV 文件")
    try:
        yield from csv.reader(io.StringIO(text))
    except csv.Error as exc:
        raise _file_error("import_unreadable", "CSV 文件格式错误，请用 Excel 重新另存为 CSV（逗号分隔）后上传") from exc
