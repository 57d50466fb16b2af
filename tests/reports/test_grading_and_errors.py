"""Grading dashboard against the oracle, the records behind each indicator, charts, and bad input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

pytestmark = pytest.mark.anyio

RANGE = {"from": "2026-08-01", "to": "2026-10-31"}


async def test_grading_indicators_and_their_records(client, make_ledger, raw, oracle) -> None:
    ledger = await make_ledger(seed=4, per_day=8)
    # One definition of an open flag (issue 15): the review queue of the period is what the indicator counts.
    queue = await client.get("/api/v1/compliance/flags", params={**RANGE, "status": "open"}, headers=ledger.headers)
    assert queue.status_code == 200, queue.text
    open_flags = queue.json()["total"]
    r = await client.get(ledger.url("reports/grading"), params={**RANGE, "grade": "A"}, headers=ledger.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grade"] == "A"
    items = {i["code"]: i for i in body["indicators"]}
    rows = await raw(ledger.tenant_id)
    facts = [
        f
        for f in oracle.build_facts(rows["pass_event"], rows["vehicle_version"], rows["pass_correction"])
        if dt.date(2026, 8, 1) <= f.day <= dt.date(2026, 10, 31)
    ]
    want = oracle.statistics(facts, [], set(), [])
    clean = oracle.clean_transport(
        facts, [], {"rail", "water", "pipeline", "tubular_belt", "belt_gallery", "nev_truck"}
    )

    def check(code: str, value: Decimal | None, threshold: str | None, passed: bool | None) -> None:
        item = items[code]
        assert (None if item["value"] is None else Decimal(str(item["value"]))) == value, code
        assert (None if item["threshold"] is None else Decimal(str(item["threshold"]))) == (
            None if threshold is None else Decimal(threshold)
        ), code
        assert item["passed"] is passed, code

    check("clean_transport_ratio", clean["ratio_by_tonnage"], "80", clean["ratio_by_tonnage"] >= 80)
    heavy = oracle.pct(want["heavy_compliant"], want["heavy_trips"])
    check("road_heavy_stage", heavy, "100", heavy >= 100)
    check("in_plant_stage", Decimal("50.00"), "100", False)  # 国四 diesel + electric
    check("nrmm_stage", Decimal("50.00"), "100", False)  # 国二 + 国四
    completeness = oracle.pct(want["complete"], want["passes"])
    check("ledger_completeness", completeness, "95", completeness >= 95)
    check("upload_rate", None, "95", None)
    manual = oracle.pct(want["manual_with_reason"], want["manual_releases"])
    check("manual_release_reasons", manual, "100", manual >= 100)
    check("open_flags", Decimal(open_flags), "0", open_flags == 0)
    assert items["upload_rate"]["status"] == "no_data"

    # The records behind each indicator are exactly those that pull it down.
    expected_counts = {
        "road_heavy_stage": want["heavy_trips"] - want["heavy_compliant"],
        "ledger_completeness": want["passes"] - want["complete"],
        "manual_release_reasons": want["manual_releases"] - want["manual_with_reason"],
        "open_flags": open_flags,
        "in_plant_stage": 1,
        "nrmm_stage": 1,
        "clean_transport_ratio": sum(f.hauling and f.net_kg is not None and not f.nev for f in facts),
    }
    for code, count in expected_counts.items():
        href = items[code]["records_href"]
        assert href.startswith(f"/api/v1/enterprises/{ledger.tenant_id}/reports/grading/{code}/records?from=")
        page = await client.get(href, params={"limit": 500}, headers=ledger.headers)
        assert page.status_code == 200, page.text
        assert page.json()["total"] == count, code
    # Grade B relaxes the heavy-truck share to 80 % and does not require the clean ratio.
    b = (await client.get(ledger.url("reports/grading"), params={**RANGE, "grade": "B"}, headers=ledger.headers)).json()
    b_items = {i["code"]: i for i in b["indicators"]}
    assert Decimal(str(b_items["road_heavy_stage"]["threshold"])) == 80
    assert b_items["clean_transport_ratio"]["status"] == "not_required"


async def test_charts(client, make_ledger, raw, oracle) -> None:
    ledger = await make_ledger(seed=8, per_day=6)
    r = await client.get(
        ledger.url("reports/charts/time-series"), params={**RANGE, "granularity": "month"}, headers=ledger.headers
    )
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    assert [s["period"] for s in series] == ["2026-08", "2026-09", "2026-10"]
    rows = await raw(ledger.tenant_id)
    facts = oracle.build_facts(rows["pass_event"], rows["vehicle_version"], rows["pass_correction"])
    for s in series:
        month = [f for f in facts if f.day.isoformat()[:7] == s["period"]]
        assert s["trips"] == sum(f.trip for f in month)
        assert s["nev_trips"] == sum(f.trip and f.nev for f in month)
        assert s["refused"] == sum(f.decision == "refuse" for f in month)
    daily = (await client.get(ledger.url("reports/charts/time-series"), params=RANGE, headers=ledger.headers)).json()
    assert len(daily["series"]) == 92
    for dimension in ("emission_stage", "fuel", "direction", "carrier", "hour", "category"):
        r = await client.get(
            ledger.url("reports/charts/mix"), params={**RANGE, "dimension": dimension}, headers=ledger.headers
        )
        assert r.status_code == 200, (dimension, r.text)
    direction = (
        await client.get(
            ledger.url("reports/charts/mix"), params={**RANGE, "dimension": "direction"}, headers=ledger.headers
        )
    ).json()
    in_range = [f for f in facts if dt.date(2026, 8, 1) <= f.day <= dt.date(2026, 10, 31)]
    assert {i["code"]: i["passes"] for i in direction["items"]} == {
        "in": sum(f.direction == "in" for f in in_range),
        "out": sum(f.direction == "out" for f in in_range),
    }


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("reports/statistics", {"period": "month", "date": "2026-13"}, 422, "period_invalid"),
        ("reports/statistics", {"period": "month", "date": "1899-01"}, 422, "period_invalid"),
        ("reports/statistics", {"period": "year", "date": "9999"}, 422, "period_invalid"),
        ("reports/statistics", {"period": "day", "date": "2026-02-30"}, 422, "period_invalid"),
        ("reports/statistics", {"period": "day", "date": "20261005"}, 400, "request_invalid"),
        ("reports/statistics", {"from": "2026-10-31", "to": "2026-10-01"}, 422, "period_invalid"),
        ("reports/statistics", {"from": "2023-01-01", "to": "2026-10-01"}, 422, "period_invalid"),
        ("reports/statistics", {"from": "2026-10-01"}, 422, "period_invalid"),
        ("reports/statistics", {"period": "week"}, 400, "request_invalid"),
        (
            "reports/statistics",
            {"period": "month", "date": "2026-10", "from": "2026-10-01", "to": "2026-10-02"},
            422,
            "period_invalid",
        ),
        ("reports/ledgers/nonsense", {}, 400, "request_invalid"),
        ("reports/grading/nonsense/records", {}, 400, "request_invalid"),
        ("reports/ledgers/transport_passes/export", {"format": "docx"}, 400, "request_invalid"),
        ("reports/charts/mix", {"dimension": "colour"}, 400, "request_invalid"),
        ("reports/grading", {"grade": "Z"}, 400, "request_invalid"),
    ],
)
async def test_bad_input_is_a_problem(client, make_tenant, login_as, path, params, status, code) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    r = await client.get(f"/api/v1/enterprises/{tenant.tenant_id}/{path}", params=params, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["title"])


async def test_other_enterprises_and_regulator_scope(client, make_tenant, login_as, make_staff) -> None:
    a = await make_tenant(region_code="420102")
    b = await make_tenant(region_code="110101")
    headers_a = await login_as(a.admin_login)
    r = await client.get(f"/api/v1/enterprises/{b.tenant_id}/reports/statistics", headers=headers_a)
    assert r.status_code == 404
    regulator = await login_as(await make_staff("regulator", "4201"))
    assert (
        await client.get(f"/api/v1/enterprises/{a.tenant_id}/reports/statistics", headers=regulator)
    ).status_code == 200
    assert (
        await client.get(f"/api/v1/enterprises/{b.tenant_id}/reports/statistics", headers=regulator)
    ).status_code == 404
    export = await client.post(
        f"/api/v1/enterprises/{a.tenant_id}/reports/exports", json={"report": "nrmm"}, headers=regulator
    )
    assert export.status_code == 403
    r = await client.post(
        f"/api/v1/enterprises/{a.tenant_id}/non-road-transport",
        json={"day": "2026-10-01", "mode": "rail", "direction": "in", "cargo_name": "煤", "tonnage_t": "-1"},
        headers=headers_a,
    )
    assert r.status_code == 422
