"""Review queue, monthly reports with charts and exports, grading dashboard (issue 9).

Every page runs in the signed-in person's session (RLS, tenant from the session token) and calls
the same services as the JSON API: ``cloud.compliance.checks``/``flags`` (the review queue, as
``/api/v1/compliance/flags``), ``cloud.reports.service``/``ledgers``/``exports`` (as
``/api/v1/enterprises/{id}/reports/…``) and ``cloud.reports.grading``. Permanent uplink rejections
(issue 8) are review-queue flags with the code ``uplink_rejected`` carrying the platform's reason.
ECharts is served from ``/portal/static/vendor/echarts`` (committed release, ADR 0017); without
the file the report page shows its tables and a Chinese note instead of the charts.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

import structlog
from litestar import Request, Response
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from sqlalchemy import func, select, text

from cloud.compliance import checks, flags
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.ledger import weighings
from cloud.lib.problems import ProblemError
from cloud.reports import exports, grading, ledgers, service
from cloud.reports.periods import Period, china_today, months_back, parse_period
from frontend_api.portal.toolkit import (
    ENTERPRISE_ROLES,
    STALE,
    Me,
    csrf_ok,
    csrf_token,
    page_get,
    page_post,
    read_form,
    render,
)
from tenants.context import Principal, Role

__all__ = ["ECHARTS_FILE", "routes"]

log = structlog.get_logger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
ECHARTS_FILE: Final = STATIC_DIR / "vendor" / "echarts" / "echarts.min.js"
ECHARTS_URL: Final = "/portal/static/vendor/echarts/echarts.min.js"
#: Who may resolve flags (the JSON API's REVIEWERS).
REVIEWERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
_REVIEW_DENIED: Final = "当前账号无权处理待审核事项（仅企业管理员和环保管理员可以处理）"
UPLINK_REJECTED: Final = "uplink_rejected"
_PAGE: Final = 100
#: New passes the review page checks itself; more are handed to the background runner.
_SYNC_CHECKS: Final = 2000
_FORMATS: Final = ("xlsx", "csv", "pdf")
_GRADES: Final = ("A", "B", "B-", "C", "D", "leading")
_STATUS_LABELS: Final = {"pass": "达标", "fail": "未达标", "no_data": "无数据", "not_required": "不要求"}
_REVIEW_STATUSES: Final = {"open": "待处理", "closed": "已关闭", "all": "全部"}
#: Agent anomalies on passes of the last 7 days (the time index bounds the scan on a large ledger) that no reviewer
#: has closed: evidence shown for information; the open-flag count is
#: cloud.compliance.flags.count_open (check flags only; docs/reports.md "Open flags").
_ANOMALIES_SQL: Final = text(
    "SELECT p.id, p.occurred_at, p.plate, p.anomaly_flags FROM pass_event p "
    "WHERE p.occurred_at >= now() - interval '7 days' AND cardinality(p.anomaly_flags) > 0 AND NOT EXISTS ("
    " SELECT 1 FROM check_flag f WHERE f.pass_event_id = p.id AND ("
    "  SELECT r.outcome FROM check_resolution r WHERE r.flag_id = f.id ORDER BY r.created_at DESC LIMIT 1"
    " ) IN ('resolved', 'dismissed')) "
    "ORDER BY p.occurred_at DESC LIMIT :limit"
)


def _label_of(code: str) -> str:
    if code == UPLINK_REJECTED:
        return "监管平台拒收"
    return flags.anomaly_label(code)


# Review queue ------------------------------------------------------------------------------------


@page_get("/portal/reviews", roles=ENTERPRISE_ROLES)
async def review_queue(
    request: Request[Any, Any, Any], principal: Me, status: FromQuery[str] = "open"
) -> Response[Any]:
    """Open logic-check flags, agent anomalies and platform rejections, each linking to its pass."""
    return await _queue(request, principal, "open" if status not in _REVIEW_STATUSES else status)


async def _due_checks(request: Request[Any, Any, Any], session: Any, principal: Principal) -> str:
    """Run the logic checks here when few new passes wait for them, else hand them to the background runner.

    The page stays fast on a large ledger (bench/portal_render.py): a first check of a bulk-loaded ledger
    or a backlog goes to :class:`cloud.hub.checks.ChecksRunner` (the runner the hub uses after every batch),
    and the page says so. Returns that sentence ("" when the checks ran here or nothing waited).
    """
    assert principal.tenant_id is not None
    until = await session.scalar(select(m.CheckState.passes_until))
    newer = select(m.PassEvent.id)
    if until is not None:
        newer = newer.where(m.PassEvent.received_at > until)
    waiting = int(await session.scalar(select(func.count()).select_from(newer.limit(_SYNC_CHECKS + 1).subquery())) or 0)
    if waiting == 0 and until is not None:
        return ""
    if waiting <= _SYNC_CHECKS:
        await checks.run_checks(session, principal.tenant_id)
        return ""
    request.app.state.hub_checks.request(principal)
    return f"有 {_SYNC_CHECKS:,} 条以上新记录正在后台核查，稍后刷新本页查看结果。"


async def _queue(
    request: Request[Any, Any, Any],
    principal: Principal,
    status: str,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    criteria = flags.FlagFilter(None if status == "all" else status)
    checking = ""
    async with database.session(principal) as session, session.begin():
        if principal.tenant_id is not None:
            checking = await _due_checks(request, session, principal)
        views, total = await flags.list_flags(session, criteria, _PAGE, 0)
        anomalies = list(await session.execute(_ANOMALIES_SQL, {"limit": _PAGE})) if status != "closed" else []
        unattributed = (
            await weighings.unattributed_weighings(session, principal.tenant_id, limit=_PAGE)
            if status != "closed" and principal.tenant_id is not None
            else []
        )
    rejected = [v for v in views if v.flag.code == UPLINK_REJECTED]
    logic = [v for v in views if v.flag.code != UPLINK_REJECTED]
    return render(
        request,
        "enterprise/reports/reviews.html",
        status_code=status_code,
        principal=principal,
        logic=logic,
        rejected=rejected,
        anomalies=[
            {
                "id": a.id,
                "occurred_at": a.occurred_at,
                "plate": a.plate,
                "labels": [_label_of(c) for c in a.anomaly_flags],
            }
            for a in anomalies
        ],
        total=total,
        status=status,
        statuses=_REVIEW_STATUSES,
        label_of=_label_of,
        unattributed=unattributed,
        source_labels=weighings.SOURCES,
        outcomes=flags.OUTCOMES,
        can_resolve=principal.role in REVIEWERS,
        done=request.query_params.get("done", ""),
        checking=checking,
        form=form or {},
        errors=errors or {},
        csrf=csrf_token(request),
    )


@page_post("/portal/reviews/{flag_id:uuid}/resolve", roles=REVIEWERS, denied=_REVIEW_DENIED)
async def resolve_flag(request: Request[Any, Any, Any], principal: Me, flag_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Resolve (已处理/误报) or reopen a flag with a reason; errors next to the field, nothing saved."""
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("outcome", "reason", "csrf", "status")}
    form["flag"] = str(flag_id)
    status = form["status"] if form["status"] in _REVIEW_STATUSES else "open"
    if not csrf_ok(request, form):
        return await _queue(request, principal, status, form=form, errors=STALE, status_code=400)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            view = await flags.resolve(session, principal, flag_id, form["outcome"], form["reason"])
    except ProblemError as exc:
        if exc.status == 404:
            return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
        errs = {e.field: e.message for e in exc.errors} or {"_": exc.detail}
        return await _queue(request, principal, status, form=form, errors=errs, status_code=422)
    log.info("portal.flag_resolved", flag_id=str(flag_id), outcome=form["outcome"], by=principal.login)
    label = flags.OUTCOMES[form["outcome"]]
    target = f"/portal/reviews?{urlencode({'status': status, 'done': f'{_label_of(view.flag.code)}：{label}'})}"
    return Redirect(target, status_code=303)


