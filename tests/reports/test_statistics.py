"""Oracle tests: every statistic equals an independent plain-Python computation over the raw rows."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

FIRST = dt.date(2026, 8, 1)
LAST = dt.date(2026, 10, 31)
ALL_NON_ROAD = {"rail", "water", "pipeline", "tubular_belt", "belt_gallery"}


def dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def _facts(raw, oracle, ledger, first=FIRST, last=LAST):
    rows = await raw(ledger.tenant_id)
    facts = oracle.build_facts(rows["pass_event"], rows["vehicle_version"], rows["pass_correction"])
    return [f for f in facts if first <= f.day <= last], rows


async def _non_road(client, ledger) -> None:
    records = [
        {
            "day": "2026-09-03",
            "mode": "rail",
            "direction": "in",
            "cargo_name": "煤炭",
            "tonnage_t": "1250.500",
            "trips": 2,
        },
        {
            "day": "2026-09-10",
            "mode": "belt_gallery",
            "direction": "in",
            "cargo_name": "石灰石",
            "tonnage_t": "800",
            "trips": 0,
        },
        {
            "day": "2026-10-01",
            "mode": "water",
            "direction": "out",
            "cargo_name": "熟料",
            "tonnage_t": "3000.125",
            "trips": 1,
        },
    ]
    ids = []
    for body in records:
        r = await client.post(ledger.url("non-road-transport"), json=body, headers=ledger.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    # A correction supersedes the rail record; a void cancels the water one.
    fix = {**records[0], "tonnage_t": "1300.000", "supersedes_id": ids[0]}
    assert (await client.post(ledger.url("non-road-transport"), json=fix, headers=ledger.headers)).status_code == 201
    void = {**records[2], "voided": True, "supersedes_id": ids[2]}
    assert (await client.post(ledger.url("non-road-transport"), json=void, headers=ledger.headers)).status_code == 201
    again = await client.post(ledger.url("non-road-transport"), json=fix, headers=ledger.headers)
    assert again.status_code == 409


def _check_stats(body: dict[str, Any], want: dict[str, Any], oracle) -> None:
    totals = body["totals"]
    assert totals["passes"] == want["passes"]
    assert totals["in"] == want["in"]
    assert totals["refused"] == want["refused"]
    assert totals["manual_releases"] == want["manual_releases"]
    clean = body["clean_transport"]
    for key in ("total_tonnage_t", "clean_tonnage_t", "ratio_by_tonnage", "ratio_by_trips"):
        assert dec(clean[key]) == want["clean"][key], key
    assert clean["total_trips"] == want["clean"]["total_trips"]
    assert clean["clean_trips"] == want["clean"]["clean_trips"]
    for mode in clean["modes"]:
        t, n = want["clean"]["by_mode"].get(mode["mode"], (Decimal("0.000"), 0))
        assert (dec(mode["tonnage_t"]), mode["trips"]) == (t, n), mode
    assert {m["code"]: m["trips"] for m in body["emission_stage_mix"] if m["trips"]} == want["stage_trips"]
    assert {m["code"]: m["trips"] for m in body["fuel_mix"] if m["trips"]} == want["fuel_trips"]
    assert [h["passes"] for h in body["hours"]["by_hour"]] == want["hours"]
    hours = want["hours"]
    assert body["hours"]["peak_hours"] == sorted((h for h in range(24) if hours[h]), key=lambda h: (-hours[h], h))[:3]
    assert {r["reason"]: r["passes"] for r in body["interceptions"]["by_reason"]} == want["reasons"]
    carriers = {("" if not c["registered"] else c["carrier"]): c for c in body["carriers"]}
    assert set(carriers) == set(want["carriers"])
    for name, c in want["carriers"].items():
        got = carriers[name]
        assert (got["trips"], got["compliant_trips"], got["refused"]) == (c["trips"], c["compliant"], c["refused"]), (
            name
        )
        assert dec(got["compliance_ratio"]) == oracle.pct(c["compliant"], c["trips"])
        assert dec(got["tonnage_t"]) == oracle.tonnes(c["kg"])
    ratios = [(dec(c["compliance_ratio"]) or Decimal(-1), c["trips"]) for c in body["carriers"]]
    assert ratios == sorted(ratios, key=lambda x: (-x[0], -x[1]))
    avg = body["daily_average"]
    assert dec(avg["avg_entries"]) == want["avg_entries"]
    assert dec(avg["avg_entries_alert_days"]) == want["avg_entries_alert"]
    assert dec(avg["avg_entries_normal_days"]) == want["avg_entries_normal"]
    assert avg["alert_days"] == want["alert_days"]
    q = body["data_quality"]
    assert q["complete"] == want["complete"]
    assert q["timely"] == want["timely"]
    assert q["flagged"] == want["flagged"]
    assert q["cargo_unweighed"] == want["cargo_unweighed"]
    assert q["manual_releases_with_reason"] == want["manual_with_reason"]
    assert dec(q["completeness"]) == oracle.pct(want["complete"], want["passes"])


async def test_monthly_and_range_statistics_match_the_oracle(client, make_ledger, raw, oracle) -> None:
    ledger = await make_ledger()
    await _non_road(client, ledger)
    clean_modes = ALL_NON_ROAD | {"nev_truck"}  # the default for a non-steel industry
    for params, first, last in (
        ({"period": "month", "date": "2026-09"}, dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
        ({"from": "2026-08-01", "to": "2026-10-31"}, FIRST, LAST),
        ({"period": "day", "date": "2026-10-05"}, dt.date(2026, 10, 5), dt.date(2026, 10, 5)),
    ):
        r = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
        assert r.status_code == 200, r.text
        facts, rows = await _facts(raw, oracle, ledger, first, last)
        non_road = oracle.effective_non_road(rows["non_road_transport"], first, last)
        elapsed = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        want = oracle.statistics(facts, non_road, clean_modes, elapsed)
        assert want["passes"] > 0
        _check_stats(r.json(), want, oracle)


async def test_settings_change_the_clean_modes(client, make_ledger, raw, oracle) -> None:
    ledger = await make_ledger(seed=11, per_day=6)
    await _non_road(client, ledger)
    r = await client.put(
        ledger.url("reports/settings"),
        json={"clean_modes": ["rail", "belt_gallery", "cn6_truck"]},
        headers=ledger.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["clean_modes"] == ["rail", "belt_gallery", "cn6_truck"]
    r = await client.get(
        ledger.url("reports/clean-transport"), params={"from": "2026-08-01", "to": "2026-10-31"}, headers=ledger.headers
    )
    assert r.status_code == 200, r.text
    facts, rows = await _facts(raw, oracle, ledger)
    want = oracle.clean_transport(
        facts, oracle.effective_non_road(rows["non_road_transport"], FIRST, LAST), {"rail", "belt_gallery", "cn6_truck"}
    )
    got = r.json()["clean_transport"]
    assert dec(got["ratio_by_tonnage"]) == want["ratio_by_tonnage"]
    assert dec(got["ratio_by_trips"]) == want["ratio_by_trips"]
    assert dec(got["clean_tonnage_t"]) == want["clean_tonnage_t"]
    bad = await client.put(ledger.url("reports/settings"), json={"clean_modes": ["teleport"]}, headers=ledger.headers)
    assert bad.status_code == 400


async def test_late_events_refresh_the_aggregates_and_regulators_read_raw(
    client, make_ledger, raw, oracle, add_passes, make_staff, login_as
) -> None:
    ledger = await make_ledger(seed=5, per_day=5)
    params = {"period": "month", "date": "2026-09"}
    first = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    assert first.status_code == 200
    # A backlog arrives from an agent that was offline: passes of September, received now.
    now = dt.datetime.now(dt.UTC)
    late = [
        {
            "occurred_at": dt.datetime(2026, 9, d, 15, 59, 59, tzinfo=dt.UTC),  # 23:59:59 China time
            "received_at": now,
            "plate": "鄂C12345",
            "cargo_name": "煤炭",
            "payload": {
                "vehicle": {"category": "transport", "fuel": "C", "emission_stage": "D", "heavy": True},
                "weighing": {"weighing_id": "w", "net_kg": 30001},
            },
        }
        for d in (2, 9, 30)
    ]
    rows = await add_passes(ledger, late)
    regulator = await login_as(await make_staff("regulator", "4201"))
    before_refresh = await client.get(ledger.url("reports/statistics"), params=params, headers=regulator)
    assert before_refresh.status_code == 200, before_refresh.text
    after = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    assert after.status_code == 200
    sept = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(30)]
    facts, _ = await _facts(raw, oracle, ledger, sept[0], sept[-1])
    want = oracle.statistics(facts, [], ALL_NON_ROAD | {"nev_truck"}, sept)
    assert after.json()["totals"]["passes"] == first.json()["totals"]["passes"] + len(rows)
    _check_stats(after.json(), want, oracle)
    _check_stats(before_refresh.json(), want, oracle)
    # After the refresh the regulator reads the aggregates: same figures.
    again = await client.get(ledger.url("reports/statistics"), params=params, headers=regulator)
    _check_stats(again.json(), want, oracle)


async def test_corrections_and_reviews_flow_into_the_figures(client, make_ledger, raw, oracle, database) -> None:
    """Corrections made after the aggregates were built make their days dirty; reviews close open flags."""
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.compliance import checks  # noqa: PLC0415
    from cloud.compliance import flags as review_flags  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    ledger = await make_ledger(seed=11, per_day=5)
    params = {"period": "month", "date": "2026-09"}
    first = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    assert first.status_code == 200
    sept = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(30)]
    facts, _rows = await _facts(raw, oracle, ledger, sept[0], sept[-1])
    weighed = next(f for f in facts if f.hauling and f.net_kg is not None)
    flagged = [f for f in facts if f.flags]
    victim = next(f for f in facts if f.id not in {weighed.id, *(g.id for g in flagged)})
    fixes = [
        (victim.id, {"reason": "重复抓拍，作废", "void": True}),
        (weighed.id, {"reason": "磅单核对后更正净重", "net_kg": "12345.6"}),
    ]
    for pass_id, body in fixes:
        response = await client.post(f"/api/v1/passes/{pass_id}/corrections", json=body, headers=ledger.headers)
        assert response.status_code == 201, response.text

    # A logic-check flag on one flagged pass, resolved by a reviewer; another pass gets an open check flag.
    assert flagged, "the generated month has passes with anomaly flags"
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=ledger.tenant_id, login="seed")
    clean = next(f for f in facts if not f.flags and f.id != victim.id)
    async with database.session(actor) as session, session.begin():
        # Opened through the flags' writer, resolved through the review queue's (both audited/chained).
        for pass_id, code, text in (
            (flagged[0].id, "clock_skew", "时钟偏差"),
            (clean.id, "too_many_passes", "重复通行"),
        ):
            await checks.open_pass_flags(session, ledger.tenant_id, pass_id, [checks.PassFinding(code, text)])
        closed, still_open = [
            await session.scalar(
                select(m.CheckFlag).where(m.CheckFlag.code == code, m.CheckFlag.subject_key == str(pass_id))
            )
            for pass_id, code in ((flagged[0].id, "clock_skew"), (clean.id, "too_many_passes"))
        ]
        assert closed is not None
        assert still_open is not None
        await review_flags.resolve(session, actor, closed.id, "resolved", "已核实")

    after = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    assert after.status_code == 200
    facts, _ = await _facts(raw, oracle, ledger, sept[0], sept[-1])
    assert victim.id not in {f.id for f in facts}
    assert next(f for f in facts if f.id == weighed.id).net_kg == Decimal("12345.6")
    want = oracle.statistics(facts, [], ALL_NON_ROAD | {"nev_truck"}, sept)
    body = after.json()
    assert body["totals"]["passes"] == first.json()["totals"]["passes"] - 1 == want["passes"]
    q = body["data_quality"]
    assert q["flagged"] == want["flagged"]
    # Open flags are the review queue's open check flags of the period (one definition, issue 15): the
    # resolved one is closed, the other counts.
    queue = await client.get(
        "/api/v1/compliance/flags",
        params={"status": "open", "from": "2026-09-01", "to": "2026-09-30"},
        headers=ledger.headers,
    )
    assert queue.status_code == 200, queue.text
    for flag, is_open in ((still_open, True), (closed, False)):
        of_pass = await client.get(
            "/api/v1/compliance/flags",
            params={"status": "open", "pass_event_id": str(flag.pass_event_id)},
            headers=ledger.headers,
        )
        assert (str(flag.id) in {item["id"] for item in of_pass.json()["items"]}) is is_open
    after = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    q = after.json()["data_quality"]
    assert q["flagged_open"] == queue.json()["total"]
    clean_transport = body["clean_transport"]
    assert dec(clean_transport["total_tonnage_t"]) == want["clean"]["total_tonnage_t"]
    assert [h["passes"] for h in body["hours"]["by_hour"]] == want["hours"]
    assert body["emission_stage_mix"]
    assert {m["code"]: m["trips"] for m in body["emission_stage_mix"] if m["trips"]} == (want["stage_trips"])


async def test_cube_by_month_sums_the_days_in_the_database(client: Any, make_ledger: Any, database: Any) -> None:
    """A year's series and the carriers' trend read ``cube(by_month=True)``: the same sums as the per-day rows
    added up by month, one row per month and group (aggregates and the regulators' raw path alike)."""
    from cloud.reports import facts, service  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    ledger = await make_ledger(seed=5, per_day=4)
    ok = await client.get(
        ledger.url("reports/statistics"), params={"period": "year", "date": "2026"}, headers=ledger.headers
    )
    assert ok.status_code == 200, ok.text  # builds the aggregates
    dims = ("day", *service.CARRIER)
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=ledger.tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        days: list[list[dt.date] | None] = [[], None]  # aggregates; every day from the passes
        for raw_days in days:
            daily = await facts.cube(session, ledger.tenant_id, FIRST, LAST, dims, raw_days=raw_days)
            monthly = await facts.cube(session, ledger.tenant_id, FIRST, LAST, dims, raw_days=raw_days, by_month=True)
            want: dict[tuple[Any, ...], int] = {}
            for row in daily:
                assert row.day is not None
                key = (row.day.replace(day=1), *(getattr(row, d) for d in dims[1:]))
                want[key] = want.get(key, 0) + row.passes
            got = {(row.day, *(getattr(row, d) for d in dims[1:])): row.passes for row in monthly}
            assert got == want
            assert {k[0] for k in got} == {dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1)}
    with pytest.raises(ValueError, match="day"):
        async with database.session(actor) as session, session.begin():
            await facts.cube(session, ledger.tenant_id, FIRST, LAST, ("carrier",), raw_days=[], by_month=True)


