"""Exports of a report: Excel (openpyxl), PDF (weasyprint, Noto Sans CJK embedded) and CSV; background jobs.

Every file carries the enterprise's name, the period and the generation time (China time) above a
table with Chinese headers; the rows are exactly the API's rows, except the photo columns: Excel and PDF
embed a small JPEG thumbnail of the photo (made with Pillow, cached per export so a truck's repeated
photo is encoded once), CSV and the JSON rows carry the photo's link (``/api/v1/blobs/{sha256}``).
Long exports run as jobs: a row in ``report_export_job`` (tenant-owned, RLS) and an asyncio task in
the process that accepted the request, which updates the row's progress and finally stores the file in
it (docs/reports.md says why this is enough, and what happens to a job whose process stops).
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
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

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
PDF_MAX_ROWS = 20_000
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


def to_xlsx(doc: Document) -> bytes:
    """An Excel workbook: one sheet named after the report, title rows, then the table."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415

    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = doc.ledger.title[:31]
    width = len(doc.ledger.columns)
    for i, line in enumerate(doc.heading, start=1):
        sheet.cell(row=i, column=1, value=line)
        if width > 1:
            sheet.merge_cells(start_row=i, start_column=1, end_row=i, end_column=width)
    sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
    sheet.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    header_row = len(doc.heading) + 1
    for j, (_, title) in enumerate(doc.ledger.columns, start=1):
        cell = sheet.cell(row=header_row, column=j, value=title)
        cell.font = Font(bold=True)
        sheet.column_dimensions[cell.column_letter].width = max(10, min(40, len(title) * 2 + 2))
    thumbs = Thumbnails(doc.photos) if doc.photos is not None else None
    photo_cols = [j for j, (key, _) in enumerate(doc.ledger.columns, start=1) if key in PHOTO_COLUMNS]
    for j in photo_cols:
        sheet.column_dimensions[sheet.cell(row=header_row, column=j).column_letter].width = XLSX_PHOTO_COL_CHARS
    for i, row in enumerate(doc.rows, start=header_row + 1):
        for j, (key, _) in enumerate(doc.ledger.columns, start=1):
            value = row.get(key)
            if key in PHOTO_COLUMNS and _embed_xlsx(sheet, i, j, value, thumbs):
                continue
            sheet.cell(row=i, column=j, value=_text(key, value))
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _text(key: str, value: Any) -> Any:
    """A cell's text: photo links stay links (never a bare hash); None is empty."""
    if value is None:
        return ""
    if key in PHOTO_COLUMNS and not value:
        return "无照片"
    return value


def _embed_xlsx(sheet: Any, row: int, column: int, value: Any, thumbs: Thumbnails | None) -> bool:
    """Anchor the photo's thumbnail in the cell (True), or leave the cell to the link (False)."""
    sha = photo_sha(value)
    thumb = thumbs.get(sha) if thumbs is not None and sha else None
    if thumb is None:
        return False
    from openpyxl.drawing.image import Image as XlImage  # noqa: PLC0415

    image = XlImage(io.BytesIO(thumb))
    cell = sheet.cell(row=row, column=column)
    sheet.add_image(image, cell.coordinate)
    sheet.row_dimensions[row].height = XLSX_PHOTO_ROW_PT
    return True


def to_csv(doc: Document) -> bytes:
    """CSV: UTF-8 with BOM (Excel opens it), the Chinese column titles of the Excel sheet, one line per row.

    The header is the people's one (issue 19: exports in the Chinese vocabulary); machines read the JSON rows.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([title for _, title in doc.ledger.columns])
    for row in doc.rows:
        writer.writerow(["" if row.get(key) is None else row.get(key) for key, _ in doc.ledger.columns])
    return ("\ufeff" + buffer.getvalue()).encode()


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


# Background jobs -------------------------------------------------------------------------------------

SessionFactory = Callable[[Principal], Any]  # Database.session: an async context manager of AsyncSession
_TASKS: set[asyncio.Task[None]] = set()


def start_job(
    open_session: SessionFactory, principal: Principal, job_id: uuid.UUID, photos: PhotoLoader | None = None
) -> None:
    """Run a queued job in this process; the task is kept referenced until it ends."""
    task = asyncio.create_task(run_job(open_session, principal, job_id, photos), name=f"report-export-{job_id}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def wait_for_jobs() -> None:
    """Wait for this process's running exports (tests, and a graceful shutdown)."""
    while _TASKS:
        await asyncio.gather(*list(_TASKS), return_exceptions=True)