# Reports -----------------------------------------------------------------------------------------


def _month_period(month: str) -> tuple[Period, str, str]:
    """The month's period; an invalid month falls back to this month with the Chinese error."""
    text_month = month.strip() or china_today().isoformat()[:7]
    try:
        return parse_period("month", text_month, None, None), text_month, ""
    except ProblemError as exc:
        message = exc.errors[0].message if exc.errors else exc.detail
        this = china_today().isoformat()[:7]
        return parse_period("month", this, None, None), text_month, message or "月份格式应为 YYYY-MM"


def _other_period(kind: str, day: str, year: str) -> tuple[Period, str]:
    """A daily (日报) or annual (年报) period; an invalid one falls back to today / this year with the error."""
    text = (day if kind == "day" else year).strip() or None
    try:
        return parse_period(kind, text, None, None), ""
    except ProblemError as exc:
        message = exc.errors[0].message if exc.errors else exc.detail
        return parse_period(kind, None, None, None), message or "日期格式错误"


@page_get("/portal/reports", roles=ENTERPRISE_ROLES)
async def reports_page(
    request: Request[Any, Any, Any],
    principal: Me,
    month: FromQuery[str] = "",
    kind: FromQuery[str] = "month",
    day: FromQuery[str] = "",
    year: FromQuery[str] = "",
) -> Response[Any]:
    """Daily, monthly or annual statistics with charts (passes by decision, vehicle mix by stage) and exports."""
    if kind in {"day", "year"}:
        period, error = _other_period(kind, day, year)
        shown = period.first.isoformat()[:7]
    else:
        kind = "month"
        period, shown, error = _month_period(month)
    status_code = 422 if error else 200
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        scope = await service.open_scope(session, principal, principal.tenant_id)
        stats = await service.statistics(session, scope, period)
        series = await service.time_series(session, scope, period, "month" if kind == "year" else "day")
    chart: dict[str, Any] = {
        "days": [row["period"][5:] if kind != "year" else row["period"] for row in series],
        "allowed": [row["entries"] + row["exits"] for row in series],
        "refused": [row["refused"] for row in series],
        "names": ["放行", "拦截"],
        "stages": [{"name": s["label"] or "未知", "value": s["trips"]} for s in stats["emission_stage_mix"]],
    }
    if kind == "day":  # a day's chart is by hour (every pass; refusals are in the table below)
        hours = stats["hours"]["by_hour"]
        chart |= {"days": [f"{h['hour']:02d}时" for h in hours], "allowed": [h["passes"] for h in hours]}
        chart |= {"refused": [], "names": ["通行", "拦截"]}
    return render(
        request,
        "enterprise/reports/reports.html",
        status_code=status_code,
        principal=principal,
        scope=scope,
        period=period,
        month=shown,
        month_value=period.first.isoformat()[:7],
        kind=kind,
        day_value=period.first.isoformat() if kind == "day" else "",
        year_value=str(period.first.year),
        error=error,
        stats=stats,
        series=series,
        chart_json=json.dumps(chart, ensure_ascii=False).replace("</", "<\\/"),
        has_echarts=ECHARTS_FILE.is_file(),
        echarts_url=ECHARTS_URL,
        ledgers=list(ledgers.LEDGERS.values()),
        formats=_FORMATS,
    )


