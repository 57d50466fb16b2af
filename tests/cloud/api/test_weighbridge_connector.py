"""Issue 15: the weighbridge-software connector (无人值守称重) — push and import, matching, review, 运输量.

Passes are stored through the ledger (seed_passes); tickets come in through the JSON API exactly as a
plant's software would send them. A complete ticket lands on the trip's exit pass, a ticket no pass
fits is kept for review and assigned by a person, a repeated ticket is stored once, a file or batch with
one bad row stores nothing (errors per row and field, in Chinese), and the transport ledger and the
statistics show the net weights as 运输量.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from cloud.ledger import connector
from tenants.context import Role

pytestmark = pytest.mark.anyio
CN = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 20)


def cn(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=CN)


EVENTS = [
    {"plate": "鄂A7M416", "occurred_at": cn(9), "direction": "in"},
    {"plate": "鄂A7M416", "occurred_at": cn(10), "direction": "out"},
    {"plate": "鄂AF8261", "occurred_at": cn(9, 5), "direction": "in"},
    {"plate": "鄂AF8261", "occurred_at": cn(11), "direction": "out"},
    {"plate": "鄂AQ0001", "occurred_at": cn(9, 30), "direction": "in", "decision": "refuse"},
]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["磅单号", "车牌号码", "称重时间", "毛重(kg)", "皮重(kg)", "净重(kg)", "货物名称"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _setup(client, make_tenant, login_as, seed_passes):
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    return tenant, headers, ledger


async def test_push_matches_by_plate_and_time_and_keeps_the_rest_for_review(
    client, make_tenant, login_as, seed_passes
) -> None:
    tenant, headers, ledger = await _setup(client, make_tenant, login_as, seed_passes)
    tickets = [
        # A complete trip, finished at 09:52: the exit pass at 10:00 holds it (not the entry at 09:00).
        {"ticket_no": "BD20261120001", "plate": "鄂A·7M416", "weighed_at": "2026-11-20 09:52:00",
         "gross_kg": "49000", "tare_kg": "17400", "cargo_name": "铁矿石"},
        # No pass of this plate around that time: kept for review, never guessed.
        {"ticket_no": "BD20261120002", "plate": "鄂A55555", "weighed_at": "2026-11-20 09:40:00", "net_kg": "30000"},
        # A refused truck has no pass to hold a weight.
        {"ticket_no": "BD20261120003", "plate": "鄂AQ0001", "weighed_at": "2026-11-20 09:31:00", "net_kg": "28000",
         "gross_kg": "43000", "tare_kg": "15000"},
    ]  # fmt: skip
    r = await client.post("/api/v1/weighbridge/records", json={"records": tickets}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"] == {"matched": 1, "unattributed": 2}
    first, second, third = body["items"]
    assert first["status"] == "matched"
    assert first["status_label"] == "已关联通行记录"
    assert first["pass_event_id"] == str(ledger.pass_ids[1])
    assert second["pass_event_id"] is None
    assert third["pass_event_id"] is None

    # The same ticket again (a re-sent batch): stored once.
    again = await client.post("/api/v1/weighbridge/records", json={"records": tickets[:1]}, headers=headers)
    assert again.json()["items"][0]["status"] == "duplicate"
    assert again.json()["items"][0]["weighing_id"] == first["weighing_id"]

    review = await client.get("/api/v1/weighbridge/unattributed", headers=headers)
    assert review.status_code == 200
    assert {w["ticket_no"] for w in review.json()} == {"BD20261120002", "BD20261120003"}
    assert {w["source_label"] for w in review.json()} == {"称重软件"}

    # A person assigns one to a pass; it leaves the review list.
    target = next(w for w in review.json() if w["ticket_no"] == "BD20261120002")
    assigned = await client.post(
        f"/api/v1/weighbridge/unattributed/{target['id']}/assign",
        json={"pass_event_id": str(ledger.pass_ids[3])},
        headers=headers,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["pass_event_id"] == str(ledger.pass_ids[3])
    review = await client.get("/api/v1/weighbridge/unattributed", headers=headers)
    assert [w["ticket_no"] for w in review.json()] == ["BD20261120003"]

    # 运输量 from the net weights: the transport ledger and the statistics of the day.
    params = {"period": "day", "date": DAY.isoformat()}
    url = f"/api/v1/enterprises/{tenant.tenant_id}/reports"
    ledger_rows = (await client.get(f"{url}/ledgers/transport_passes", params=params, headers=headers)).json()["rows"]
    tonnage = {(row["plate"], row["direction"]): row["tonnage"] for row in ledger_rows}
    assert tonnage[("鄂A7M416", "出厂")] == "31.600"
    assert tonnage[("鄂A7M416", "进厂")] == ""
    assert tonnage[("鄂AF8261", "出厂")] == "30.000"
    stats = (await client.get(f"{url}/statistics", params=params, headers=headers)).json()
    assert Decimal(str(stats["clean_transport"]["road_tonnage_t"])) == Decimal("61.600")
    # 清洁运输比例: the reports page and the grading page read the same facts.
    day = {"from": DAY.isoformat(), "to": DAY.isoformat(), "grade": "A"}
    grading = (await client.get(f"{url}/grading", params=day, headers=headers)).json()
    clean = next(i for i in grading["indicators"] if i["code"] == "clean_transport_ratio")
    assert clean["value"] == stats["clean_transport"]["ratio_by_tonnage"]
    assert Decimal(str(clean["denominator"])) == Decimal(str(stats["clean_transport"]["total_tonnage_t"])) > 0

    # The portal's review page lists what is still unattributed.
    from tests.cloud.conftest import PASSWORD  # noqa: PLC0415

    await client.get("/logout")
    signed_in = await client.post("/login", data={"login": tenant.admin_login, "password": PASSWORD})
    assert signed_in.status_code in {200, 303}, signed_in.text
    page = await client.get("/portal/reviews")
    assert page.status_code == 200
    assert "未关联通行记录的称重（1）" in page.text
    assert "BD20261120003" in page.text
    assert "BD20261120002" not in page.text


async def test_bad_tickets_store_nothing_and_say_why(client, make_tenant, login_as, seed_passes) -> None:
    _, headers, _ = await _setup(client, make_tenant, login_as, seed_passes)
    tickets = [
        {"ticket_no": "OK1", "plate": "鄂A7M416", "weighed_at": "2026-11-20 09:52:00", "net_kg": "31600"},
        {"ticket_no": "BAD1", "plate": "鄂X12", "weighed_at": "昨天", "gross_kg": "1000", "tare_kg": "2000"},
    ]
    r = await client.post("/api/v1/weighbridge/records", json={"records": tickets}, headers=headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "import_rows_invalid"
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"records[1].plate", "records[1].weighed_at", "records[1].tare_kg"}
    assert all(e["message"].startswith("第 2 条：") for e in problem["errors"])
    assert "皮重不能大于毛重" in problem["detail"]
    review = await client.get("/api/v1/weighbridge/unattributed", headers=headers)
    assert review.json() == []
    ok = await client.post("/api/v1/weighbridge/records", json={"records": tickets[:1]}, headers=headers)
    assert ok.json()["items"][0]["status"] == "matched"  # the first attempt stored nothing


async def test_file_import_is_all_or_nothing_and_capped(
    client, make_tenant, login_as, seed_passes, monkeypatch
) -> None:
    _, headers, ledger = await _setup(client, make_tenant, login_as, seed_passes)
    good = [
        ["BD1", "鄂A7M416", "2026-11-20 09:50:00", 49000, 17400, 31600, "铁矿石"],
        ["BD2", "鄂AF8261", dt.datetime(2026, 11, 20, 10, 45), 45000, 15000, 30000, "煤炭"],  # noqa: DTZ001 - an Excel date cell
    ]
    bad = [*good, ["BD3", "鄂AF8261", "2026-11-20 10:50:00", 45000, 15000, 20000, "煤炭"]]
    files = {"file": ("磅单.xlsx", _xlsx(bad), "application/octet-stream")}
    r = await client.post("/api/v1/weighbridge/imports", files=files, headers=headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["rows[4].net_kg"]
    assert r.json()["errors"][0]["message"].startswith("第 4 行：净重")

    files = {"file": ("磅单.xlsx", _xlsx(good), "application/octet-stream")}
    r = await client.post("/api/v1/weighbridge/imports", files=files, headers=headers)
    assert r.status_code == 200, r.text
    assert [i["pass_event_id"] for i in r.json()["items"]] == [str(ledger.pass_ids[1]), str(ledger.pass_ids[3])]
    r = await client.post("/api/v1/weighbridge/imports", files=files, headers=headers)
    assert r.json()["counts"] == {"duplicate": 2}

    # The row cap holds before anything is matched or stored.
    monkeypatch.setattr(connector, "MAX_ROWS", 1)
    files = {"file": ("磅单.xlsx", _xlsx(good), "application/octet-stream")}
    r = await client.post("/api/v1/weighbridge/imports", files=files, headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == "import_too_large"


async def test_viewers_may_read_but_not_push(client, make_tenant, make_user, login_as, seed_passes) -> None:
    tenant, _, _ = await _setup(client, make_tenant, login_as, seed_passes)
    viewer = await make_user(tenant.tenant_id, Role.VIEWER)
    headers = await login_as(viewer)
    ticket = {"ticket_no": "X1", "plate": "鄂A7M416", "weighed_at": "2026-11-20 09:52:00", "net_kg": "1"}
    r = await client.post("/api/v1/weighbridge/records", json={"records": [ticket]}, headers=headers)
    assert r.status_code == 403
    assert (await client.get("/api/v1/weighbridge/unattributed", headers=headers)).status_code == 200
