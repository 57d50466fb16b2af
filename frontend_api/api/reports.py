"""Reports, statistics, grading dashboard, charts, exports and non-road transport records (issue 7).

Every path names the enterprise: ``/enterprises/{tenant_id}/…``. An enterprise's users may name only
their own (404 otherwise); a regulator may name any enterprise of its region (row-level security
decides, 404 outside it). Periods: ``period`` = day|month|year with ``date`` (``YYYY-MM-DD`` /
``YYYY-MM`` / ``YYYY``), or ``from`` + ``to`` China dates; default the current month.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from litestar import Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.entitlements import Action, require
from cloud.lib.problems import not_found
from cloud.reports import exports, grading, ledgers, non_road, service
from cloud.reports.periods import Period, china_today, months_back, parse_period
from cloud.reports.reading import report_reads
from cloud.reports.settings import ALL_MODES, MODE_LABELS
from frontend_api.api.schemas import From, Limit, Offset, To
from tenants.context import Principal, Role

if TYPE_CHECKING:
    from cloud.db import models as m

ReportType = Literal[
    "transport_passes",
    "in_plant_vehicles",
    "nrmm",
    "emergency_responses",
    "interceptions",
    "manual_releases",
    "daily_statistics",
]
IndicatorCode = Literal[
    "clean_transport_ratio",
    "road_heavy_stage",
    "in_plant_stage",
    "nrmm_stage",
    "ledger_completeness",
    "upload_rate",
    "manual_release_reasons",
    "open_flags",
]
PeriodKindQuery = Annotated[
    Literal["day", "month", "year"] | None, QueryParameter(description="报表周期：day 日报、month 月报、year 年报")
]
DateQuery = Annotated[str | None, QueryParameter(max_length=10, description="日报 YYYY-MM-DD，月报 YYYY-MM，年报 YYYY")]
ExportFormat = Literal["xlsx", "pdf", "csv"]
# Starting an export job writes (a job row, a file): guard and viewer write nothing (docs/api.md "Roles",
# issue 17); they still download a report synchronously through the GET routes.
_EXPORT_ROLES = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER, Role.PLATFORM_ADMIN})


class Column(msgspec.Struct):
    """A report column: machine key and Chinese header."""

    key: str
    title: str


class PeriodOut(msgspec.Struct):
    """The period a report covers (China days, inclusive)."""

    kind: str
    first: dt.date
    last: dt.date
    label: str


class LedgerPage(msgspec.Struct):
    """One page of a ledger report."""

    report: str
    title: str
    enterprise: str
    uscc: str
    period: PeriodOut
    generated_at: dt.datetime
    columns: list[Column]
    rows: list[dict[str, str | int | None]]
    total: int
    limit: int
    offset: int


class ReportTypeOut(msgspec.Struct):
    """An available report layout."""

    code: str
    title: str
    columns: list[Column]


def _period_out(period: Period) -> PeriodOut:
    return PeriodOut(period.kind, period.first, period.last, period.label)


def _period(kind: str | None, date: str | None, start: str | None, end: str | None) -> Period:
    return parse_period(kind, date, start, end)


def _envelope(scope: service.Scope, period: Period, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "enterprise": scope.name,
        "tenant_id": scope.tenant_id,
        "period": _period_out(period),
        "generated_at": dt.datetime.now(dt.UTC),
        **body,
    }


@get("/enterprises/{tenant_id:uuid}/reports/types", operation_id="ListReportTypes")
async def list_report_types(
    tenant_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> list[ReportTypeOut]:
    """The ledger report layouts (HJ 1321) and their columns."""
    async with session.begin():
        await service.open_scope(session, principal, tenant_id)
    return [ReportTypeOut(t.code, t.title, [Column(k, v) for k, v in t.columns]) for t in ledgers.LEDGERS.values()]


@get("/enterprises/{tenant_id:uuid}/reports/ledgers/{report_type:str}", operation_id="GetLedgerReport")
async def get_ledger(
    tenant_id: FromPath[uuid.UUID],
    report_type: FromPath[ReportType],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
    limit: FromQuery[Limit] = 100,
    offset: FromQuery[Offset] = 0,
) -> LedgerPage:
    """A ledger report (daily, monthly, annual or a date range), one page of rows."""
    window = _period(period, date, start, end)
    ledger = ledgers.LEDGERS[report_type]
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        rows, total = await ledger.fetch(reader, scope, window, limit, offset)
    return LedgerPage(
        ledger.code,
        ledger.title,
        scope.name,
        scope.uscc,
        _period_out(window),
        dt.datetime.now(dt.UTC),
        [Column(k, v) for k, v in ledger.columns],
        rows,
        total,
        limit,
        offset,
    )


def _download(content: bytes, content_type: str, filename: str) -> Response[bytes]:
    ascii_name = "report." + filename.rsplit(".", 1)[-1]
    return Response(
        content=content,
        media_type=content_type,
        headers={"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"},
    )


@get(
    "/enterprises/{tenant_id:uuid}/reports/ledgers/{report_type:str}/export",
    operation_id="ExportLedgerReport",
    media_type="application/octet-stream",
)
async def export_ledger(
    tenant_id: FromPath[uuid.UUID],
    report_type: FromPath[ReportType],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    fmt: Annotated[ExportFormat, QueryParameter(name="format", description="xlsx、pdf 或 csv")] = "xlsx",
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
) -> Response[bytes]:
    """Download a report file now (Excel/CSV up to 20,000 rows, PDF 2,000; larger: a background export)."""
    window = _period(period, date, start, end)
    ledger = ledgers.LEDGERS[report_type]
    async with session.begin():
        scope = await service.open_scope(session, principal, tenant_id)
        rows = await exports.collect(session, scope, ledger, window, max_rows=exports.SYNC_MAX_ROWS[fmt])
    photos = exports.loader_of(state)
    doc = exports.Document(ledger, scope.name, scope.uscc, window, dt.datetime.now(dt.UTC), rows, photos)
    content = await exports.render(fmt, doc)
    return _download(content, exports.CONTENT_TYPES[fmt], f"{doc.filename}.{fmt}")


@get("/enterprises/{tenant_id:uuid}/reports/statistics", operation_id="GetReportStatistics")
async def get_statistics(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """Clean transport, stage and fuel mixes, daily averages, peak hours, interceptions, carriers, data quality."""
    window = _period(period, date, start, end)
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        body = await service.statistics(reader, scope, window)
    return _envelope(scope, window, body)


@get("/enterprises/{tenant_id:uuid}/reports/clean-transport", operation_id="GetCleanTransport")
async def get_clean_transport(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """The clean-transport ratio by tonnage and by trips (default: the last 12 months)."""
    window = (
        months_back(china_today(), 12) if not (period or date or start or end) else _period(period, date, start, end)
    )
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        body = await service.clean_transport(reader, scope, window)
    return _envelope(scope, window, {"clean_transport": body})


@get("/enterprises/{tenant_id:uuid}/reports/grading", operation_id="GetGradingDashboard")
async def get_grading(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    grade: Annotated[
        Literal["A", "B", "B-", "C", "D", "leading"] | None,
        QueryParameter(description="目标绩效等级，默认企业当前等级"),
    ] = None,
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """Each transport-related A/B indicator: value, threshold, pass/fail, link to its records (default: 12 months)."""
    window = (
        months_back(china_today(), 12) if not (period or date or start or end) else _period(period, date, start, end)
    )
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        body = await grading.dashboard(reader, scope, window, grade)
    for item in body["indicators"]:
        item["records_href"] += "?" + "&".join(f"{k}={v}" for k, v in window.as_params().items() if k != "kind")
    return _envelope(scope, window, body)


@get("/enterprises/{tenant_id:uuid}/reports/grading/{indicator:str}/records", operation_id="ListIndicatorRecords")
async def list_indicator_records(
    tenant_id: FromPath[uuid.UUID],
    indicator: FromPath[IndicatorCode],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> dict[str, Any]:
    """The records that pull an indicator down (passes or vehicles), oldest first."""
    window = (
        months_back(china_today(), 12) if not (period or date or start or end) else _period(period, date, start, end)
    )
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        items, total = await grading.records(reader, scope, window, indicator, limit, offset)
    return {"indicator": indicator, "items": items, "total": total, "limit": limit, "offset": offset}


@get("/enterprises/{tenant_id:uuid}/reports/charts/time-series", operation_id="GetChartTimeSeries")
async def get_time_series(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    granularity: Annotated[Literal["day", "month"], QueryParameter(description="day 按日、month 按月")] = "day",
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """Per day or month: entries, exits, refused, trips, NEV and compliant trips, tonnage, clean ratio."""
    window = _period(period, date, start, end)
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        series = await service.time_series(reader, scope, window, granularity)
    return _envelope(scope, window, {"granularity": granularity, "series": series})


@get("/enterprises/{tenant_id:uuid}/reports/charts/mix", operation_id="GetChartMix")
async def get_mix(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
    dimension: Annotated[
        Literal["emission_stage", "fuel", "direction", "decision", "trigger", "category", "carrier", "hour"],
        QueryParameter(description="分组维度"),
    ] = "emission_stage",
    period: PeriodKindQuery = None,
    date: DateQuery = None,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """A mix for a pie or bar chart (emission stage, fuel, direction, decision, trigger, category, carrier, hour)."""
    window = _period(period, date, start, end)
    async with report_reads(state.database, session, principal, tenant_id) as (reader, scope):
        body = await service.mix(reader, scope, window, dimension)
    return _envelope(scope, window, body)


# Settings ---------------------------------------------------------------------------------------------


class ReportSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to the report settings; absent fields keep their value."""

    clean_modes: (
        list[Literal["rail", "water", "pipeline", "tubular_belt", "belt_gallery", "nev_truck", "cn6_truck"]] | None
    ) = None
    clean_ratio_threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    completeness_threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    upload_rate_threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None