@page_get("/portal/reports/ledgers/{report:str}", roles=ENTERPRISE_ROLES)
async def ledger_page(
    request: Request[Any, Any, Any], principal: Me, report: FromPath[str], month: FromQuery[str] = ""
) -> Response[Any]:
    """One HJ 1321 ledger of the month (first rows) with its download links."""
    ledger = ledgers.LEDGERS.get(report)
    if ledger is None:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    period, shown, error = _month_period(month)
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        scope = await service.open_scope(session, principal, principal.tenant_id)
        rows, total = await ledger.fetch(session, scope, period, _PAGE, 0)
    return render(
        request,
        "enterprise/reports/ledger.html",
        status_code=422 if error else 200,
        principal=principal,
        ledger=ledger,
        period=period,
        month=shown,
        month_value=period.first.isoformat()[:7],
        error=error,
        rows=rows,
        total=total,
        formats=_FORMATS,
    )


@page_get("/portal/reports/export/{report:str}", roles=ENTERPRISE_ROLES)
async def export_download(
    request: Request[Any, Any, Any],
    principal: Me,
    report: FromPath[str],
    month: FromQuery[str] = "",
    fmt: FromQuery[str] = "xlsx",
) -> Response[Any]:
    """Download a ledger of the month now (Excel, CSV or PDF; ``cloud.reports.exports`` as the API)."""
    ledger = ledgers.LEDGERS.get(report)
    if ledger is None or fmt not in _FORMATS:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    period, _, error = _month_period(month)
    if error:
        return Redirect(f"/portal/reports?{urlencode({'month': month})}", status_code=303)
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    try:
        async with database.session(principal) as session, session.begin():
            scope = await service.open_scope(session, principal, principal.tenant_id)
            rows = await exports.collect(session, scope, ledger, period, max_rows=exports.SYNC_MAX_ROWS[fmt])
    except ProblemError as exc:
        if exc.code == "export_too_large":  # large: offer a background export (issue 19 item 6)
            return render(
                request,
                "enterprise/reports/export_job.html",
                principal=principal,
                offer={"report": report, "month": month, "fmt": fmt, "title": ledger.title, "message": exc.detail},
                may_export=principal.role in _EXPORTERS,
                csrf=csrf_token(request),
                job=None,
            )
        return render(
            request,
            "enterprise/reports/forbidden.html",
            status_code=exc.status,
            principal=principal,
            message=exc.detail,
        )
    photos = exports.loader_of(request.app.state)
    doc = exports.Document(ledger, scope.name, scope.uscc, period, dt.datetime.now(dt.UTC), rows, photos)
    content = await exports.render(fmt, doc)
    filename = f"{doc.filename}.{fmt}"
    log.info("portal.report_exported", report=report, fmt=fmt, rows=len(rows), by=principal.login)
    return Response(
        content,
        media_type=exports.CONTENT_TYPES[fmt],
        headers={"Content-Disposition": f"attachment; filename=\"report.{fmt}\"; filename*=UTF-8''{quote(filename)}"},
    )


