"""Every logic check: records that trigger it, and near-misses that must not."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from agent_protocol.events import WeighingLink
from cloud.compliance import checks, flags
from cloud.db import models as m
from cloud.domain import vehicles
from cloud.ledger import weighings
from hj1321.identifiers import vin_check_digit
from tenants.context import Principal, Role
from tenants.ids import new_id

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def _admin(tenant_id: uuid.UUID, user: int = 7) -> Principal:
    return Principal(user_id=uuid.UUID(int=user), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login=f"u{user}")


def _vin(serial: int) -> str:
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


async def _run(database: Any, tenant_id: uuid.UUID, now: dt.datetime) -> set[tuple[str, str | None]]:
    async with database.session(_admin(tenant_id)) as session, session.begin():
        await checks.run_checks(session, tenant_id, now)
        rows = await session.scalars(select(m.CheckFlag))
        return {(f.code, f.plate) for f in rows}


async def _vehicle(database: Any, tenant_id: uuid.UUID, serial: int, verify: bool = True, **data: Any) -> uuid.UUID:
    fields = {
        "plate": f"鄂A{serial:05d}",
        "plate_colour": "yellow",
        "vin": _vin(serial),
        "emission_stage": "6",
        "fuel_type": "B",
        **data,
    }
    category = fields.pop("category", "transport")
    async with database.session(_admin(tenant_id)) as session, session.begin():
        detail = await vehicles.create_vehicle(session, _admin(tenant_id), category, fields)
    if verify:
        from cloud.compliance import reviews  # noqa: PLC0415

        async with database.session(_admin(tenant_id, 8)) as session, session.begin():
            await reviews.review_version(
                session, _admin(tenant_id, 8), detail.vehicle.id, 1, "verified", "核对随车清单"
            )
    return detail.vehicle.id


@pytest.fixture(name="plant")
async def fx_plant(make_tenant, make_plant) -> Any:
    tenant = await make_tenant()
    return await make_plant(tenant.tenant_id)


def _codes(found: set[tuple[str, str | None]], plate: str) -> set[str]:
    return {code for code, p in found if p == plate}


async def test_exit_without_entry(database, plant) -> None:
    for n in (1, 2, 3):
        await _vehicle(database, plant.tenant_id, n)
    await plant.passes(
        ("鄂A00001", T0, "out"),  # no entry at all
        ("鄂A00002", T0, "in"),
        ("鄂A00002", T0 + 2 * H, "out"),  # near miss: paired
        ("鄂A00003", T0 - 80 * H, "in"),
        ("鄂A00003", T0, "out"),  # entry too long ago (72 h window)
    )
    found = await _run(database, plant.tenant_id, T0 + 3 * H)
    assert "exit_without_entry" in _codes(found, "鄂A00001")
    assert "exit_without_entry" not in _codes(found, "鄂A00002")
    assert "exit_without_entry" in _codes(found, "鄂A00003")


async def test_exit_after_refused_entry_has_no_entry(database, plant) -> None:
    await _vehicle(database, plant.tenant_id, 4)
    await plant.passes(
        ("鄂A00004", T0, "in", {"decision": "refuse", "reasons": ("blacklisted",)}), ("鄂A00004", T0 + H, "out")
    )
    assert "exit_without_entry" in _codes(await _run(database, plant.tenant_id, T0 + 2 * H), "鄂A00004")


async def test_entry_without_exit(database, plant) -> None:
    for n in (5, 6, 7):
        await _vehicle(database, plant.tenant_id, n)
    await _vehicle(
        database, plant.tenant_id, 8, category="in_plant", internal_code="CN001", plate=None, plate_colour=None
    )
    await plant.passes(
        ("鄂A00005", T0, "in"),  # never leaves
        ("鄂A00006", T0, "in"),
        ("鄂A00006", T0 + 23 * H, "out"),  # near miss: left within 24 h
        ("鄂A00007", T0 + 10 * H, "in"),  # near miss: 24 h not yet over at the check
    )
    found = await _run(database, plant.tenant_id, T0 + 30 * H)
    assert "entry_without_exit" in _codes(found, "鄂A00005")
    assert "entry_without_exit" not in _codes(found, "鄂A00006")
    assert "entry_without_exit" not in _codes(found, "鄂A00007")
    # Running again later does not duplicate, and the 10 h entry is now overdue.
    found = await _run(database, plant.tenant_id, T0 + 40 * H)
    assert "entry_without_exit" in _codes(found, "鄂A00007")


async def test_exit_before_entry(database, plant) -> None:
    for n in (9, 10):
        await _vehicle(database, plant.tenant_id, n)
    await plant.passes(
        ("鄂A00009", T0 + H, "in"),
        ("鄂A00009", T0 + 30 * M, "out"),  # recorded after the entry, stamped before it
        ("鄂A00010", T0 + H, "in"),
        ("鄂A00010", T0 + H + M, "out"),  # near miss: one minute later
    )
    found = await _run(database, plant.tenant_id, T0 + 3 * H)
    assert "exit_before_entry" in _codes(found, "鄂A00009")
    assert "exit_without_entry" not in _codes(found, "鄂A00009")
    assert not {"exit_before_entry", "exit_without_entry"} & _codes(found, "鄂A00010")


async def test_too_many_passes(database, plant) -> None:
    for n in (11, 12):
        await _vehicle(database, plant.tenant_id, n)
    busy = [("鄂A00011", T0 + i * H, "in" if i % 2 == 0 else "out") for i in range(11)]
    calm = [("鄂A00012", T0 + i * H, "in" if i % 2 == 0 else "out") for i in range(10)]  # exactly the limit
    await plant.passes(*busy, *calm)
    found = await _run(database, plant.tenant_id, T0 + 12 * H)
    assert "too_many_passes" in _codes(found, "鄂A00011")
    assert "too_many_passes" not in _codes(found, "鄂A00012")


async def test_clock_skew(database, plant) -> None:
    for n in (13, 14, 15, 16):
        await _vehicle(database, plant.tenant_id, n)
    now = dt.datetime.now(dt.UTC)
    await plant.passes(("鄂A00013", now + 5 * M, "in"))  # agent clock 5 minutes ahead
    await plant.passes(("鄂A00014", now + dt.timedelta(seconds=20), "in"))  # near miss: within 60 s
    await plant.passes(("鄂A00015", now - 3 * H, "in"))  # near miss: buffered offline for 3 hours
    await plant.passes(("鄂A00016", now - 3 * H, "in", {"anomalies": ("clock_skew",)}))  # the agent said so
    found = await _run(database, plant.tenant_id, now)
    assert "clock_skew" in _codes(found, "鄂A00013")
    assert "clock_skew" not in _codes(found, "鄂A00014")
    assert "clock_skew" not in _codes(found, "鄂A00015")
    assert "clock_skew" in _codes(found, "鄂A00016")


async def test_stage_missing_and_unverified(database, plant) -> None:
    await _vehicle(database, plant.tenant_id, 17, verify=False)  # pending review
    await _vehicle(database, plant.tenant_id, 18)  # verified: near miss
    await plant.passes(
        ("鄂A00017", T0, "in"),
        ("鄂A00018", T0, "in"),
        ("鄂A00019", T0, "in"),  # not in the ledger at all
        ("鄂A00020", T0, "in", {"decision": "refuse", "reasons": ("unknown_vehicle",)}),  # refused: near miss
    )
    found = await _run(database, plant.tenant_id, T0 + H)
    assert "stage_unverified" in _codes(found, "鄂A00017")
    assert not {"stage_unverified", "stage_missing"} & _codes(found, "鄂A00018")
    assert "stage_missing" in _codes(found, "鄂A00019")
    assert "stage_missing" not in _codes(found, "鄂A00020")


async def test_weighing_checks(database, plant) -> None:
    await _vehicle(database, plant.tenant_id, 21, rated_load_kg=30000, total_mass_kg=49000, vehicle_type="H11")
    for n in (22, 23, 24, 25, 26):
        await _vehicle(database, plant.tenant_id, n, rated_load_kg=30000, total_mass_kg=49000, vehicle_type="H11")
    await plant.passes(
        ("鄂A00021", T0, "in", {"cargo": "煤炭"}),  # cargo, no weighing at all
        ("鄂A00022", T0, "in", {"cargo": "煤炭", "weighing": WeighingLink(weighing_id="w1", net_kg=-200)}),
        ("鄂A00023", T0, "in", {"cargo": "煤炭", "weighing": WeighingLink(weighing_id="w2", net_kg=30500)}),
        ("鄂A00024", T0, "in", {"cargo": "煤炭", "weighing": WeighingLink(weighing_id="w3", net_kg=30000)}),  # at rated
        ("鄂A00025", T0, "in", {"cargo": "煤炭"}),
        ("鄂A00026", T0, "in", {"cargo": "煤炭"}),
    )
    ids = {e.plate: uuid.UUID(e.event_id) for e in plant.events}
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        for plate, cargo in (("鄂A00025", "石灰石"), ("鄂A00026", "煤 炭")):
            await weighings.record_weighing(
                session,
                plant.tenant_id,
                weighings.WeighingRecord(
                    id=new_id(),
                    site_id=plant.site_id,
                    occurred_at=T0 + M,
                    weight_kg=Decimal(45000),
                    pass_event_id=ids[plate],
                    agent_id=plant.agent_id,
                    cargo_name=cargo,
                ),
            )
    early = await _run(database, plant.tenant_id, T0 + 10 * M)  # within the 30-minute grace
    assert "weighing_missing" not in _codes(early, "鄂A00021")
    found = await _run(database, plant.tenant_id, T0 + 2 * H)
    assert "weighing_missing" in _codes(found, "鄂A00021")
    assert "net_weight_negative" in _codes(found, "鄂A00022")
    assert "net_weight_over_rated" in _codes(found, "鄂A00023")
    assert not {"net_weight_over_rated", "net_weight_negative", "weighing_missing"} & _codes(found, "鄂A00024")
    assert "cargo_mismatch" in _codes(found, "鄂A00025")
    assert "cargo_mismatch" not in _codes(found, "鄂A00026")  # spacing differs only
    assert "weighing_missing" not in _codes(found, "鄂A00025")


async def test_unknown_internal(database, plant) -> None:
    await _vehicle(
        database,
        plant.tenant_id,
        30,
        category="nrmm",
        plate=None,
        plate_colour=None,
        vin=None,
        env_reg_code="EA0001",
        pin="PIN30",
        emission_stage="国四",
    )
    await plant.passes(
        ("", T0, "in", {"internal_code": "EA0001"}),  # registered machine: near miss
        ("", T0 + M, "in", {"internal_code": "XX9999"}),  # unknown machine
    )
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        await checks.run_checks(session, plant.tenant_id, T0 + H)
        rows = list(await session.scalars(select(m.CheckFlag).where(m.CheckFlag.code == "unknown_internal")))
    assert len(rows) == 1
    assert "XX9999" in rows[0].message


async def test_plate_two_vins(database, plant) -> None:
    vehicle_id = await _vehicle(database, plant.tenant_id, 31)
    await _vehicle(database, plant.tenant_id, 32)
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        await vehicles.correct_vehicle(session, _admin(plant.tenant_id), vehicle_id, {"vin": _vin(99)}, "更换车架")
        # Near miss: another vehicle corrected without touching the VIN.
    found = await _run(database, plant.tenant_id, T0)
    assert "plate_two_vins" in _codes(found, "鄂A00031")
    assert "plate_two_vins" not in _codes(found, "鄂A00032")


async def test_cn6_heavy_diesel_not_networked(database, plant) -> None:
    heavy = {"vehicle_type": "H11", "total_mass_kg": 31000}
    await _vehicle(database, plant.tenant_id, 40, network_status="disconnected", **heavy)
    await _vehicle(database, plant.tenant_id, 41, network_status="connected", **heavy)  # near miss
    await _vehicle(database, plant.tenant_id, 42, network_status="disconnected", fuel_type="E", **heavy)  # gas
    await _vehicle(database, plant.tenant_id, 43, network_status="disconnected", emission_stage="5", **heavy)
    await _vehicle(database, plant.tenant_id, 44, network_status="disconnected", vehicle_type="H31", total_mass_kg=4000)
    await _vehicle(database, plant.tenant_id, 45, **heavy)  # status not given
    found = await _run(database, plant.tenant_id, T0)
    code = "cn6_heavy_diesel_not_networked"
    assert code in _codes(found, "鄂A00040")
    assert code in _codes(found, "鄂A00045")
    for plate in ("鄂A00041", "鄂A00042", "鄂A00043", "鄂A00044"):
        assert code not in _codes(found, plate), plate


async def test_blacklisted_allowed(database, plant) -> None:
    for n in (50, 51):
        await _vehicle(database, plant.tenant_id, n)
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        session.add(
            m.BlacklistEntry(tenant_id=plant.tenant_id, plate="鄂A00050", reason="超标排放", source="regulator")
        )
    now = dt.datetime.now(dt.UTC)
    await plant.passes(
        ("鄂A00050", now, "in"),
        ("鄂A00051", now, "in"),
        ("鄂A00050", now, "in", {"decision": "refuse", "reasons": ("blacklisted",)}),
    )
    found = await _run(database, plant.tenant_id, now + H)
    assert "blacklisted_allowed" in _codes(found, "鄂A00050")
    assert "blacklisted_allowed" not in _codes(found, "鄂A00051")


async def test_flags_are_red_until_resolved(database, plant) -> None:
    await plant.passes(("鄂A00060", T0, "out"))
    await _run(database, plant.tenant_id, T0 + H)
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        open_flags, total = await flags.list_flags(session, flags.FlagFilter(status="open"), 50, 0)
        assert total == len(open_flags) >= 1
        target = next(v for v in open_flags if v.flag.code == "exit_without_entry")
        assert target.title == "出场无入场记录"
        resolved = await flags.resolve(session, _admin(plant.tenant_id), target.flag.id, "resolved", "补录了入场记录")
        assert resolved.status == "closed"
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        still_open, _ = await flags.list_flags(session, flags.FlagFilter(status="open"), 50, 0)
        assert target.flag.id not in {v.flag.id for v in still_open}
        again = await flags.resolve(session, _admin(plant.tenant_id), target.flag.id, "reopened", "复查发现问题仍在")
        assert again.status == "open"
        assert [r.outcome for r in again.history] == ["resolved", "reopened"]
    # Checks run again do not duplicate the flag.
    await _run(database, plant.tenant_id, T0 + 2 * H)
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        rows = list(await session.scalars(select(m.CheckFlag).where(m.CheckFlag.code == "exit_without_entry")))
    assert len(rows) == 1


async def test_a_busy_run_seals_thousands_of_flags(database, plant) -> None:
    from cloud.compliance import chain  # noqa: PLC0415

    # 1,200 passes with cargo of unknown trucks: > 3,300 flags in one run (asyncpg's 32,767-parameter limit).
    specs = [(f"鄂A{70000 + i}", T0 + i * M, "in", {"cargo": "煤炭"}) for i in range(1200)]
    for start in range(0, len(specs), 500):
        await plant.passes(*specs[start : start + 500])
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        run = await checks.run_checks(session, plant.tenant_id, T0 + 72 * H)
    assert run.flags_added == 3600
    assert run.codes == {"stage_missing": 1200, "weighing_missing": 1200, "entry_without_exit": 1200}
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        report = await session.run_sync(lambda s: chain.verify(s, plant.tenant_id))
    assert report.ok, report.problems
    assert report.cloud_records == 3600


async def test_agent_trip_flags_open_once_on_the_pass_and_join_the_chain(database, plant) -> None:
    """The hub's weighing path opens the agent's trip findings through the checks' writer: one flag per pass
    and code (the logic checks' own ``exit_before_entry`` on the same pass is the same flag), unknown codes
    ignored, every new flag sealed into the cloud chain; a missing weight's flag is sealed too."""
    from agent_protocol import messages as msg  # noqa: PLC0415

    await _vehicle(database, plant.tenant_id, 21)
    await _vehicle(database, plant.tenant_id, 22)
    entry, exit_, other = await plant.passes(
        ("鄂A00021", T0 + H, "in"),
        ("鄂A00021", T0 + 30 * M, "out"),  # stamped before its entry
        ("鄂A00022", T0 + H, "in"),
    )
    record = msg.WeighingRecord(
        weight_kg=12_000,
        at=T0 + 31 * M,
        direction="out",
        plate="鄂A00021",
        gross_kg=31_000,
        tare_kg=12_000,
        net_kg=19_000,
        flags=("exit_before_entry", "cargo_missing", "cargo_missing", "no_such_finding"),
    )
    attach = msg.WeighingAttach(attachment_id=str(new_id()), event_id=str(exit_), weighing=record)
    missing = msg.WeighingAttach(attachment_id=str(new_id()), event_id=str(other), outcome="missing")
    for _ in range(2):  # a replay (lost ack) adds nothing
        async with database.session(_admin(plant.tenant_id)) as session, session.begin():
            for message in (attach, missing):
                assert await weighings.record_attachment(
                    session, plant.tenant_id, plant.agent_id, plant.site_id, message
                )
    await _run(database, plant.tenant_id, T0 + 3 * H)
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        rows = list((await session.scalars(select(m.CheckFlag).where(m.CheckFlag.plate == "鄂A00021"))).all())
        by_code = {f.code: f for f in rows}
        assert sorted(f.code for f in rows) == ["cargo_missing", "exit_before_entry"]
        cargo = by_code["cargo_missing"]
        assert (cargo.pass_event_id, cargo.occurred_at, cargo.detail["source"]) == (exit_, T0 + 30 * M, "agent")
        assert cargo.vehicle_id is not None
        assert "19000 千克" in cargo.message
        assert by_code["exit_before_entry"].pass_event_id == exit_
        assert not any(f.pass_event_id == entry for f in rows)
        gone = await session.scalar(select(m.CheckFlag).where(m.CheckFlag.pass_event_id == other))
        assert gone is not None
        assert gone.code == "weighing_missing"
        sealed = set(
            await session.scalars(
                select(m.CloudChainEntry.record_id).where(m.CloudChainEntry.record_type == "check_flag")
            )
        )
        assert {cargo.id, by_code["exit_before_entry"].id, gone.id} <= sealed
        views, _ = await flags.list_flags(session, flags.FlagFilter(pass_event_id=exit_), 10, 0)
        assert {v.title for v in views} >= {"缺少货物名称", "出场时间早于入场时间"}