def _settings_out(settings: Any) -> dict[str, Any]:
    return {
        **settings.as_dict(),
        "defaults": settings.defaults,
        "modes": [{"mode": mode, "label": MODE_LABELS[mode]} for mode in ALL_MODES],
    }


@get("/enterprises/{tenant_id:uuid}/reports/settings", operation_id="GetReportSettings")
async def get_report_settings(
    tenant_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> dict[str, Any]:
    """Which modes count as clean transport and the thresholds (industry defaults unless changed)."""
    async with session.begin():
        scope = await service.open_scope(session, principal, tenant_id)
    return _settings_out(scope.settings)


@put("/enterprises/{tenant_id:uuid}/reports/settings", operation_id="UpdateReportSettings")
async def update_report_settings(
    tenant_id: FromPath[uuid.UUID],
    data: JSONBody[ReportSettingsIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> dict[str, Any]:
    """Change the clean-transport modes or thresholds (audited)."""
    if principal.tenant_id != tenant_id:
        raise not_found("企业")
    changes = {
        k: (Decimal(str(v)) if isinstance(v, float) else v)
        for k, v in msgspec.structs.asdict(data).items()
        if v is not None
    }
    async with session.begin():
        settings = await service.update_settings(session, principal, tenant_id, changes)
    return _settings_out(settings)


# Non-road transport records ---------------------------------------------------------------------------


class NonRoadIn(msgspec.Struct, forbid_unknown_fields=True):
    """Tonnage moved by a clean non-road mode on one day; ``supersedes_id`` corrects an earlier record."""

    day: dt.date
    mode: Literal["rail", "water", "pipeline", "tubular_belt", "belt_gallery"]
    direction: Literal["in", "out"]
    cargo_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    tonnage_t: Decimal
    trips: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""
    supersedes_id: uuid.UUID | None = None
    voided: bool = False


class NonRoadOut(msgspec.Struct):
    """A non-road transport record."""

    id: uuid.UUID
    day: dt.date
    mode: str
    mode_label: str
    direction: str
    cargo_name: str
    tonnage_t: Decimal
    trips: int
    note: str
    supersedes_id: uuid.UUID | None
    voided: bool
    superseded: bool
    created_at: dt.datetime


def _non_road(r: m.NonRoadTransport, superseded: bool) -> NonRoadOut:
    return NonRoadOut(
        r.id, r.day, r.mode, MODE_LABELS[r.mode], r.direction, r.cargo_name, r.tonnage_t, r.trips, r.note,
        r.supersedes_id, r.voided, superseded, r.created_at,
    )  # fmt: skip


@get("/enterprises/{tenant_id:uuid}/non-road-transport", operation_id="ListNonRoadTransport")
async def list_non_road(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    start: From = None,
    end: To = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> dict[str, Any]:
    """Non-road transport records (every version; ``superseded`` marks corrected ones), newest day first."""
    first = parse_period(None, None, start, start).first if start else None
    last = parse_period(None, None, end, end).last if end else None
    async with session.begin():
        await service.open_scope(session, principal, tenant_id)
        rows, superseded = await non_road.list_records(session, tenant_id, first, last)
    page = rows[offset : offset + limit]
    return {
        "items": [_non_road(r, r.id in superseded) for r in page],
        "total": len(rows),
        "limit": limit,
        "offset": offset,
    }


@post("/enterprises/{tenant_id:uuid}/non-road-transport", operation_id="CreateNonRoadTransport")
async def create_non_road(
    tenant_id: FromPath[uuid.UUID],
    data: JSONBody[NonRoadIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> NonRoadOut:
    """Record rail/water/pipeline/belt tonnage (a correction supersedes an earlier record; audited)."""
    if principal.tenant_id != tenant_id:
        raise not_found("企业")
    record = non_road.NewRecord(
        data.day, data.mode, data.direction, data.cargo_name, data.tonnage_t, data.trips, data.note,
        data.supersedes_id, data.voided,
    )  # fmt: skip
    async with session.begin():
        row = await non_road.add_record(session, principal, tenant_id, record)
    return _non_road(row, superseded=False)


# Background exports -----------------------------------------------------------------------------------


class ExportIn(msgspec.Struct, forbid_unknown_fields=True):
    """A report to export in the background."""

    report: ReportType
    format: ExportFormat = "xlsx"
    period: Literal["day", "month", "year"] | None = None
    date: Annotated[str, msgspec.Meta(max_length=10)] | None = None
    start: Annotated[str, msgspec.Meta(max_length=10)] | None = msgspec.field(default=None, name="from")
    end: Annotated[str, msgspec.Meta(max_length=10)] | None = msgspec.field(default=None, name="to")


class ExportOut(msgspec.Struct):
    """An export job and its progress; ``file_href`` once done; ``href`` is the job's own URL (poll it)."""

    id: uuid.UUID
    report: str
    format: str
    params: dict[str, Any]
    status: str
    progress: int
    rows: int | None
    error: str | None
    filename: str | None
    file_href: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    href: str | None = None


def _export(job: m.BackgroundJob) -> ExportOut:
    """A ``report_export`` job (cloud.jobs, ADR 0031): a replica that died hands it over after its lease."""
    params: dict[str, Any] = dict(job.params)
    base = f"/api/v1/enterprises/{job.tenant_id}/reports/exports/{job.id}"
    href = f"{base}/file" if job.status == "done" else None
    return ExportOut(
        job.id, str(params.get("report", "")), str(params.get("format", "")), dict(params.get("period") or {}),
        job.status, job.progress, job.result_rows, job.error, job.result_filename, href, job.created_at,
        job.updated_at, base,
    )  # fmt: skip


@post("/enterprises/{tenant_id:uuid}/reports/exports", operation_id="CreateReportExport", opt={"roles": _EXPORT_ROLES})
async def create_export(
    tenant_id: FromPath[uuid.UUID],
    data: JSONBody[ExportIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> Response[ExportOut]:
    """Start a background export (Excel, PDF or CSV); poll the job for progress, then fetch its file."""
    if principal.tenant_id != tenant_id:
        raise not_found("企业")
    window = parse_period(data.period, data.date, data.start, data.end)
    async with session.begin():
        # csv/xlsx of the tenant's own ledger are never gated; pdf is a plan feature (issue 22, ADR 0033).
        await require(session, principal, Action.EXPORT_FORMAT, export_format=data.format)
        job = await exports.create_job(session, principal, tenant_id, data.report, data.format, window)
    out = _export(job)  # any replica's job runner takes it after the commit
    return Response(out, status_code=202, headers={"Location": out.href or ""})


@get("/enterprises/{tenant_id:uuid}/reports/exports", operation_id="ListReportExports")
async def list_exports(
    tenant_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> dict[str, Any]:
    """Export jobs of the enterprise, newest first."""
    async with session.begin():
        await service.open_scope(session, principal, tenant_id)
        rows = await exports.list_jobs(session, tenant_id, limit, offset)
    return {"items": [_export(j) for j in rows], "limit": limit, "offset": offset}


async def _job(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, export_id: uuid.UUID
) -> m.BackgroundJob:
    await service.open_scope(session, principal, tenant_id)
    return await exports.get_job(session, tenant_id, export_id)


@get("/enterprises/{tenant_id:uuid}/reports/exports/{export_id:uuid}", operation_id="GetReportExport")
async def get_export(
    tenant_id: FromPath[uuid.UUID],
    export_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> ExportOut:
    """An export job's status and progress (0–100)."""
    async with session.begin():
        job = await _job(session, principal, tenant_id, export_id)
    return _export(job)


@get(
    "/enterprises/{tenant_id:uuid}/reports/exports/{export_id:uuid}/file",
    operation_id="GetReportExportFile",
    media_type="application/octet-stream",
)
async def get_export_file(
    tenant_id: FromPath[uuid.UUID],
    export_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
) -> Response[bytes]:
    """The finished export's file from the blob store (409 while it is still running, 410 once expired)."""
    async with session.begin():
        job = await _job(session, principal, tenant_id, export_id)
    content = await exports.job_file(state.blobs, job)
    return _download(content, job.result_content_type or "application/octet-stream", job.result_filename or "report")


HANDLERS = [
    list_report_types,
    get_ledger,
    export_ledger,
    get_statistics,
    get_clean_transport,
    get_grading,
    list_indicator_records,
    get_time_series,
    get_mix,
    get_report_settings,
    update_report_settings,
    list_non_road,
    create_non_road,
    create_export,
    list_exports,
    get_export,
    get_export_file,
]
