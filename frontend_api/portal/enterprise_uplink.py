"""数据上传状态 (issue 19 item 1): the regulator uplink on a page.

The upload rate per day (chart and table), the KPIs of the last 7 days with the alarms in force and
their history (:mod:`cloud.uplink.alarms`), every record the platform refused or that failed with the
platform's own answer, and 补传 of one, several or a whole period (:mod:`cloud.uplink.outbox`; audited
like the API's ``ResendUplinkPeriod``). For 企业管理员 and 环保管理员, like the JSON API.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.params import FromQuery
from litestar.response import Redirect

from cloud.domain import audit
from cloud.uplink import alarms as uplink_alarms
from cloud.uplink import outbox
from cloud.uplink.states import label as state_label
from frontend_api.portal.enterprise_reports import ECHARTS_FILE, ECHARTS_URL
from frontend_api.portal.toolkit import CHINA, STALE, Me, china_day_start, csrf_ok, page_get, page_post, render
from tenants.context import Principal, Role

__all__ = ["MANAGERS", "routes"]

log = structlog.get_logger(__name__)

BASE: Final = "/portal/uplink"
MANAGERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
_DENIED: Final = "当前账号（{role}）无权查看数据上传状态。请联系企业管理员或环保管理员。"
_DAYS: Final = 30
_UNCONFIGURED: Final = {"_": "尚未配置监管平台，无法补传。请企业管理员先配置监管平台。"}
_MAX_PERIOD: Final = dt.timedelta(days=92)


async def _page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    assert principal.tenant_id is not None
    tenant_id = principal.tenant_id
    today = china_day_start()
    tomorrow = today + dt.timedelta(days=1)
    database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        week = await outbox.upload_status(session, tenant_id, today - dt.timedelta(days=6), tomorrow)
        threshold = await uplink_alarms.threshold_of(session, tenant_id)
        days = await outbox.daily_rates(session, tenant_id, today - dt.timedelta(days=_DAYS - 1), tomorrow)
        failed = await outbox.failed_records(session, tenant_id)
        history = await uplink_alarms.history(session)
    alarms = uplink_alarms.current(week, threshold) if week is not None and threshold is not None else []
    chart = {
        "days": [d["day"].strftime("%m-%d") for d in days],
        "rates": [float(d["upload_rate"]) if d["upload_rate"] is not None else None for d in days],
        "rejected": [d["rejected"] for d in days],
    }
    local_today = dt.datetime.now(CHINA).date()
    return render(
        request,
        "enterprise/uplink.html",
        status_code=status_code,
        principal=principal,
        configured=week is not None,
        week=week,
        threshold=threshold,
        alarms=alarms,
        history=history,
        days=days,
        failed=failed,
        state_label=state_label,
        chart_json=json.dumps(chart, ensure_ascii=False).replace("</", "<\\/"),
        has_echarts=ECHARTS_FILE.is_file(),
        echarts_url=ECHARTS_URL,
        notice=notice,
        form=form or {"start": (local_today - dt.timedelta(days=1)).isoformat(), "end": local_today.isoformat()},
        errors=errors or {},
    )


@page_get(BASE, roles=MANAGERS, denied=_DENIED)
async def uplink_page(request: Request[Any, Any, Any], principal: Me, queued: FromQuery[int] = -1) -> Response[Any]:
    """Upload rate per day, KPIs and alarms, the refused records with the platform's answer, 补传 forms."""
    notice = f"已重新排队补传 {queued} 条记录，上传进程将在几秒内发送。" if queued >= 0 else ""
    return await _page(request, principal, notice=notice)


def _parse(
    form: dict[str, str], ids_raw: list[str]
) -> tuple[list[uuid.UUID], dt.datetime | None, dt.datetime | None, dict[str, str]]:
    """The ticked records, or the period's bounds (China dates), and the form's errors."""
    errors: dict[str, str] = {}
    ids: list[uuid.UUID] = []
    if form["mode"] == "records":
        for value in ids_raw:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                continue
        if not ids:
            errors["records"] = "请先勾选要补传的记录"
        return ids, None, None, errors
    start = end = None
    try:
        start = dt.datetime.combine(dt.date.fromisoformat(form["start"]), dt.time(), CHINA)
        end = dt.datetime.combine(dt.date.fromisoformat(form["end"]), dt.time(), CHINA) + dt.timedelta(days=1)
    except ValueError:
        errors["start"] = "请填写起止日期，格式如 2026-11-28"
    else:
        if end <= start or end - start > _MAX_PERIOD:
            errors["start"] = "补传时段须从开始日期到结束日期，且不超过 92 天"
    if not form["reason"]:
        errors["reason"] = "请填写补传原因（如 监管平台要求补传）"
    return ids, start, end, errors


@page_post(f"{BASE}/resend", roles=MANAGERS, denied=_DENIED)
async def resend(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """补传 of the ticked records, or of a period (China dates, at most 92 days) with a reason."""
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("start", "end", "reason", "csrf", "mode")}
    ids_raw = [str(v) for v in raw.getall("id", [])] if hasattr(raw, "getall") else []
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    assert principal.tenant_id is not None
    ids, start, end, errors = _parse(form, ids_raw)
    if errors:
        return await _page(request, principal, form=form, errors=errors, status_code=422)
    database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        if not await uplink_alarms.configured(session):
            return await _page(request, principal, form=form, errors=_UNCONFIGURED, status_code=409)
        if start is not None and end is not None:
            queued = await outbox.resend_period(session, principal.tenant_id, start, end)
            detail: dict[str, Any] = {"from": form["start"], "to": form["end"], "reason": form["reason"]}
        else:
            queued = await outbox.resend_records(session, principal.tenant_id, ids)
            detail = {"records": [str(i) for i in ids], "reason": form["reason"] or "逐条补传"}
        audit.record(session, principal, "uplink.resend", "uplink_outbox", None, {**detail, "queued": queued})
    log.info("portal.uplink_resend", queued=queued, by=principal.login)
    return Redirect(f"{BASE}?queued={queued}", status_code=303)


def routes() -> list[Any]:
    """The upload status page and its 补传 form."""
    return [uplink_page, resend]