async def _set(open_session: SessionFactory, principal: Principal, job_id: uuid.UUID, **values: Any) -> None:
    async with open_session(principal) as session, session.begin():
        await session.execute(
            update(m.ExportJob).where(m.ExportJob.id == job_id).values(**values, updated_at=dt.datetime.now(dt.UTC))
        )


async def run_job(
    open_session: SessionFactory, principal: Principal, job_id: uuid.UUID, photos: PhotoLoader | None = None
) -> None:
    """Build the report of job ``job_id`` as ``principal``, updating progress; store the file or the error."""
    try:
        async with open_session(principal) as session, session.begin():
            job = await session.get(m.ExportJob, (principal.tenant_id, job_id))
            if job is None:
                return
            params = dict(job.params)
            fmt, report, tenant_id = job.format, job.report, job.tenant_id
        await _set(open_session, principal, job_id, status="running", progress=1)
        period = Period(
            str(params["kind"]),  # type: ignore[arg-type]
            dt.date.fromisoformat(str(params["from"])),
            dt.date.fromisoformat(str(params["to"])),
        )
        ledger = LEDGERS[report]

        async def progress(done: int, total: int) -> None:
            await _set(open_session, principal, job_id, progress=max(1, min(80, done * 80 // max(total, 1))))

        async with open_session(principal) as session, session.begin():
            scope = await open_scope(session, principal, tenant_id)
            rows = await collect(
                session, scope, ledger, period, progress=progress, max_rows=PDF_MAX_ROWS if fmt == "pdf" else None
            )
        await _set(open_session, principal, job_id, progress=85, rows=len(rows))
        doc = Document(ledger, scope.name, scope.uscc, period, dt.datetime.now(dt.UTC), rows, photos)
        content = await render(fmt, doc)
        await _set(
            open_session,
            principal,
            job_id,
            status="done",
            progress=100,
            content=content,
            content_type=CONTENT_TYPES[fmt],
            filename=f"{doc.filename}.{fmt}",
        )
    except Exception as exc:
        log.exception("report export failed", job_id=str(job_id))
        await _set(open_session, principal, job_id, status="failed", error=f"导出失败：{type(exc).__name__}")


# Job records ------------------------------------------------------------------------------------------


async def create_job(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, report: str, fmt: str, period: Period
) -> m.ExportJob:
    """Queue an export job (audited); the caller starts it once the transaction has committed."""
    from cloud.domain import audit  # noqa: PLC0415

    job = m.ExportJob(
        tenant_id=tenant_id,
        report=report,
        format=fmt,
        params=period.as_params(),
        status="queued",
        progress=0,
        created_by=principal.user_id,
    )
    session.add(job)
    await session.flush()
    audit.record(session, principal, "report.export_created", "report_export_job", job.id, {"report": report})
    await session.refresh(job)
    return job


async def list_jobs(session: AsyncSession, tenant_id: uuid.UUID, limit: int, offset: int) -> list[m.ExportJob]:
    """Export jobs of the tenant, newest first."""
    from sqlalchemy import select  # noqa: PLC0415

    return list(
        await session.scalars(
            select(m.ExportJob)
            .where(m.ExportJob.tenant_id == tenant_id)
            .order_by(m.ExportJob.created_at.desc(), m.ExportJob.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


async def get_job(session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID) -> m.ExportJob:
    """One export job; 404 when it is not the caller's to see."""
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.lib.problems import not_found  # noqa: PLC0415

    job = await session.scalar(select(m.ExportJob).where(m.ExportJob.tenant_id == tenant_id, m.ExportJob.id == job_id))
    if job is None:
        raise not_found("导出任务")
    return job


async def job_file(session: AsyncSession, job: m.ExportJob) -> bytes:
    """The finished job's file.

    Raises:
        ProblemError: 409 ``export_not_ready`` while the job has not finished.
    """
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.lib.problems import ProblemError  # noqa: PLC0415

    if job.status != "done":
        raise ProblemError(409, "export_not_ready", "导出尚未完成", "导出任务尚未完成，请稍后再试")
    content = await session.scalar(
        select(m.ExportJob.content).where(m.ExportJob.tenant_id == job.tenant_id, m.ExportJob.id == job.id)
    )
    return content or b""
