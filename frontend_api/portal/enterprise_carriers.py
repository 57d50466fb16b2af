"""运输公司/车队 (issue 19 item 1): each carrier's trips, share of 国五及以上/新能源 and of refused trips, the trend
by month, ranked — what a plant uses to choose green logistics partners.

One query of the reports' aggregates (:func:`cloud.reports.facts.cube` by month and carrier, kept fresh by
:func:`cloud.reports.service.open_scope`), split by month here; the ranking and the shares are the reports'
own definitions (:func:`cloud.reports.stats.carriers`: road entries, 国五 or better or new energy).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final

from litestar import Request, Response
from litestar.params import FromQuery

from cloud.reports import facts, service, stats
from cloud.reports.periods import Period, china_today, months_back
from frontend_api.portal.enterprise_reports import ECHARTS_FILE, ECHARTS_URL
from frontend_api.portal.toolkit import ENTERPRISE_ROLES, Me, page_get, render

__all__ = ["routes"]

BASE: Final = "/portal/carriers"
_CHOICES: Final = (3, 6, 12)
_TREND_TOP: Final = 8


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _share(part: int, whole: int) -> Decimal | None:
    return stats.percent(part, whole) if whole else None


@page_get(BASE, roles=ENTERPRISE_ROLES)
async def carriers_page(request: Request[Any, Any, Any], principal: Me, months: FromQuery[int] = 6) -> Response[Any]:
    """Carriers ranked by their share of 国五及以上/新能源 trips over the last ``months`` months, with the trend."""
    months = months if months in _CHOICES else 6
    period: Period = months_back(china_today(), months)
    database = request.app.state.database
    assert principal.tenant_id is not None
    async with database.session(principal) as session, session.begin():
        scope = await service.open_scope(session, principal, principal.tenant_id)
        rows = await facts.cube(  # summed per month in the database (a row per month and group)
            session,
            scope.tenant_id,
            period.first,
            period.last,
            ("day", *service.CARRIER),
            raw_days=scope.raw_days,
            by_month=True,
            classes=True,  # the ranking reads only new energy / 国五及以上 of fuel and stage
        )
    ranked = stats.carriers(rows)
    for item in ranked:
        attempts = item["trips"] + item["refused"]
        item["refused_share"] = _share(item["refused"], attempts)
        item["nev_share"] = _share(item["nev_trips"], item["trips"])
    by_month: dict[str, list[Any]] = {}
    for row in rows:
        assert row.day is not None
        by_month.setdefault(row.day.strftime("%Y-%m"), []).append(row)
    labels = sorted(by_month)
    trend: dict[str, dict[str, Decimal | None]] = {}
    for month in labels:
        for item in stats.carriers(by_month[month]):
            trend.setdefault(item["carrier"], {})[month] = item["compliance_ratio"]
    top = [item["carrier"] for item in ranked[:_TREND_TOP]]
    chart = {
        "months": labels,
        "series": [
            {
                "name": name,
                "data": [float(v) if (v := trend.get(name, {}).get(m)) is not None else None for m in labels],
            }
            for name in top
        ],
    }
    return render(
        request,
        "enterprise/carriers.html",
        principal=principal,
        period=period,
        months=months,
        choices=_CHOICES,
        ranked=ranked,
        labels=labels,
        trend=trend,
        top=top,
        chart_json=json.dumps(chart, ensure_ascii=False).replace("</", "<\\/"),
        has_echarts=ECHARTS_FILE.is_file(),
        echarts_url=ECHARTS_URL,
    )


def routes() -> list[Any]:
    """The carrier page."""
    return [carriers_page]