async def test_a_late_commit_stamped_before_the_watermark_is_still_folded_in(
    client: Any, make_ledger: Any, add_passes: Any, database: Any
) -> None:
    """Once built, a read with nothing new rebuilds no day (the rows stamped within the safety lag are those the
    watermark counted); a pass stamped before the watermark but committed after it changes that count, and its day
    is rebuilt on the next read."""
    from sqlalchemy import text  # noqa: PLC0415

    from cloud.reports import facts  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    ledger = await make_ledger(seed=3, per_day=3)
    params = {"period": "month", "date": "2026-09"}
    first = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    assert first.status_code == 200, first.text
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=ledger.tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        assert await facts.refresh(session, ledger.tenant_id) == 0  # settled: nothing rebuilt again
        watermark = await session.scalar(
            text("SELECT watermark FROM report_refresh_state WHERE tenant_id = :t"), {"t": ledger.tenant_id}
        )
    late = {
        "occurred_at": dt.datetime(2026, 9, 12, 4, 0, tzinfo=dt.UTC),
        "received_at": watermark - dt.timedelta(minutes=5),  # a transaction in flight when the watermark was taken
        "plate": "鄂C54321",
        "payload": {"vehicle": {"category": "transport", "fuel": "B", "emission_stage": "6", "heavy": True}},
    }
    await add_passes(ledger, [late])
    after = await client.get(ledger.url("reports/statistics"), params=params, headers=ledger.headers)
    assert after.json()["totals"]["passes"] == first.json()["totals"]["passes"] + 1
