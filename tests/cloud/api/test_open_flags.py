"""Issue 15: one definition of an open flag — the home page, the reports, the grading and the flags API agree.

Before, the home counted every open check flag and the reports counted passes with flags or agent
anomalies (4 against 1 in the demo). Passes stored through the ledger raise logic-check flags; one is
resolved, one pass is voided by a correction; every figure then shows the same number.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

pytestmark = pytest.mark.anyio
CN = dt.timezone(dt.timedelta(hours=8))


def cn(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=CN)


EVENTS = [
    {"plate": "鄂A7M416", "occurred_at": cn(20, 9), "direction": "out"},  # exit without entry
    {"plate": "鄂AF8261", "occurred_at": cn(20, 10), "direction": "out"},  # exit without entry
    {"plate": "鄂AQ0001", "occurred_at": cn(21, 8), "direction": "in", "anomalies": ("needs_review",)},
    {"plate": "鄂AQ0002", "occurred_at": cn(21, 9), "direction": "in", "decision": "refuse"},
]


async def test_home_reports_grading_and_api_count_the_same_open_flags(
    client, make_tenant, login_as, seed_passes
) -> None:
    from tests.cloud.conftest import PASSWORD  # noqa: PLC0415

    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    queue = await client.get("/api/v1/compliance/flags", params={"status": "open", "limit": 200}, headers=headers)
    assert queue.status_code == 200, queue.text
    items = queue.json()["items"]
    assert len(items) >= 3
    # A reviewer closes one; a correction voids the pass of another.
    resolved = await client.post(
        f"/api/v1/compliance/flags/{items[0]['id']}/resolutions",
        json={"outcome": "dismissed", "reason": "核实为误报"},
        headers=headers,
    )
    assert resolved.status_code == 200, resolved.text
    voided_pass = next(i["pass_event_id"] for i in items[1:] if i["pass_event_id"])
    void = await client.post(
        f"/api/v1/passes/{voided_pass}/corrections", json={"reason": "重复抓拍，作废", "void": True}, headers=headers
    )
    assert void.status_code == 201, void.text

    summary = (await client.get("/api/v1/compliance/flags/summary", headers=headers)).json()["open_total"]
    queue_total = (await client.get("/api/v1/compliance/flags", params={"status": "open"}, headers=headers)).json()[
        "total"
    ]
    voided = sum(1 for i in items if i["pass_event_id"] == voided_pass)
    assert summary == queue_total == len(items) - 1 - voided
    base = f"/api/v1/enterprises/{tenant.tenant_id}/reports"
    month = {"period": "month", "date": "2026-11"}
    stats = (await client.get(f"{base}/statistics", params=month, headers=headers)).json()
    assert stats["data_quality"]["flagged_open"] == summary
    grading = await client.get(f"{base}/grading", params={"from": "2026-11-01", "to": "2026-11-30"}, headers=headers)
    indicator = next(i for i in grading.json()["indicators"] if i["code"] == "open_flags")
    assert Decimal(str(indicator["value"])) == summary
    records = await client.get(indicator["records_href"], params={"limit": 200}, headers=headers)
    assert records.json()["total"] == summary

    await client.get("/logout")
    await client.post("/login", data={"login": tenant.admin_login, "password": PASSWORD})
    home = await client.get("/portal")
    assert home.status_code == 200
    shown = re.search(r'id="open-flags"><a href="/portal/reviews">(\d+)</a>', home.text)
    assert shown is not None, home.text[:2000]
    assert int(shown.group(1)) == summary
    # The grading page's records of the indicator link each open flag to its pass, with its Chinese title.
    page = await client.get("/portal/grading/open_flags")
    assert page.status_code == 200
    still_open = [i for i in items[1:] if i["pass_event_id"] and i["pass_event_id"] != voided_pass]
    assert still_open
    for item in still_open:
        assert f'/portal/passes/{item["pass_event_id"]}"' in page.text
    assert f'/portal/passes/{items[1]["id"]}"' not in page.text
    del ledger