#: Who may start a background export (the JSON API's export roles within the enterprise).
_EXPORTERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER})
_EXPORT_DENIED: Final = "当前账号无权创建后台导出任务（仅企业管理员和环保管理员可以创建）"


@page_post("/portal/reports/exports", roles=_EXPORTERS, denied=_EXPORT_DENIED)
async def export_job_create(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Queue a background export of a month's ledger (any replica runs it, ADR 0031) and show its page."""
    form = await read_form(request, "report", "month", "fmt")
    if not csrf_ok(request, form):
        return render(request, "enterprise/reports/forbidden.html", status_code=403, principal=principal, message=STALE)
    ledger = ledgers.LEDGERS.get(form["report"])
    period, _, error = _month_period(form["month"])
    if ledger is None or form["fmt"] not in _FORMATS or error:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        job = await exports.create_job(session, principal, principal.tenant_id, form["report"], form["fmt"], period)
    log.info("portal.export_job_created", report=form["report"], fmt=form["fmt"], by=principal.login)
    return Redirect(f"/portal/reports/exports/{job.id}", status_code=303)


@page_get("/portal/reports/exports/{job_id:uuid}", roles=ENTERPRISE_ROLES)
async def export_job_page(request: Request[Any, Any, Any], principal: Me, job_id: FromPath[uuid.UUID]) -> Response[Any]:
    """A background export's progress (the page refreshes itself) and, when done, its download link."""
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    try:
        async with database.session(principal) as session, session.begin():
            job = await exports.get_job(session, principal.tenant_id, job_id)
    except ProblemError:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    params: dict[str, Any] = dict(job.params)
    ledger = ledgers.LEDGERS.get(str(params.get("report")))
    page = render(
        request,
        "enterprise/reports/export_job.html",
        principal=principal,
        offer=None,
        job=job,
        title=ledger.title if ledger else "报表",
        fmt={"xlsx": "Excel", "csv": "CSV", "pdf": "PDF"}.get(str(params.get("format")), ""),
        period=params.get("period") or {},
    )
    if job.status in {"queued", "running"}:
        page.headers["Refresh"] = "2"  # the browser reloads the page until the job has finished
    return page


@page_get("/portal/reports/exports/{job_id:uuid}/file", roles=ENTERPRISE_ROLES)
async def export_job_file(request: Request[Any, Any, Any], principal: Me, job_id: FromPath[uuid.UUID]) -> Response[Any]:
    """The finished export's file, from the blob store (any replica serves it)."""
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    try:
        async with database.session(principal) as session, session.begin():
            job = await exports.get_job(session, principal.tenant_id, job_id)
        content = await exports.job_file(request.app.state.blobs, job)
    except ProblemError as exc:
        if exc.status == 404:
            return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
        return render(
            request,
            "enterprise/reports/forbidden.html",
            status_code=exc.status,
            principal=principal,
            message=exc.detail,
        )
    filename = job.result_filename or "report"
    suffix = filename.rsplit(".", 1)[-1]
    return Response(
        content,
        media_type=job.result_content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename=\"report.{suffix}\"; filename*=UTF-8''{quote(filename)}"
        },
    )


