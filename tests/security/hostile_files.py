"""Hostile import files for the input-limit tests and bench/import_limits.py (issue 17 finding 1).

The .xlsx is written part by part (the smallest package openpyxl reads), not through openpyxl, so a
300,000-row workbook takes a fraction of a second to build.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="名单" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)


def _cell(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def _sheet(rows: int, *, dimension: bool, distinct: bool) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>'
    yield '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    if dimension:
        yield f'<dimension ref="A1:B{rows + 1}"/>'
    yield "<sheetData>"
    yield f'<row r="1">{_cell("车牌号码")}{_cell("号牌颜色")}</row>'
    for n in range(2, rows + 2):
        plate = f"鄂A{n % 100_000:05d}" if distinct else "鄂A12345"
        yield f'<row r="{n}">{_cell(plate)}{_cell("黄")}</row>' if distinct else f"<row>{_cell(plate)}</row>"
    yield "</sheetData></worksheet>"


def many_rows_xlsx(rows: int = 300_000, *, dimension: bool = True, distinct: bool = False) -> bytes:
    """A blacklist workbook with ``rows`` data rows; identical rows compress to about 0.3 bytes each."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", "".join(_sheet(rows, dimension=dimension, distinct=distinct)))
    return out.getvalue()


def large_csv(size: int = 16 * 1024 * 1024) -> bytes:
    """A blacklist CSV of about ``size`` bytes (one header, then plate rows)."""
    line = "鄂A12345,黄,LGB5BLSX0A0000001,超标排放\n".encode()
    header = "车牌号码,号牌颜色,车辆识别代号,原因\n".encode()
    return header + line * ((size - len(header)) // len(line))
