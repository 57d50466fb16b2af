"""Exports of a report: Excel (openpyxl write-only), PDF (weasyprint, Noto Sans CJK embedded) and CSV; jobs.

Every file carries the enterprise's name, the period and the generation time (China time) above a
table with Chinese headers; the rows are exactly the API's rows, except the photo columns: Excel and PDF
embed a small JPEG thumbnail of the photo (made with Pillow, cached per export so a truck's repeated
photo is encoded once), CSV and the JSON rows carry the photo's link (``/api/v1/blobs/{sha256}``).

Small exports are downloads (``SYNC_MAX_ROWS``); larger ones are background jobs of kind ``report_export``
(``cloud.jobs``, ADR 0031): a ``background_job`` row any replica claims with a lease, which streams the
ledger chunk by chunk into a write-only workbook or CSV (memory bounded by the chunk, not the month), reports
its progress, and stores the file in the blob store. A PDF is for printing: above ``PDF_MAX_ROWS`` the job
refuses with a Chinese message that suggests Excel (docs/reports.md).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import html
import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import jobs
from cloud.blobs import Blobs
from cloud.db import models as m
from cloud.domain.common import CHINA_TZ
from cloud.reports.ledgers import LEDGERS, PHOTO_COLUMNS, LedgerType, Row, photo_sha
from cloud.reports.periods import Period
from cloud.reports.service import Scope, open_scope
from tenants.context import Principal

log = structlog.get_logger(__name__)

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}
#: Rows fetched per query while exporting (progress moves per chunk).
CHUNK = 2000
#: Synchronous downloads stop here; larger exports go through a background job.
SYNC_MAX_ROWS = {"xlsx": 20_000, "csv": 20_000, "pdf": 2_000}
#: A PDF of a ledger is for printing: beyond this many rows the job asks for Excel instead.
PDF_MAX_ROWS = 3_000  # weasyprint lays the whole table out in memory: ~0.45 MB and 40 ms per row (bench/export_big.py)
#: The CJK font the PDF embeds (Debian fonts-noto-cjk; PLATFORM-NOTES.md §10).
PDF_FONT = "Noto Sans CJK SC"
#: Thumbnail box (pixels): 16:9 scene photos become 112 × 63, about 2–4 KB as JPEG.
THUMB_SIZE = (112, 63)
THUMB_QUALITY = 70
#: Thumbnails kept per export (a truck's photo appears once per pass; distinct photos are encoded once).
THUMB_CACHE = 256
#: Beyond this many rows an export embeds no more photos (memory: openpyxl and weasyprint hold every
#: image of the file; 5,000 thumbnails ≈ 15 MB); later rows carry the photo link instead (docs/reports.md).
MAX_EMBEDDED_PHOTOS = 5_000
#: Excel row height (points) and column width (characters) that fit a thumbnail.
XLSX_PHOTO_ROW_PT = 50
XLSX_PHOTO_COL_CHARS = 17

PhotoLoader = Callable[[str], bytes | None]


class Thumbnails:
    """Small JPEG thumbnails of blobs, made once per hash (bounded LRU cache); None when unreadable."""

    def __init__(self, load: PhotoLoader, *, limit: int = MAX_EMBEDDED_PHOTOS, cache: int = THUMB_CACHE) -> None:
        self._load = load
        self._cache: dict[str, bytes | None] = {}
        self._size = cache
        self.limit = limit
        self.embedded = 0

    def get(self, sha256: str) -> bytes | None:
        """The thumbnail of ``sha256`` (None: no photo, unreadable, or the export's photo budget is spent)."""
        if self.embedded >= self.limit:
            return None
        thumb = self._cache.pop(sha256) if sha256 in self._cache else _thumbnail(self._load(sha256))
        self._cache[sha256] = thumb
        while len(self._cache) > self._size:
            self._cache.pop(next(iter(self._cache)))
        if thumb is not None:
            self.embedded += 1
        return thumb


def _thumbnail(data: bytes | None) -> bytes | None:
    if not data:
        return None
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (THUMB_SIZE[0] * 2, THUMB_SIZE[1] * 2))  # JPEG: decode at a reduced scale
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError):
        log.warning("export photo not readable", size=len(data))
        return None
    image.thumbnail(THUMB_SIZE)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()


def blob_loader(store: Any) -> PhotoLoader:
    """A loader over a blob store (``cloud.blobs.Blobs``): bytes, or None when the blob is absent."""

    def load(sha256: str) -> bytes | None:
        try:
            data: bytes = store.get(sha256)
        except (FileNotFoundError, OSError):
            return None
        return data

    return load