# Grading -----------------------------------------------------------------------------------------


def _grading_period() -> Period:
    return months_back(china_today(), 12)


@page_get("/portal/grading", roles=ENTERPRISE_ROLES)
async def grading_page(request: Request[Any, Any, Any], principal: Me, grade: FromQuery[str] = "") -> Response[Any]:
    """The A/B grading indicators over the last 12 months: value, threshold, pass/fail, records link."""
    error = ""
    if grade and grade not in _GRADES:
        error, grade = "绩效等级应为 A、B、B-、C、D 或 引领性", ""
    period = _grading_period()
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        scope = await service.open_scope(session, principal, principal.tenant_id)
        body = await grading.dashboard(session, scope, period, grade or None)
    return render(
        request,
        "enterprise/reports/grading.html",
        status_code=422 if error else 200,
        principal=principal,
        body=body,
        period=period,
        grade=grade or body["grade"],
        grades=_GRADES,
        error=error,
        status_labels=_STATUS_LABELS,
    )


@page_get("/portal/grading/{indicator:str}", roles=ENTERPRISE_ROLES)
async def indicator_records(
    request: Request[Any, Any, Any], principal: Me, indicator: FromPath[str], offset: FromQuery[int] = 0
) -> Response[Any]:
    """The records that pull an indicator down (passes link to their page, vehicles to theirs)."""
    if indicator not in grading.INDICATORS:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    offset = max(offset, 0)
    period = _grading_period()
    database: Database = request.app.state.database
    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        scope = await service.open_scope(session, principal, principal.tenant_id)
        items, total = await grading.records(session, scope, period, indicator, _PAGE, offset)
    return render(
        request,
        "enterprise/reports/indicator.html",
        principal=principal,
        indicator=grading.INDICATORS[indicator],
        items=items,
        total=total,
        offset=offset,
        page=_PAGE,
        period=period,
        stage_label=grading.stage_label,
    )


def routes() -> list[Any]:
    """The route handlers of this page group, and the portal's static files (ECharts)."""
    static = create_static_files_router(
        path="/portal/static",
        directories=[STATIC_DIR],
        name="portal-static",
        opt={"public": True},
        cache_control=CacheControlHeader(max_age=86_400, public=True),  # versioned third-party files only
    )
    return [
        review_queue,
        resolve_flag,
        reports_page,
        ledger_page,
        export_download,
        export_job_create,
        export_job_page,
        export_job_file,
        grading_page,
        indicator_records,
        static,
    ]
