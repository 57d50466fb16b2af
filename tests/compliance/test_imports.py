"""Bad input gives per-row reasons and nothing half-imported: blacklist, vehicle ledger, 随车清单 QR."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pytest
import segno

from agent.decision.engine import DecisionEngine, DecisionRequest
from agent.decision.registry import BlacklistEntry, LocalRegistry, RegistrySnapshot
from agent_protocol.events import Direction
from cloud.compliance import qr, snapshots
from hj1321.identifiers import vin_check_digit
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio


def _vin(serial: int) -> str:
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


def _bad_vin(serial: int) -> str:
    good = _vin(serial)
    wrong = "0" if good[8] != "0" else "1"
    return good[:8] + wrong + good[9:]


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv(rows: list[list[Any]]) -> bytes:
    return "\n".join(",".join(str(c) for c in row) for row in rows).encode("utf-8-sig")


async def _upload(client: Any, url: str, headers: dict[str, str], data: bytes, name: str, **form: Any) -> Any:
    fields = {k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()}
    return await client.post(
        url, headers=headers, data=fields, files={"file": (name, data, "application/octet-stream")}
    )


# Blacklist -------------------------------------------------------------------------------------


async def test_blacklist_import_reports_every_row(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=90)).isoformat()
    rows = [
        ["车牌号码", "号牌颜色", "车辆识别代号", "超标原因", "有效期至"],
        ["鄂A·10001", "黄", _vin(1), "尾气超标", future],  # 2: ok
        ["鄂A10002", "紫", "", "", ""],  # 3: unknown colour
        ["京X", "", "", "", ""],  # 4: bad plate
        ["鄂A10001", "", "", "重复", ""],  # 5: duplicate of row 2
        ["鄂A10005", "", _bad_vin(5), "", ""],  # 6: VIN check digit
        ["鄂A10006", "", "", "", "2020-01-01"],  # 7: expired
        ["鄂A10007", "", "", "", "明年"],  # 8: bad date
        ["鄂A10008", "yellow", "", "", ""],  # 9: ok
    ]
    report = await _upload(client, "/api/v1/compliance/blacklist/import", headers, _xlsx(rows), "名单.xlsx")
    assert report.status_code == 200, report.text
    by_row = {r["row"]: r for r in report.json()["rows"]}
    assert {n: r["status"] for n, r in by_row.items()} == {
        2: "imported",
        3: "error",
        4: "error",
        5: "error",
        6: "error",
        7: "error",
        8: "error",
        9: "imported",
    }
    assert by_row[3]["errors"][0]["code"] == "plate_colour.unknown"
    assert by_row[5]["errors"][0]["code"] == "plate.duplicate_row"
    assert "第 2 行" in by_row[5]["message"]
    assert by_row[6]["errors"][0]["code"] == "vin.check_digit"
    assert by_row[7]["errors"][0]["code"] == "valid_until.past"
    listed = (await client.get("/api/v1/compliance/blacklist", headers=headers)).json()
    assert sorted(e["plate"] for e in listed["items"]) == ["鄂A10001", "鄂A10008"]
    # Importing again skips what is already listed.
    again = await _upload(client, "/api/v1/compliance/blacklist/import", headers, _csv(rows[:2]), "again.csv")
    assert again.json()["counts"] == {"skipped": 1}


async def test_blacklist_wrong_columns_and_all_or_nothing(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    wrong = await _upload(
        client, "/api/v1/compliance/blacklist/import", headers, _csv([["号码", "颜色"], ["鄂A1", "黄"]]), "x.csv"
    )
    assert wrong.status_code == 422
    body = wrong.json()
    assert body["code"] == "import_columns"
    assert {e["code"] for e in body["errors"]} == {"column.unknown", "column.missing"}
    garbage = await _upload(
        client, "/api/v1/compliance/blacklist/import", headers, b"PK\x03\x04not a workbook", "x.xlsx"
    )
    assert garbage.status_code == 422
    assert garbage.json()["code"] == "import_unreadable"
    mixed = _csv([["车牌号码"], ["鄂A20001"], ["坏车牌"]])
    report = await _upload(client, "/api/v1/compliance/blacklist/import", headers, mixed, "m.csv", all_or_nothing=True)
    assert report.json()["counts"] == {"not_imported": 1, "error": 1}
    assert (await client.get("/api/v1/compliance/blacklist", headers=headers)).json()["total"] == 0


async def test_blacklist_reaches_the_gate_and_refusal_is_logged(
    client, make_tenant, login_as, database, make_plant
) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    await client.post(
        "/api/v1/compliance/blacklist", json={"plate": "鄂A30001", "source": "regulator"}, headers=headers
    )
    principal = Principal(user_id=__import__("uuid").UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id)
    async with database.session(principal) as session, session.begin():
        registry = await snapshots.registry_snapshot(session, tenant.tenant_id)
    snapshot = RegistrySnapshot(
        version=registry["version"],
        blacklist=tuple(BlacklistEntry(**{k: v for k, v in b.items() if v is not None}) for b in registry["blacklist"]),
    )
    engine = DecisionEngine(registry=LocalRegistry(snapshot))
    now = dt.datetime.now(dt.UTC)
    outcome = engine.decide_local(DecisionRequest(lane_id="l", direction=Direction.IN, moment=now, plate="鄂A30001"))
    assert outcome.decision.value == "refuse"
    assert "blacklisted" in outcome.reasons
    # The refused pass is recorded in the ledger with its reason.
    plant = await make_plant(tenant.tenant_id)
    await plant.passes(("鄂A30001", now, "in", {"decision": "refuse", "reasons": outcome.reasons}))
    refused = (await client.get("/api/v1/passes", params={"decision": "refuse"}, headers=headers)).json()
    assert [p["plate"] for p in refused["items"]] == ["鄂A30001"]
    assert "blacklisted" in refused["items"][0]["reason_codes"]
    # Revocation lifts it.
    entry = (await client.get("/api/v1/compliance/blacklist", headers=headers)).json()["items"][0]
    revoked = await client.post(
        f"/api/v1/compliance/blacklist/{entry['id']}/revoke", json={"reason": "已复检合格"}, headers=headers
    )
    assert revoked.json()["active"] is False


async def test_blacklist_cli(make_tenant, db_urls, monkeypatch, tmp_path, capsys) -> None:
    from cloud.cli import blacklist as cli  # noqa: PLC0415

    tenant = await make_tenant()
    monkeypatch.setenv("DATABASE_APP_URL", db_urls.app_url)
    monkeypatch.setenv("DATABASE_OWNER_URL", db_urls.owner_url)
    monkeypatch.setenv("DATABASE_REGULATOR_URL", db_urls.regulator_url)
    path = tmp_path / "list.csv"
    path.write_bytes(_csv([["车牌号码", "原因"], ["鄂A40001", "超标"], ["鄂A4", "坏"]]))
    code = await asyncio.to_thread(cli.main, ["import", str(path), "--tenant", str(tenant.tenant_id)])
    out = capsys.readouterr().out
    assert code == 1
    assert "第 2 行 鄂A40001：已导入" in out
    assert "第 3 行" in out
    assert "错误" in out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv([["车号"], ["鄂A40002"]]))
    assert await asyncio.to_thread(cli.main, ["import", str(bad), "--tenant", str(tenant.tenant_id)]) == 2
    assert "无法识别的列" in capsys.readouterr().err


# Vehicle ledger ----------------------------------------------------------------------------------


async def test_vehicle_import_per_row(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    rows = [
        ["台账类别", "车牌号码", "号牌颜色", "车辆识别代号", "排放阶段", "燃料类型", "注册登记日期", "核定载质量"],
        ["进出厂运输车辆", "鄂A50001", "黄", _vin(50), "国六", "柴油", dt.date(2022, 3, 1), 30000],  # 2 ok
        ["进出厂运输车辆", "鄂A50002", "黄", _bad_vin(51), "国六", "柴油", "", ""],  # 3 VIN
        ["进出厂运输车辆", "鄂A50003", "黄", _vin(52), "国九", "柴油", "", ""],  # 4 unknown stage
        ["进出厂运输车辆", "鄂A50004", "黄", _vin(50), "国五", "柴油", "", ""],  # 5 VIN duplicate of row 2
        ["进出厂运输车辆", "鄂A50005", "黄", _vin(53), "国五", "煤气", "", ""],  # 6 unknown fuel
        ["非道路移动机械", "", "", "", "国三", "柴油", "", ""],  # 7 missing env code + PIN
        ["卡车", "鄂A50007", "黄", _vin(54), "国五", "柴油", "", ""],  # 8 unknown category
        ["进出厂运输车辆", "鄂A50008", "黄", _vin(55), "国五", "柴油", "2022-13-01", "很多"],  # 9 bad date + number
        ["进出厂运输车辆", "鄂A50009", "黄", _vin(56), "国五", "柴油", "20210305", "20000"],  # 10 ok
    ]
    report = await _upload(client, "/api/v1/vehicles/import", headers, _xlsx(rows), "台账.xlsx")
    assert report.status_code == 200, report.text
    by_row = {r["row"]: r for r in report.json()["rows"]}
    assert [n for n, r in by_row.items() if r["status"] == "imported"] == [2, 10]
    codes = {n: {e["code"] for e in r["errors"]} for n, r in by_row.items()}
    assert codes[3] == {"vin.check_digit"}
    assert codes[4] == {"emission_stage.unknown"}
    assert codes[5] == {"vin.duplicate_row"}
    assert codes[6] == {"fuel_type.unknown"}
    assert {"env_reg_code.required", "pin.required"} <= codes[7]
    assert codes[8] == {"vehicle_category.unknown"}
    assert codes[9] == {"register_date.format", "rated_load_kg.format"}
    listed = (await client.get("/api/v1/vehicles", headers=headers)).json()
    assert sorted(v["current"]["plate"] for v in listed["items"]) == ["鄂A50001", "鄂A50009"]
    assert {v["current"]["review"] for v in listed["items"]} == {"pending"}
    # Against the ledger: the same plate again is a duplicate, per row.
    again = await _upload(client, "/api/v1/vehicles/import", headers, _csv([rows[0], rows[1]]), "again.csv")
    assert again.json()["rows"][0]["errors"][0]["code"] == "plate.duplicate"


async def test_vehicle_import_file_level_refusals(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    wrong = await _upload(
        client, "/api/v1/vehicles/import", headers, _csv([["车牌", "颜色", "阶段"], ["鄂A1", "黄", "国六"]]), "w.csv"
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "import_columns"
    twice = await _upload(
        client, "/api/v1/vehicles/import", headers, _csv([["车牌号码", "车牌", "排放阶段", "台账类别"]]), "t.csv"
    )
    assert twice.status_code == 422
    assert "column.duplicate" in {e["code"] for e in twice.json()["errors"]}
    empty = await _upload(client, "/api/v1/vehicles/import", headers, b"", "e.csv")
    assert empty.json()["code"] == "import_empty"
    rows = [
        ["环保登记编码", "机械环保代码", "排放阶段", "燃料类型"],
        ["EA7001", "PIN7001", "国三", "柴油"],
        ["EA7002", "PIN7002", "国五", "柴油"],  # NRMM has no 国五
    ]
    dry = await _upload(client, "/api/v1/vehicles/import", headers, _csv(rows), "n.csv", category="nrmm", dry_run=True)
    assert [r["status"] for r in dry.json()["rows"]] == ["valid", "error"]
    assert dry.json()["rows"][1]["errors"][0]["code"] == "emission_stage.nrmm"
    strict = await _upload(
        client, "/api/v1/vehicles/import", headers, _csv(rows), "n.csv", category="nrmm", all_or_nothing=True
    )
    assert [r["status"] for r in strict.json()["rows"]] == ["not_imported", "error"]
    assert (await client.get("/api/v1/vehicles", headers=headers)).json()["total"] == 0


# 随车清单 QR -------------------------------------------------------------------------------------

INFO_NO = "CNHJ G6 00 0000 123456 789012".replace(" ", "")


@pytest.mark.parametrize(
    "payload",
    [
        f"随车清单|信息公开编号:{INFO_NO}|VIN:{_vin(60)}|车辆型号:DFH4250C|发动机型号:DDi13|排放阶段:国六|燃料类型:柴油",
        json.dumps({"xxgkbh": INFO_NO, "clsbdh": _vin(60), "clxh": "DFH4250C", "fdjxh": "DDi13", "pfjd": "国Ⅵ"}),
        json.dumps({"data": {"vin": _vin(60), "model": "DFH4250C", "emission_stage": "6"}}, ensure_ascii=False),
        f"https://www.vecc.org.cn/check?xxgkbh={INFO_NO}&vin={_vin(60)}&clxh=DFH4250C",
        f"vin={_vin(60)}&clxh=DFH4250C&pfbz=国六b",
        f"车辆识别代号：{_vin(60)}\n车辆型号：DFH4250C\n排放标准：国六",
        _vin(60),
    ],
)
def test_qr_shapes(payload: str) -> None:
    result = qr.parse_payload(payload)
    assert result.ok, (result.errors, payload)
    assert result.fields["vin"] == _vin(60)
    assert result.fields.get("emission_stage") == "6" or result.shape == "vin"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("", "qr.empty"),
        ('{"vin": ', "qr.malformed"),
        ("[1, 2]", "qr.unrecognised"),
        ("hello world", "qr.unrecognised"),
        ("\x00\x01binary", "qr.binary"),
        (f"VIN:{_bad_vin(60)}|排放阶段:国六", "vin.check_digit"),
        (f"VIN:{_vin(60)}|排放阶段:国十", "emission_stage.unknown"),
        (f"信息公开编号:{INFO_NO}|排放阶段:国五", "emission_stage.mismatch"),
        ("信息公开编号:CN123", "info_number.length"),
        (f"VIN:{_vin(60)}|总质量:很重", "total_mass_kg.invalid"),
        ("x" * 5000, "qr.too_long"),
    ],
)
def test_qr_malformed(payload: str, code: str) -> None:
    result = qr.parse_payload(payload)
    assert not result.ok
    assert code in {e.code for e in result.errors}, result.errors


def test_qr_json_array_is_refused_with_reason() -> None:
    result = qr.parse_payload("[1, 2]")
    assert result.errors[0].message


async def test_qr_image_and_apply(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    payload = f"随车清单|信息公开编号:{INFO_NO}|VIN:{_vin(61)}|车辆型号:DFH4250C|排放阶段:国六"
    image = io.BytesIO()
    segno.make(payload, encoding="utf-8", micro=False).save(image, kind="png", scale=6, border=4)
    read = await client.post(
        "/api/v1/vehicles/qr", files={"image": ("qr.png", image.getvalue(), "image/png")}, headers=headers
    )
    assert read.status_code == 200, read.text
    assert read.json()["fields"]["vin"] == _vin(61)
    blank = await client.post(
        "/api/v1/vehicles/qr", files={"image": ("x.png", _png_blank(), "image/png")}, headers=headers
    )
    assert blank.status_code == 422
    assert blank.json()["code"] == "qr_not_found"
    created = await client.post(
        "/api/v1/vehicles",
        json={
            "category": "transport",
            "plate": "鄂A60001",
            "plate_colour": "黄",
            "vin": _vin(61),
            "emission_stage": "国五",
            "fuel_type": "柴油",
        },
        headers=headers,
    )
    vid = created.json()["id"]
    applied = await client.post(f"/api/v1/vehicles/{vid}/qr", json={"payload": payload}, headers=headers)
    assert applied.status_code == 200, applied.text
    assert applied.json()["review"] == "pending"
    detail = (await client.get(f"/api/v1/vehicles/{vid}", headers=headers)).json()
    assert (detail["current"]["emission_stage"], detail["current"]["brand_model"]) == ("6", "DFH4250C")
    bad = await client.post(f"/api/v1/vehicles/{vid}/qr", json={"payload": "hello"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "qr_invalid"


def _png_blank() -> bytes:
    from PIL import Image  # noqa: PLC0415

    out = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(out, format="PNG")
    return out.getvalue()
