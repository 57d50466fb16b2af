"""Record truth (issue 15, Deliver 5): a plant's morning through the real parts, compared with a ledger
written down independently of the code.

Real parts: a generated lane video → the agent's recognizer and voter → its decision from the registry
the cloud exported → a Modbus relay barrier and an XK3190 weighbridge, both simulators on pseudo
terminals → the agent's outbox and late weighings → a websocket to a cloud process over TCP → the
ledger (cloud/ledger) in PostgreSQL under RLS → the in-process JSON API (remote release, correction,
the transport-ledger export parsed with openpyxl) → the uplink worker → the regulator simulator.

The day: a platform admin declares an orange alert for the plant's district before the gate opens
(the agent applies it from the cloud); registered trucks A and B enter on camera and are weighed on the
deck behind the barrier; an unregistered truck C and a blacklisted truck D are refused; a registered
国四 diesel truck E is refused for the orange alert; the alert is lifted (the response records say
when); a person releases C from the portal with the plate typed, and C drives over the deck; B's fleet
changes in the registry (a new version) before it leaves; A and B leave over the scale
(gross/tare/net per trip); a person corrects A's entry cargo. Then the transport ledger in Excel and
PDF (thumbnails, not hashes), the regulator simulator's records, and the reports and grading API
(运输量 and 清洁运输比例 from the net weights) are compared with the table below.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pypdf
import pytest
from sqlalchemy import select

from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator, WeighbridgeSimulator
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent.synth.plates import PlateSpec
from agent.synth.video import write_lane_video
from cloud.blobs import BlobStore
from cloud.compliance import blacklist, reviews, snapshots
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import vehicles
from cloud.uplink import platforms
from cloud.uplink.worker import UplinkWorker
from hj1321.plates import PlateColour, parse_plate
from tenants.context import Principal, Role
from tests.e2e.kit import agent_files, until, vin, weigh

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CN = ZoneInfo("Asia/Shanghai")
A, B, C, D, E = "鄂A1B234", "鄂AD5678", "鄂AF8261", "鄂A7M416", "鄂A5K930"
#: The plant's district: no other test declares an alert for it (alerts are region-wide; this one is lifted).
DISTRICT = "420116"


#: The registry, written down here (REGULATION.md §1.4.2 (a)); B gets a second version before it leaves.
REGISTRY: dict[str, dict[str, Any]] = {
    A: {
        "plate": A,
        "plate_colour": "yellow",
        "vin": vin("D12345"),
        "vehicle_type": "Q11",
        "brand_model": "解放牌CA4250P66K24T1E5",
        "register_date": dt.date(2021, 5, 18),
        "engine_model": "CA6DM3-46E65",
        "engine_maker": "一汽解放汽车有限公司无锡柴油机厂",
        "engine_no": "72358011",
        "fuel_type": "B",
        "emission_stage": "6",
        "use_nature": "F",
        "network_status": "connected",
        "env_list_no": "CN6HDFJ0000G6A000123",
        "fleet_name": "顺达物流",
        "owner_name": "武汉顺达物流有限公司",
        "total_mass_kg": 49000,
        "rated_load_kg": 31000,
    },
    B: {
        "plate": B,
        "plate_colour": "yellow",
        "vin": vin("E67890"),
        "vehicle_type": "H11",
        "brand_model": "东风牌DFH3310A8",
        "register_date": dt.date(2022, 3, 9),
        "engine_model": "DDi13E560-60",
        "engine_maker": "东风商用车有限公司",
        "engine_no": "D3190871",
        "fuel_type": "B",
        "emission_stage": "6",
        "use_nature": "F",
        "network_status": "connected",
        "env_list_no": "CN6HDFJ0000G6A000456",
        "fleet_name": "宏运运输",
        "owner_name": "宜昌宏运运输有限公司",
        "total_mass_kg": 31000,
        "rated_load_kg": 17000,
    },
}
REGISTRY[E] = {
    **REGISTRY[B],
    "plate": E,
    "vin": vin("F24680"),
    "brand_model": "陕汽牌SX4250NT324",
    "register_date": dt.date(2014, 7, 2),
    "engine_model": "WP10.336N",
    "engine_maker": "潍柴动力股份有限公司",
    "engine_no": "W4021337",
    "emission_stage": "4",  # 国四 diesel heavy goods vehicle: refused while the orange alert is in force
    "env_list_no": "CN4HDFJ0000G4A000789",
    "fleet_name": "老张货运",
}
B_V2 = {**REGISTRY[B], "fleet_name": "新宏运物流"}

#: The expected ledger: (plate, direction, decision, trigger, registry version or None, weight kg, trip net kg).
EXPECTED: list[tuple[str, str, str, str, dict[str, Any] | None, int | None, int | None]] = [
    (A, "in", "allow", "auto", REGISTRY[A], 32_000, None),
    (B, "in", "allow", "auto", REGISTRY[B], 25_000, None),
    (C, "in", "refuse", "auto", None, None, None),
    (D, "in", "refuse", "auto", None, None, None),
    (E, "in", "refuse", "auto", REGISTRY[E], None, None),  # the orange alert (REGULATION.md §4.4)
    (C, "in", "allow", "manual_release", None, 18_500, None),  # released, it drives over the deck
    (A, "out", "allow", "auto", REGISTRY[A], 12_000, 20_000),
    (B, "out", "allow", "auto", B_V2, 10_000, 15_000),
]
#: The HJ 1321 vehicle fields of a pass row, as the registry holds them.
HJ_FIELDS = (
    "vin",
    "vehicle_type",
    "brand_model",
    "register_date",
    "engine_model",
    "engine_maker",
    "engine_no",
    "fuel_type",
    "emission_stage",
    "use_nature",
    "network_status",
    "env_list_no",
    "fleet_name",
)
#: transportControl keys sent from the registry (REGULATION.md §2.4) → registry field.
PLATFORM_FIELDS = {
    "cdmc": "fleet_name",
    "vin": "vin",
    "registerDate": "register_date",
    "model": "brand_model",
    "fuelType": "fuel_type",
    "emissionStandard": "emission_stage",
    "useCharacter": "use_nature",
    "networkStatus": "network_status",
}


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


async def _version(session: Any, vehicle_id: uuid.UUID, number: int) -> m.VehicleVersion:
    row = await session.scalar(
        select(m.VehicleVersion).where(m.VehicleVersion.vehicle_id == vehicle_id, m.VehicleVersion.version == number)
    )
    assert row is not None
    return row


async def test_a_plants_morning_is_recorded_truly_everywhere(  # noqa: PLR0912 - one scenario, every field
    make_tenant: Any,
    make_site: Any,
    cloud_process: Any,
    database: Database,
    client: Any,
    login_as: Any,
    make_user: Any,
    make_staff: Any,
    settings: Any,
    regsim: Any,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant(DISTRICT)
    site = await make_site(tenant.tenant_id)
    maker = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="maker")
    checker = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="checker")
    ids: dict[str, uuid.UUID] = {}
    async with database.session(maker) as session, session.begin():
        await platforms.configure(
            session,
            tenant.tenant_id,
            profile="transport_control",
            base_url=regsim.url,
            enterprise_code="4201020001",
            enterprise_name=tenant.name,
            credentials={"username": "ecogate", "password": "EcoGate@2026"},
        )
        for plate, data in REGISTRY.items():
            ids[plate] = (await vehicles.create_vehicle(session, maker, "transport", data, "登记")).vehicle.id
        await blacklist.add(session, maker, {"plate": D, "reason": "超标排放车辆"}, "enterprise")
    async with database.session(checker) as session, session.begin():
        for plate in REGISTRY:
            await reviews.review_version(session, checker, ids[plate], 1, "verified", "核对行驶证")
    async with database.session(maker) as session, session.begin():
        exported = await snapshots.registry_snapshot(session, tenant.tenant_id)

    # The agent: camera lane in (the generated video), spool lane out; devices on ptys.
    relay = RelayBarrierSimulator(PtyEndpoint(tmp_path / "relay"), travel_s=0.02)
    scale = WeighbridgeSimulator(PtyEndpoint(tmp_path / "scale"), "xk3190_a9", interval_s=0.05)
    await relay.start()
    await scale.start()
    video = tmp_path / "east-in.avi"
    trucks = [PlateSpec(parse_plate(p).number, parse_plate(p).kind, PlateColour.YELLOW) for p in (A, B, C, D, E)]
    write_lane_video(video, trucks, fps=10.0, seconds_per_vehicle=3.0, gap_s=2.0, seed=3, tail_s=60.0)
    seed, data = agent_files(tmp_path, exported, tenant, site, cloud_process.url)
    spool = tmp_path / "east-out.jsonl"
    spool.write_text("", encoding="utf-8")
    cfg = parse_config(
        {
            "registry_seed": str(seed),
            "agent": {"id": str(site.agent_id), "data_dir": str(data)},
            "site": {"id": str(site.site_id), "name": "一厂区"},
            "booth": {"enabled": False},
            "cameras": [{"id": "cam-in", "url": str(video)}],
            "devices": {
                "barriers": [
                    {"type": "modbus_relay", "name": "in-barrier", "port": str(tmp_path / "relay"), "pulse_s": 0.01},
                    {"type": "virtual", "name": "out-barrier"},
                ],
                "weighbridges": [{"type": "xk3190_a9", "name": "scale", "port": str(tmp_path / "scale")}],
            },
            "lanes": [
                {
                    "id": str(site.lane_in),
                    "name": "东门入口",
                    "direction": "in",
                    "camera": "cam-in",
                    "barrier": "in-barrier",
                    "weighbridge": "scale",
                    "early_read": True,
                    "duplicate_window_s": 600.0,  # the file camera may be reopened: one pass per truck
                },
                {
                    "id": str(site.lane_out),
                    "name": "东门出口",
                    "direction": "out",
                    "barrier": "out-barrier",
                    "weighbridge": "scale",
                    "source": {"type": "spool", "path": str(spool), "poll_s": 0.05},
                },
            ],
            "policy": {"unknown_vehicle": "refuse_prompt"},
            "evidence": {"clip": False},
            "cloud": {"heartbeat_s": 1.0},
        }
    )
    # One blob store for the cloud process (the hub stores the photos) and the in-process API (the exports
    # embed them), as replicas share one store in production.
    settings.blobs.root.mkdir(parents=True, exist_ok=True)
    cloud_process.blob_root = settings.blobs.root
    cloud_process.env["ECOGATE_BLOB_ROOT"] = str(settings.blobs.root)
    await asyncio.to_thread(cloud_process.start)
    # The morning's alert, declared by the platform admin through the API before the gate opens: the
    # agent gets the level in force with the cloud's state when it connects.
    staff = await login_as(await make_staff("platform_admin"))
    declared = await client.post(
        "/api/v1/admin/region-alerts",
        json={
            "region_code": DISTRICT,
            "level": "orange",
            "ends_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)).isoformat(),
            "reason": "武汉市重污染天气橙色预警（测试）",
        },
        headers=staff,
    )
    assert declared.status_code == 201, declared.text
    alert_id = declared.json()["alert"]["id"]
    lifted = False
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))

    def outbox_plates(direction: str) -> list[tuple[str | None, str]]:
        box = agent.outbox
        if box is None:
            return []
        return [(e.plate, e.decision.value) for e in box.events(limit=1000) if e.direction.value == direction]

    try:
        # Entries on camera; each allowed truck reaches the deck after the barrier has opened.
        await until(lambda: relay.opens >= 1, 120, "A's barrier")
        await weigh(scale, 32_000)
        await until(lambda: relay.opens >= 2, 60, "B's barrier")
        await weigh(scale, 25_000)
        await until(lambda: len(outbox_plates("in")) >= 5, 60, "the five camera passes")
        assert outbox_plates("in") == [(A, "allow"), (B, "allow"), (C, "refuse"), (D, "refuse"), (E, "refuse")]

        # The alert is lifted early (an alert change): the response records say when.
        cancelled = await client.post(
            f"/api/v1/admin/region-alerts/{alert_id}/cancel", json={"reason": "空气质量好转，提前解除"}, headers=staff
        )
        assert cancelled.status_code == 200, cancelled.text
        lifted = True

        # A person releases C from the portal, typing its plate.
        headers = await login_as(tenant.admin_login)
        released = await client.post(
            f"/api/v1/agents/{site.agent_id}/commands",
            json={"name": "open_barrier", "lane_id": str(site.lane_in), "reason": "来访车辆，核实后放行", "plate": C},
            headers=headers,
        )
        assert released.status_code in (200, 201), released.text
        await until(lambda: relay.opens >= 3, 60, "the remote release")
        await weigh(scale, 18_500)

        # B's fleet changes in the registry before it leaves (a new, verified version).
        async with database.session(maker) as session, session.begin():
            await vehicles.correct_vehicle(session, maker, ids[B], {"fleet_name": B_V2["fleet_name"]}, "车队变更")
        async with database.session(checker) as session, session.begin():
            assert await reviews.state_of(session, await _version(session, ids[B], 2)) == "verified"  # no stage change

        # Exits over the scale.
        for n, (plate, kg) in enumerate(((A, 12_000), (B, 10_000))):
            line = {"read_id": f"out-{n}", "plate": plate, "colour": "yellow", "confidence": 0.97}
            with spool.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            await until(lambda n=n: len(outbox_plates("out")) > n, 30, f"exit {plate}")
            await weigh(scale, kg)

        async def stored() -> bool:
            async with database.session(site.principal) as session, session.begin():
                passes = (await session.scalars(select(m.PassEvent))).all()
                weighed = (await session.scalars(select(m.Weighing))).all()
            return len(passes) == len(EXPECTED) and len(weighed) == sum(1 for e in EXPECTED if e[5] is not None)

        await until(stored, 90, "every pass and weighing in the cloud")
    finally:
        if not lifted:  # never leave a region alert behind in the worker's database
            await client.post(
                f"/api/v1/admin/region-alerts/{alert_id}/cancel", json={"reason": "测试结束"}, headers=staff
            )
        agent.supervisor.request_stop()
        await asyncio.wait_for(task, 20)
        await scale.stop()
        await relay.stop()

    # --- The ledger rows ---------------------------------------------------------------------------
    async with database.session(site.principal) as session, session.begin():
        rows = list((await session.scalars(select(m.PassEvent).order_by(m.PassEvent.seq))).all())
        weighings = list((await session.scalars(select(m.Weighing))).all())
        versions = {v.id: v for v in (await session.scalars(select(m.VehicleVersion))).all()}
    assert len(rows) == len(EXPECTED)
    by_pass = {w.pass_event_id: w for w in weighings}
    for row, (plate, direction, decision, trigger, registry, kg, net) in zip(rows, EXPECTED, strict=True):
        where = f"{plate} {direction} {trigger}"
        assert (row.plate, row.direction, row.decision, row.trigger) == (plate, direction, decision, trigger), where
        # A typed plate has the colour of the lane's refused read of it, when the agent still holds that read.
        assert row.plate_colour in (("", "yellow") if trigger == "manual_release" else ("yellow",)), where
        if direction == "in" and trigger == "auto":
            assert row.scene_sha256, where  # the camera's photos
            assert row.plate_sha256, where
        if registry is None:
            assert (row.vehicle_id, row.vehicle_version_id) == (None, None), where
        else:
            assert row.vehicle_id == ids[plate], where
            version = versions[row.vehicle_version_id]  # type: ignore[index]
            held = {f: _text(getattr(version, f)) for f in HJ_FIELDS}
            assert held == {f: _text(registry[f]) for f in HJ_FIELDS}, where
        weight = by_pass.get(row.id)
        assert (None if weight is None else int(weight.weight_kg)) == kg, where
        if net is not None:
            assert weight is not None
            assert int(weight.net_kg or 0) == net, where
        if decision == "refuse":
            assert row.reason_codes, where
    assert "blacklisted" in rows[3].reason_codes
    assert "emergency_heavy_stage" in rows[4].reason_codes, rows[4].reason_codes
    # E's pass names the level it applied (A may pass before the agent's first connection brings the alert).
    assert rows[4].emergency_level == "orange"
    release = rows[5]
    assert (release.operator, release.operator_name) == (tenant.admin_login, "企业管理员")
    assert (release.manual_reason, release.release_channel, release.plate_source) == (
        "来访车辆，核实后放行",
        "remote",
        "typed",
    )

    # --- A correction through the API --------------------------------------------------------------
    fixed = await client.post(
        f"/api/v1/passes/{rows[0].id}/corrections",
        json={"reason": "磅单核对：运输煤炭", "cargo_name": "煤炭"},
        headers=headers,
    )
    assert fixed.status_code == 201, fixed.text

    # --- The transport ledger export (xlsx) --------------------------------------------------------
    today = rows[0].occurred_at.astimezone(CN).date().isoformat()
    export = await client.get(
        f"/api/v1/enterprises/{tenant.tenant_id}/reports/ledgers/transport_passes/export",
        params={"format": "xlsx", "period": "day", "date": today},
        headers=headers,
    )
    assert export.status_code == 200, export.text
    sheet = openpyxl.load_workbook(io.BytesIO(export.content), read_only=True).worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(table) if r and "车牌号码" in r)
    header = [str(h or "") for h in table[header_at]]
    lines = [dict(zip(header, r, strict=False)) for r in table[header_at + 1 :] if r and any(r)]
    col = {
        "vin": "车辆识别代号(VIN)",
        "vehicle_type": "车辆类型",
        "register_date": "注册登记日期",
        "brand_model": "车辆品牌型号",
        "engine_model": "发动机型号",
        "engine_maker": "发动机生产厂",
        "engine_no": "发动机编号",
        "use_nature": "使用性质",
        "network_status": "联网状态",
        "env_list_no": "随车清单编号",
        "fleet_name": "车队名称",
    }
    exported_rows = _in_expected_order(lines, [e[0] for e in EXPECTED])
    assert len(exported_rows) == len(EXPECTED), exported_rows
    free_text = ("vin", "brand_model", "engine_model", "engine_maker", "engine_no", "env_list_no", "fleet_name")
    for line, (plate, _direction, _decision, _trigger, registry, _kg, net) in zip(exported_rows, EXPECTED, strict=True):
        assert line["车牌号码"] == plate
        if registry is not None:
            for field in free_text:
                assert str(line[col[field]] or "") == _text(registry[field]), (plate, field, line)
            assert str(line[col["register_date"]] or "").replace("/", "-")[:10] == _text(registry["register_date"])
            for field in ("vehicle_type", "use_nature", "network_status"):  # coded: shown with their labels
                assert str(line[col[field]] or "").strip(), (plate, field, line)
        if net is not None:
            assert Decimal(str(line["运输量(吨)"])) == Decimal(net) / 1000, (plate, line)
    assert exported_rows[0]["运输货物名称"] == "煤炭"  # the correction is in force
    # Photos are thumbnails in the sheet, never a hash (the camera passes carry scene and plate photos).
    book = openpyxl.load_workbook(io.BytesIO(export.content))
    assert len(book.worksheets[0]._images) >= 2
    assert not any(len(str(v)) == 64 and all(c in "0123456789abcdef" for c in str(v)) for r in table for v in r if v)

    # --- The same ledger as PDF (pypdf): every registered truck's VIN, the plates, thumbnails --------
    pdf = await client.get(
        f"/api/v1/enterprises/{tenant.tenant_id}/reports/ledgers/transport_passes/export",
        params={"format": "pdf", "period": "day", "date": today},
        headers=headers,
    )
    assert pdf.status_code == 200, pdf.text
    reader = pypdf.PdfReader(io.BytesIO(pdf.content))
    pdf_text = "".join(page.extract_text() or "" for page in reader.pages).replace(" ", "").replace("\n", "")
    for plate in (A, B, C, D, E):
        assert plate in pdf_text, plate
    for plate in (A, B, E):
        assert REGISTRY[plate]["vin"] in pdf_text, plate
    assert sum(len(page.images) for page in reader.pages) >= 2

    # --- The alert change, as the enterprise sees it ----------------------------------------------
    status = await client.get("/api/v1/compliance/emergency", headers=headers)
    assert status.status_code == 200, status.text
    assert status.json()["level"] == "none"  # lifted
    events = {(r["event"], r["level"]) for r in status.json()["responses"]["items"]}
    assert {("declared", "orange"), ("cancelled", "orange")} <= events, events

    # --- Reports and grading: 运输量 and 清洁运输比例 from the trips' net weights ---------------------
    day = {"period": "day", "date": today}
    clean = await client.get(
        f"/api/v1/enterprises/{tenant.tenant_id}/reports/clean-transport", params=day, headers=headers
    )
    assert clean.status_code == 200, clean.text
    ratio = clean.json()["clean_transport"]
    # A and B: 国六 diesel, net 20 t + 15 t; C (released, unregistered) has no trip net; D and E refused.
    assert Decimal(str(ratio["road_tonnage_t"])) == Decimal(35), ratio
    assert Decimal(str(ratio["total_tonnage_t"])) == Decimal(35), ratio
    grading = await client.get(f"/api/v1/enterprises/{tenant.tenant_id}/reports/grading", params=day, headers=headers)
    assert grading.status_code == 200, grading.text
    indicator = next(i for i in grading.json()["indicators"] if i["code"] == "clean_transport_ratio")
    assert str(indicator["value"]) == str(ratio["ratio_by_tonnage"]), (indicator, ratio)
    assert Decimal(str(indicator["denominator"])) == Decimal(35), indicator
    stats = await client.get(f"/api/v1/enterprises/{tenant.tenant_id}/reports/statistics", params=day, headers=headers)
    assert stats.status_code == 200, stats.text
    assert "emergency_heavy_stage" in json.dumps(stats.json(), ensure_ascii=False)  # E's refusal is counted

    # --- The regulator simulator's records ---------------------------------------------------------
    sender = UplinkWorker(database, BlobStore(cloud_process.blob_root), batch=20, concurrency=2)
    serials = {row.id.hex for row in rows}
    try:
        for _ in range(150):
            await sender.run_tenant(tenant.tenant_id)
            if serials <= set(regsim.records):
                break
            await asyncio.sleep(0.2)
    finally:
        await sender.close()
    assert serials <= set(regsim.records), sorted(serials - set(regsim.records))
    for row, (plate, direction, decision, _trigger, registry, _kg, net) in zip(rows, EXPECTED, strict=True):
        record = regsim.records[row.id.hex]
        assert (record["cphm"], record["tgzt"], record["bgzt"]) == (
            plate,
            "1" if direction == "in" else "2",
            "1" if decision == "allow" else "0",
        )
        if registry is not None:
            sent = {key: record.get(key) for key in PLATFORM_FIELDS}
            assert sent == {key: _text(registry[f]) for key, f in PLATFORM_FIELDS.items()}, plate
        if net is not None:
            assert Decimal(str(record["ysl"])) == Decimal(net) / 1000, plate


def _in_expected_order(lines: list[dict], plates: list[str]) -> list[dict]:
    """Export rows matched to the expected table: each plate's rows in time order, taken in the order the
    table names the plates (the ledger's own row order interleaves trucks by its time column)."""

    def when(row: dict) -> str:
        return str(row.get("进/出厂时间") or "")

    by_plate: dict[str, list[dict]] = {}
    for row in sorted(lines, key=when):
        by_plate.setdefault(str(row.get("车牌号码") or ""), []).append(row)
    ordered = [by_plate[plate].pop(0) for plate in plates if by_plate.get(plate)]
    return ordered + [row for rows in by_plate.values() for row in rows]
