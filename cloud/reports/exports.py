"""Exports of a report: Excel (openpyxl), PDF (weasyprint, Noto Sans CJK embedded) and CSV; background jobs.

Every file carries the enterprise's name, the period and the generation time (China time) above a
table with Chinese headers; the rows are exactly the API's rows. Long exports run as jobs: a row in
``report_export_job`` (tenant-owned, RLS) and an asyncio task in the process that accepted the
request, which updates the row's progress and finally stores the file in it (docs/reports.md says
why this is enough, and what happens to a job whose process stops).
"""

from __future__ import annotations

import asyncio
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
from cloud.reports.ledgers import LEDGERS, LedgerType, Row
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


@dataclass(frozen=True)
class Document:
    """A report ready to render."""

    ledger: LedgerType
    enterprise: str
    uscc: str
    period: Period
    generated_at: dt.datetime
    rows: list[Row]

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
    for i, row in enumerate(doc.rows, start=header_row + 1):
        for j, (key, _) in enumerate(doc.ledger.columns, start=1):
            value = row.get(key)
            sheet.cell(row=i, column=j, value="" if value is None else value)
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv(doc: Document) -> bytes:
    """CSV for machines: UTF-8 with BOM (Excel opens it), a header of column keys, one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([key for key, _ in doc.ledger.columns])
    for row in doc.rows:
        writer.writerow(["" if row.get(key) is None else row.get(key) for key, _ in doc.ledger.columns])
    return ("\ufeff" + buffer.getvalue()).encode()


def to_html(doc: Document) -> str:
    """The printable HTML the PDF is made from (A4 landscape, repeated table header)."""
    e = html.escape
    heading = "".join(f"<p class='h{i}'>{e(line)}</p>" for i, line in enumerate(doc.heading))
    head = "".join(f"<th>{e(title)}</th>" for _, title in doc.ledger.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{e(str(row.get(k) if row.get(k) is not None else ''))}</td>" for k, _ in doc.ledger.columns)
        + "</tr>"
        for row in doc.rows
    )
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page {{ size: A4 landscape; margin: 10mm;
  @bottom-center {{ content: "第 " counter(page) " 页 / 共 " counter(pages) " 页";
    font-family: '{PDF_FONT}'; font-size: 7pt; }} }}
body {{ font-family: '{PDF_FONT}'; font-size: 6.5pt; }}
p {{ margin: 0 0 1.5mm 0; }} p.h0 {{ font-size: 12pt; font-weight: bold; text-align: center; }}
table {{ border-collapse: collapse; width: 100%; table-layout: auto; }}
th, td {{ border: 0.4pt solid #444; padding: 0.6mm 0.8mm; word-break: break-all; }}
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


def start_job(open_session: SessionFactory, principal: Principal, job_id: uuid.UUID) -> None:
    """Run a queued job in this process; the task is kept referenced until it ends."""
    task = asyncio.create_task(run_job(open_session, principal, job_id), name=f"report-export-{job_id}")
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


async def run_job(open_session: SessionFactory, principal: Principal, job_id: uuid.UUID) -> None:
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
        doc = Document(ledger, scope.name, scope.uscc, period, dt.datetime.now(dt.UTC), rows)
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
