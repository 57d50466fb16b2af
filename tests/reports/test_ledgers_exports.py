"""Ledger reports against the raw rows; Excel re-read cell by cell, PDF text and fonts, CSV; background jobs."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

pytestmark = pytest.mark.anyio


async def _all_rows(client, ledger, report: str, params: dict[str, str]) -> dict[str, Any]:
    """Every row of a ledger report through the paginated API."""
    rows: list[dict[str, Any]] = []
    body: dict[str, Any] = {}
    while True:
        r = await client.get(
            ledger.url(f"reports/ledgers/{report}"),
            params={**params, "limit": 500, "offset": len(rows)},
            headers=ledger.headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        rows.extend(body["rows"])
        if len(rows) >= body["total"] or not body["rows"]:
            break
    body["rows"] = rows
    return body


async def test_ledgers_match_the_raw_rows(client, make_ledger, raw, oracle) -> None:
    ledger = await make_ledger(seed=3, per_day=8)
    sept = {"period": "month", "date": "2026-09"}
    first, last = dt.date(2026, 9, 1), dt.date(2026, 9, 30)
    rows = await raw(ledger.tenant_id)
    facts = [
        f
        for f in oracle.build_facts(rows["pass_event"], rows["vehicle_version"], rows["pass_correction"])
        if first <= f.day <= last
    ]

    daily = await _all_rows(client, ledger, "daily_statistics", sept)
    assert daily["rows"] == oracle.daily_rows(facts, first, last)
    assert daily["title"] == "门禁日统计表"
    assert daily["enterprise"] == ledger.name

    transport = await _all_rows(client, ledger, "transport_passes", sept)
    road = sorted((f for f in facts if f.road), key=lambda f: f.id)
    assert transport["total"] == len(road)
    by_time = sorted(rows["pass_event"], key=lambda p: (p["occurred_at"], p["id"]))
    road_ids = {f.id for f in road}
    expected = [p for p in by_time if p["id"] in road_ids]
    fact_of = {f.id: f for f in road}
    # Plates and directions as corrected (the newest correction of each pass wins).
    assert [r["plate"] for r in transport["rows"]] == [fact_of[p["id"]].plate for p in expected]
    assert any(f.plate != p["plate"] for p in expected for f in [fact_of[p["id"]]]), "no corrected plate in September"
    for row, p in zip(transport["rows"], expected, strict=True):
        f = fact_of[p["id"]]
        assert row["time"] == p["occurred_at"].astimezone(oracle.CN).strftime("%Y-%m-%d %H:%M:%S")
        assert row["direction"] == {"in": "进厂", "out": "出厂"}[f.direction]
        assert row["tonnage"] == ("" if f.net_kg is None else f"{oracle.tonnes(f.net_kg):.3f}")
        assert row["carrier"] == (f.carrier or "")
        assert row["decision"] == {"allow": "放行", "refuse": "拦截"}[p["decision"]]
    # The carrier is the vehicle version in force at the pass: d5 changed carrier on 15 September.
    d5 = [r for r in transport["rows"] if r["plate"] == "鄂A101B"]
    assert {r["carrier"] for r in d5 if r["time"] < "2026-09-15"} <= {"顺达物流"}
    assert {r["carrier"] for r in d5 if r["time"] >= "2026-09-15"} <= {"新顺达物流"}

    refused = await _all_rows(client, ledger, "interceptions", sept)
    assert refused["total"] == sum(f.decision == "refuse" for f in facts)
    manual = await _all_rows(client, ledger, "manual_releases", sept)
    assert manual["total"] == sum(f.trigger == "manual_release" for f in facts)
    assert {r["operator"] for r in manual["rows"]} <= {"门岗张三"}

    in_plant = await _all_rows(client, ledger, "in_plant_vehicles", sept)
    assert sorted(r["code"] for r in in_plant["rows"]) == ["ENVIP4", "ENVIPEV"]
    nrmm = await _all_rows(client, ledger, "nrmm", sept)
    assert sorted(r["stage"] for r in nrmm["rows"]) == ["国二", "国四"]

    emergency = await _all_rows(client, ledger, "emergency_responses", sept)
    alert = sorted({(f.day, f.level) for f in facts if f.level != "none"})
    assert [(r["date"], r["level"]) for r in emergency["rows"]] == [
        (d.isoformat(), {"orange": "橙色预警", "red": "红色预警"}[lvl]) for d, lvl in alert
    ]
    for row in emergency["rows"]:
        day = dt.date.fromisoformat(row["date"])
        part = [f for f in facts if f.day == day and f.level != "none"]
        assert row["entries"] == sum(f.direction == "in" and f.decision == "allow" for f in part)
        assert row["refused"] == sum(f.decision == "refuse" for f in part)
        assert row["heavy_cn4_or_below_allowed"] == sum(f.trip and bool(f.heavy) and not f.compliant for f in part)


def _xlsx_table(content: bytes) -> tuple[list[str], list[list[Any]], list[str]]:
    sheet = load_workbook(io.BytesIO(content)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    heading = [str(values[i][0]) for i in range(4)]
    return [str(v) for v in values[4]], values[5:], heading


async def test_excel_csv_pdf_exports_match_the_api(client, make_ledger) -> None:
    ledger = await make_ledger(seed=9, per_day=10)
    params = {"period": "day", "date": "2026-10-05"}
    api = await _all_rows(client, ledger, "transport_passes", params)
    assert api["total"] > 3
    headers = [c["title"] for c in api["columns"]]
    keys = [c["key"] for c in api["columns"]]

    r = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**params, "format": "xlsx"},
        headers=ledger.headers,
    )
    assert r.status_code == 200, r.text
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    got_headers, cells, heading = _xlsx_table(r.content)
    assert got_headers == headers
    assert heading[0] == "进出厂运输车辆台账（日报）"
    assert ledger.name in heading[1]
    assert "2026年10月5日" in heading[2]
    assert heading[3].startswith("生成时间：")
    assert len(cells) == api["total"]
    for row, line in zip(api["rows"], cells, strict=True):
        # A photo the blob store lacks stays a link; no photo at all reads 无照片 (never a bare hash).
        want = [("无照片" if k == "photo" and not row[k] else "" if row[k] is None else row[k]) for k in keys]
        assert want == [("" if v is None else v) for v in line]

    r = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**params, "format": "csv"},
        headers=ledger.headers,
    )
    assert r.status_code == 200
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0] == headers  # the Chinese titles, as in the Excel sheet (issue 19)
    assert lines[1:] == [[str(row[k]) if row[k] is not None else "" for k in keys] for row in api["rows"]]

    r = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**params, "format": "pdf"},
        headers=ledger.headers,
    )
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF")
    _check_pdf(r.content, api, headers, ledger.name)


def _check_pdf(content: bytes, api: dict[str, Any], headers: list[str], enterprise: str) -> None:
    from fontTools.ttLib import TTCollection  # noqa: PLC0415
    from pypdf import PdfReader  # noqa: PLC0415

    reader = PdfReader(io.BytesIO(content))
    text = "".join(page.extract_text() for page in reader.pages)
    flat = "".join(text.split())
    assert "进出厂运输车辆台账" in flat
    assert "".join(enterprise.split()) in flat
    for title in headers:
        assert "".join(title.split()) in flat, title
    for row in api["rows"]:
        for key in ("plate", "time", "carrier", "decision", "tonnage"):
            value = "".join(str(row[key]).split())
            assert value in flat, (key, value)
    fonts: set[str] = set()
    embedded = True
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            fonts.add(str(font["/BaseFont"]))
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            embedded &= any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    assert embedded, fonts
    assert fonts, "no font"
    assert all("Noto-Sans-CJK-SC" in f for f in fonts), fonts  # no fallback font: every glyph came from Noto
    # …and Noto Sans CJK SC has a glyph for every character the report prints.
    collection = TTCollection("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    cmap = collection.fonts[2].getBestCmap()  # index 2 = SC
    printed = set("".join(str(v) for row in api["rows"] for v in row.values()) + "".join(headers) + enterprise)
    missing = sorted(c for c in printed if not c.isspace() and ord(c) not in cmap)
    assert not missing, missing


async def test_background_export_reports_progress_and_keeps_the_file(client, make_ledger) -> None:
    ledger = await make_ledger(seed=2, per_day=6)
    r = await client.post(
        ledger.url("reports/exports"),
        json={"report": "transport_passes", "format": "xlsx", "period": "month", "date": "2026-09"},
        headers=ledger.headers,
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in {"queued", "running", "done"}
    for _ in range(200):
        job = (await client.get(ledger.url(f"reports/exports/{job['id']}"), headers=ledger.headers)).json()
        if job["status"] in {"done", "failed"}:
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    assert job["progress"] == 100
    api = await _all_rows(client, ledger, "transport_passes", {"period": "month", "date": "2026-09"})
    assert job["rows"] == api["total"]
    file = await client.get(job["file_href"], headers=ledger.headers)
    assert file.status_code == 200
    _, cells, _ = _xlsx_table(file.content)
    assert len(cells) == api["total"]
    listed = (await client.get(ledger.url("reports/exports"), headers=ledger.headers)).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert Decimal(1) == 1


async def test_large_synchronous_download_is_refused(client, make_ledger, monkeypatch) -> None:
    from cloud.reports import exports  # noqa: PLC0415

    ledger = await make_ledger(seed=1, per_day=4)
    monkeypatch.setitem(exports.SYNC_MAX_ROWS, "csv", 2)
    r = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={"period": "month", "date": "2026-09", "format": "csv"},
        headers=ledger.headers,
    )
    assert r.status_code == 413
    assert r.json()["code"] == "export_too_large"


async def test_emergency_records_follow_the_alert_periods(client, make_ledger, raw, oracle, database, superuser_url):
    """An alert period of the tenant gives a record for each China day it touches, traffic or not."""
    import uuid  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    from cloud.db import models as m  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    ledger = await make_ledger(seed=4, per_day=4)
    cn = oracle.CN
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=ledger.tenant_id, login="seed")
    declared_at = dt.datetime(2026, 9, 12, 8, 0, tzinfo=cn)
    planned_end = dt.datetime(2026, 9, 14, 20, 0, tzinfo=cn)
    cancelled_at = dt.datetime(2026, 9, 13, 18, 30, tzinfo=cn)
    alert = uuid.uuid4()
    conn = await asyncpg.connect(superuser_url)  # region_alert is platform data (written by the platform admin)
    try:
        await conn.execute(
            "INSERT INTO region_alert (id, region_code, level, starts_at, ends_at, reason, source, cancelled_at) "
            "VALUES ($1, '4201', 'yellow', $2, $3, '市重污染天气应急指挥部黄色预警', 'platform', $4)",
            alert,
            declared_at,
            planned_end,
            cancelled_at,
        )
    finally:
        await conn.close()
    common = {"tenant_id": ledger.tenant_id, "region_code": "4201"}
    async with database.session(actor) as session, session.begin():
        session.add_all(
            [
                m.EmergencyResponse(
                    **common,
                    alert_id=alert,
                    event="declared",
                    level="yellow",
                    starts_at=declared_at,
                    ends_at=planned_end,
                    reason="市重污染天气应急指挥部黄色预警",
                ),
                m.EmergencyResponse(
                    **common,
                    alert_id=alert,
                    event="cancelled",
                    level="yellow",
                    starts_at=declared_at,
                    ends_at=cancelled_at,
                    reason="提前解除",
                ),
                m.EmergencyResponse(  # a period without a platform alert (e.g. received from the regional platform)
                    **common,
                    alert_id=None,
                    event="declared",
                    level="red",
                    starts_at=dt.datetime(2026, 9, 20, 10, 0, tzinfo=cn),
                    ends_at=dt.datetime(2026, 9, 20, 16, 0, tzinfo=cn),
                    reason="省级红色预警",
                ),
            ]
        )
    rows = await _all_rows(client, ledger, "emergency_responses", {"period": "month", "date": "2026-09"})
    by_key = {(r["date"], r["level"]): r for r in rows["rows"]}
    yellow = [r for r in rows["rows"] if r["level"] == "黄色预警"]
    assert [(r["date"], r["window"]) for r in yellow] == [("2026-09-12", "08:00–24:00"), ("2026-09-13", "00:00–18:30")]
    assert yellow[0]["basis"] == "市重污染天气应急指挥部黄色预警"
    red = by_key[("2026-09-20", "红色预警")]
    assert (red["window"], red["basis"]) == ("10:00–16:00", "省级红色预警")
    orange = by_key[("2026-09-05", "橙色预警")]  # passes recorded under a level, no alert period on file
    assert (orange["window"], orange["basis"]) == ("按门禁记录的预警级别", "")
    facts = oracle.build_facts(*(await _raw_parts(raw, ledger)))
    for row in rows["rows"]:
        day = dt.date.fromisoformat(row["date"])
        level = {"黄色预警": "yellow", "橙色预警": "orange", "红色预警": "red"}[row["level"]]
        part = [f for f in facts if f.day == day and f.level == level]
        assert row["entries"] == sum(f.direction == "in" and f.decision == "allow" for f in part)
        assert row["refused"] == sum(f.decision == "refuse" for f in part)


async def _raw_parts(raw, ledger):
    rows = await raw(ledger.tenant_id)
    return rows["pass_event"], rows["vehicle_version"], rows["pass_correction"]