def loader_of(state: Any) -> PhotoLoader | None:
    """The application's blob store as a photo loader (None when the state has no store)."""
    store = getattr(state, "blobs", None)
    if store is None:
        return None
    return blob_loader(store)


@dataclass(frozen=True)
class Document:
    """A report ready to render."""

    ledger: LedgerType
    enterprise: str
    uscc: str
    period: Period
    generated_at: dt.datetime
    rows: list[Row]
    photos: PhotoLoader | None = None

    @property
    def heading(self) -> list[str]:
        """Title lines above the table."""
        return [
            f"{self.ledger.title}（{self.period.kind_label}）",
            f"企业名称：{self.enterprise}    统一社会信用代码：{self.uscc}",
            f"统计期间：{self.period.label}（{self.period.first.isoformat()} 至 {self.period.last.isoformat()}）",
            f"生成时间：{self.generated_at.astimezone(CHINA_TZ).strftime('%Y-%m-%d %H:%M:%S')}（北京时间）",
        ]

    @property
    def filename(self) -> str:
        """``<title>_<enterprise>_<first>_<last>``, without an extension."""
        return f"{self.ledger.title}_{self.enterprise}_{self.period.first.isoformat()}_{self.period.last.isoformat()}"


async def collect(
    session: AsyncSession,
    scope: Scope,
    ledger: LedgerType,
    period: Period,
    *,
    max_rows: int | None = None,
    progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> list[Row]:
    """Every row of the report, chunk by chunk; ``max_rows`` refuses larger reports (413)."""
    rows, total = await ledger.fetch(session, scope, period, CHUNK, 0)
    if max_rows is not None and total > max_rows:
        from cloud.lib.problems import ProblemError  # noqa: PLC0415

        raise ProblemError(
            413,
            "export_too_large",
            "导出数据量过大",
            f"该报表共 {total} 行，超过上限 {max_rows} 行；请缩短期间、改用 Excel/CSV 或创建后台导出任务",
        )
    out = list(rows)
    while len(out) < total:
        if progress is not None:
            await progress(len(out), total)
        more, _ = await ledger.fetch(session, scope, period, CHUNK, len(out))
        if not more:
            break
        out.extend(more)
    return out


class XlsxStream:
    """An Excel workbook in openpyxl's write-only mode: rows go to a temporary file as they are added.

    One sheet named after the report, the title lines, the header row (frozen), then the table; photo
    cells hold a thumbnail anchored in the cell (up to ``MAX_EMBEDDED_PHOTOS``) or the photo's link.
    """

    def __init__(self, doc: Document) -> None:
        from openpyxl import Workbook  # noqa: PLC0415
        from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415
        from openpyxl.styles import Font  # noqa: PLC0415
        from openpyxl.utils import get_column_letter  # noqa: PLC0415

        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(doc.ledger.title[:31])
        self._columns = doc.ledger.columns
        self._letters = [get_column_letter(j) for j in range(1, len(self._columns) + 1)]
        for letter, (key, title) in zip(self._letters, self._columns, strict=True):
            width = XLSX_PHOTO_COL_CHARS if key in PHOTO_COLUMNS else max(10, min(40, len(title) * 2 + 2))
            self._sheet.column_dimensions[letter].width = width
        header_row = len(doc.heading) + 1
        self._sheet.freeze_panes = f"A{header_row + 1}"
        for i, line in enumerate(doc.heading):
            cell = WriteOnlyCell(self._sheet, value=line)
            if i == 0:
                cell.font = Font(bold=True, size=14)
            self._sheet.append([cell])
        titles = []
        for _, title in self._columns:
            cell = WriteOnlyCell(self._sheet, value=title)
            cell.font = Font(bold=True)
            titles.append(cell)
        self._sheet.append(titles)
        self._row = header_row
        self._thumbs = Thumbnails(doc.photos) if doc.photos is not None else None
        self.rows = 0

    def add(self, rows: list[Row]) -> None:
        """Append rows (CPU-bound: call in a worker thread)."""
        for row in rows:
            self._row += 1
            self.rows += 1
            cells: list[Any] = []
            for letter, (key, _) in zip(self._letters, self._columns, strict=True):
                value = row.get(key)
                if key in PHOTO_COLUMNS and self._embed(f"{letter}{self._row}", value):
                    cells.append(None)
                    continue
                cells.append(_text(key, value))
            self._sheet.append(cells)

    def _embed(self, coordinate: str, value: Any) -> bool:
        sha = photo_sha(value)
        thumb = self._thumbs.get(sha) if self._thumbs is not None and sha else None
        if thumb is None:
            return False
        from openpyxl.drawing.image import Image as XlImage  # noqa: PLC0415

        self._sheet.add_image(XlImage(io.BytesIO(thumb)), coordinate)
        self._sheet.row_dimensions[self._row].height = XLSX_PHOTO_ROW_PT  # before the row is written
        return True

    def finish(self) -> bytes:
        """The workbook's bytes."""
        buffer = io.BytesIO()
        self._book.save(buffer)
        return buffer.getvalue()


class CsvStream:
    """CSV: UTF-8 with BOM (Excel opens it), the Chinese column titles of the Excel sheet, one line per row.

    The header is the people's one (issue 19: exports in the Chinese vocabulary); machines read the JSON rows.
    """

    def __init__(self, doc: Document) -> None:
        self._columns = doc.ledger.columns
        self._buffer = io.BytesIO()
        self._buffer.write("\ufeff".encode())
        self._text = io.StringIO()
        self._writer = csv.writer(self._text, lineterminator="\n")
        self._writer.writerow([title for _, title in self._columns])
        self.rows = 0

    def add(self, rows: list[Row]) -> None:
        """Append rows."""
        for row in rows:
            self._writer.writerow(["" if row.get(key) is None else row.get(key) for key, _ in self._columns])
        self.rows += len(rows)
        self._buffer.write(self._text.getvalue().encode())
        self._text.seek(0)
        self._text.truncate()

    def finish(self) -> bytes:
        """The file's bytes."""
        self._buffer.write(self._text.getvalue().encode())
        return self._buffer.getvalue()


def to_xlsx(doc: Document) -> bytes:
    """An Excel workbook of the whole document (write-only mode, as the jobs stream it)."""
    stream = XlsxStream(doc)
    stream.add(doc.rows)
    return stream.finish()


def _text(key: str, value: Any) -> Any:
    """A cell's text: photo links stay links (never a bare hash); None is empty."""
    if value is None:
        return ""
    if key in PHOTO_COLUMNS and not value:
        return "无照片"
    return value


def to_csv(doc: Document) -> bytes:
    """CSV of the whole document (:class:`CsvStream`)."""
    stream = CsvStream(doc)
    stream.add(doc.rows)
    return stream.finish()


def to_html(doc: Document) -> str:
    """The printable HTML the PDF is made from (A4 landscape, repeated table header)."""
    e = html.escape
    heading = "".join(f"<p class='h{i}'>{e(line)}</p>" for i, line in enumerate(doc.heading))
    head = "".join(f"<th>{e(title)}</th>" for _, title in doc.ledger.columns)
    thumbs = Thumbnails(doc.photos) if doc.photos is not None else None

    def cell(key: str, value: Any) -> str:
        sha = photo_sha(value) if key in PHOTO_COLUMNS else None
        thumb = thumbs.get(sha) if thumbs is not None and sha else None
        if thumb is not None:
            return f"<td class='photo'><img src='data:image/jpeg;base64,{base64.b64encode(thumb).decode()}'></td>"
        return f"<td>{e(str(_text(key, value)))}</td>"

    body = "".join("<tr>" + "".join(cell(k, row.get(k)) for k, _ in doc.ledger.columns) + "</tr>" for row in doc.rows)
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page {{ size: A4 landscape; margin: 10mm;
  @bottom-center {{ content: "第 " counter(page) " 页 / 共 " counter(pages) " 页";
    font-family: '{PDF_FONT}'; font-size: 7pt; }} }}
body {{ font-family: '{PDF_FONT}'; font-size: 6.5pt; }}
p {{ margin: 0 0 1.5mm 0; }} p.h0 {{ font-size: 12pt; font-weight: bold; text-align: center; }}
table {{ border-collapse: collapse; width: 100%; table-layout: auto; }}
th, td {{ border: 0.4pt solid #444; padding: 0.6mm 0.8mm; word-break: break-all; }}
td.photo {{ padding: 0.3mm; }} td.photo img {{ width: 20mm; height: auto; display: block; }}
th {{ background: #e8eef5; }} thead {{ display: table-header-group; }} tr {{ page-break-inside: avoid; }}
</style></head><body>{heading}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"""


def to_pdf(doc: Document) -> bytes:
    """A PDF with the CJK font embedded (weasyprint subsets Noto Sans CJK SC into the file)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415

    pdf: bytes = HTML(string=to_html(doc)).write_pdf()
    return pdf


RENDERERS: dict[str, Callable[[Document], bytes]] = {"xlsx": to_xlsx, "pdf": to_pdf, "csv": to_csv}


async def render(fmt: str, doc: Document) -> bytes:
    """Render in a worker thread (openpyxl and weasyprint are CPU-bound and synchronous)."""
    return await asyncio.to_thread(RENDERERS[fmt], doc)


# Background jobs (cloud.jobs, ADR 0031) ------------------------------------------------------------

#: The ``background_job.kind`` of report exports.
JOB_KIND = "report_export"
#: Progress is reported per chunk up to this share; storing the file is the rest.
_READ_SHARE = 95


async def create_job(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, report: str, fmt: str, period: Period
) -> m.BackgroundJob:
    """Queue an export job in the caller's transaction (audited); any replica's runner takes it after the commit."""
    params = {"report": report, "format": fmt, "period": period.as_params()}
    return await jobs.enqueue(session, principal, tenant_id, JOB_KIND, params, audit_action="report.export_created")


async def list_jobs(session: AsyncSession, tenant_id: uuid.UUID, limit: int, offset: int) -> list[m.BackgroundJob]:
    """Export jobs of the tenant, newest first."""
    return await jobs.list_jobs(session, tenant_id, JOB_KIND, limit, offset)


async def get_job(session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID) -> m.BackgroundJob:
    """One export job; 404 when it is not the caller's to see."""
    return await jobs.get_job(session, tenant_id, job_id, JOB_KIND)


async def job_file(blobs: Blobs, job: m.BackgroundJob) -> bytes:
    """The finished job's file (409 ``export_not_ready`` before; 410 when the file is gone)."""
    return await jobs.result_bytes(blobs, job)


def _job_period(params: dict[str, Any]) -> Period:
    raw: Any = params.get("period") or params
    return Period(raw["kind"], dt.date.fromisoformat(str(raw["from"])), dt.date.fromisoformat(str(raw["to"])))


async def run_export(ctx: jobs.JobContext) -> jobs.JobResult:
    """The ``report_export`` handler: stream the ledger into the file chunk by chunk, reporting progress.

    Raises:
        ProblemError: 413 ``pdf_too_large`` for a PDF above ``PDF_MAX_ROWS`` (the job fails with the
            message that suggests Excel).
    """
    from cloud.lib.problems import ProblemError  # noqa: PLC0415

    params = dict(ctx.job.params)
    fmt, ledger, period = str(params["format"]), LEDGERS[str(params["report"])], _job_period(params)
    photos = blob_loader(ctx.blobs)
    # The scope (and the refresh of stale aggregates, under the tenant's reports lock) in a short transaction
    # of its own: held across the export, that lock would stall every report page of the tenant meanwhile.
    async with ctx.database.session(ctx.principal) as session, session.begin():
        scope = await open_scope(session, ctx.principal, ctx.job.tenant_id)
    # The rows in one REPEATABLE READ snapshot: pages by offset stay consistent while passes keep arriving.
    async with ctx.database.session(ctx.principal) as session, session.begin():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        chunk_rows = ctx.settings.chunk_rows
        first, total = await ledger.fetch(session, scope, period, chunk_rows, 0)
        doc = Document(ledger, scope.name, scope.uscc, period, dt.datetime.now(dt.UTC), [], photos)
        if fmt == "pdf":
            if total > PDF_MAX_ROWS:
                raise ProblemError(
                    413,
                    "pdf_too_large",
                    "PDF 行数过多",
                    f"该报表共 {total} 行，PDF 用于打印，最多 {PDF_MAX_ROWS} 行；请改用 Excel 导出（行数不限）",
                )
            doc = replace(doc, rows=await collect(session, scope, ledger, period))
        else:
            stream: XlsxStream | CsvStream = XlsxStream(doc) if fmt == "xlsx" else CsvStream(doc)
            chunk = first
            while chunk:
                await asyncio.to_thread(stream.add, chunk)
                if stream.rows >= total:
                    break
                await ctx.progress(stream.rows * _READ_SHARE // max(total, 1))
                await ctx.pause()
                chunk, _ = await ledger.fetch(session, scope, period, chunk_rows, stream.rows)
    if fmt == "pdf":  # rendered outside the read transaction
        await ctx.progress(80)
        return jobs.JobResult(await render("pdf", doc), f"{doc.filename}.pdf", CONTENT_TYPES["pdf"], len(doc.rows))
    content = await asyncio.to_thread(stream.finish)
    return jobs.JobResult(content, f"{doc.filename}.{fmt}", CONTENT_TYPES[fmt], stream.rows)
