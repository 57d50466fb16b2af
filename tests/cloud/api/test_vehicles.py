"""The vehicle ledger: validation, versions, retirement, search, document photos and blobs."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from litestar.testing import AsyncTestClient

from cloud.app import create_app
from tenants.context import Role

pytestmark = pytest.mark.anyio

# Structurally whole files: the blob route serves only bytes that verify as their type (issue 17).
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 50 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
PDF = b"%PDF-1.7\n" + b"0" * 64 + b"\n%%EOF\n"
VEHICLE_TABLES = ("vehicle", "vehicle_version", "vehicle_document", "blob", "audit_log")


def transport(vin: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "category": "transport",
        "plate": "鄂A·12345",
        "plate_colour": "黄色",
        "vin": vin.lower(),
        "vehicle_type": "重型自卸货车",
        "register_date": "2021-05-06",
        "production_date": "2021-03-01",
        "brand_model": "东风牌DFH3250A",
        "engine_model": "DCI11-A",
        "engine_maker": "东风商用车有限公司",
        "engine_no": "E2021A0001",
        "fuel_type": "柴油",
        "emission_stage": "国六b",
        "use_nature": "F",
        "network_status": "connected",
        "env_list_no": "CN ZX G6 12 3456",
        "fleet_name": "武汉顺达运输有限公司",
        "owner_name": "武汉顺达运输有限公司",
        "total_mass_kg": 25000,
        "rated_load_kg": 14000,
    }
    body.update(overrides)
    return body


async def test_create_transport_vehicle_canonicalises_every_field(client, make_tenant, login_as, make_vin) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    vin = make_vin(1)
    response = await client.post("/api/v1/vehicles", json=transport(vin), headers=headers)
    assert response.status_code == 201, response.text
    vehicle = response.json()
    current = vehicle["current"]
    assert vehicle["category"] == "transport"
    assert (current["plate"], current["plate_colour"], current["vin"]) == ("鄂A12345", "yellow", vin)
    assert (current["vehicle_type"], current["fuel_type"], current["emission_stage"]) == ("H17", "B", "6")
    assert current["env_list_no"] == "CNZXG6123456"
    assert current["labels"]["emission_stage"] == "国六"
    assert current["labels"]["fuel_type"] == "柴油"
    assert current["labels"]["category"] == "进出厂运输车辆"
    assert current["version"] == 1
    assert current["status"] == "active"
    assert current["reason"] == "新建"
    assert vehicle["missing_documents"] == ["随车清单或行驶证"]
    log = (await client.get("/api/v1/audit-log?object_type=vehicle", headers=headers)).json()
    assert log["items"][0]["action"] == "vehicle.created"
    assert log["items"][0]["detail"]["identity"] == {"plate": "鄂A12345", "vin": vin}


async def test_in_plant_and_nrmm_categories(client, make_tenant, login_as, make_vin) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    in_plant = {
        "category": "in_plant",
        "internal_code": "厂内-007",
        "vin": make_vin(2),
        "emission_stage": "5",
        "fuel_type": "B",
        "owner_name": "本厂",
    }
    response = await client.post("/api/v1/vehicles", json=in_plant, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["current"]["internal_code"] == "厂内-007"
    nrmm = {
        "category": "nrmm",
        "env_reg_code": "42A0123456",
        "pin": "cat320gc-0001",
        "machine_kind": "铲车",
        "emission_stage": "国三",
        "fuel_type": "柴油",
        "production_date": "2019-07-01",
        "extra": {"tianjin_code": "TJ-0001"},
    }
    response = await client.post("/api/v1/vehicles", json=nrmm, headers=headers)
    assert response.status_code == 201, response.text
    machine = response.json()
    assert machine["current"]["machine_kind"] == "loader"
    assert machine["current"]["pin"] == "CAT320GC-0001"
    assert machine["current"]["extra"] == {"tianjin_code": "TJ-0001"}
    assert machine["missing_documents"] == ["发动机铭牌"]
    # A machine stage GB 20891 does not define is refused.
    response = await client.post(
        "/api/v1/vehicles", json={**nrmm, "env_reg_code": "42A0999", "emission_stage": "国五"}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "emission_stage", "code": "emission_stage.nrmm", "message": response.json()["errors"][0]["message"]}
    ]


async def test_invalid_vehicles_are_problems_and_write_nothing(
    client, make_tenant, login_as, make_vin, row_counts
) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    vin = make_vin(3)
    bad_vin = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    before = await row_counts(*VEHICLE_TABLES)
    cases: list[tuple[dict[str, object], int, dict[str, str]]] = [
        (transport(bad_vin), 422, {"vin": "vin.check_digit"}),
        ({**transport(vin), "vin": "LZZ5BLSX2A00000"}, 422, {"vin": "vin.length"}),
        (transport(vin, plate="鄂A1234"), 422, {"plate": "plate.grammar"}),
        (transport(vin, plate_colour="蓝色", plate="鄂AD12345"), 422, {"plate_colour": "plate_colour.mismatch"}),
        (transport(vin, fuel_type="Q9"), 422, {"fuel_type": "fuel_type.unknown"}),
        (transport(vin, emission_stage="国九"), 422, {"emission_stage": "emission_stage.unknown"}),
        (transport(vin, vehicle_type="H99"), 422, {"vehicle_type": "vehicle_type.unknown"}),
        (transport(vin, use_nature="营运"), 422, {"use_nature": "use_nature.unknown"}),
        (transport(vin, register_date="2099-01-01"), 422, {"register_date": "register_date.future"}),
        (transport(vin, rated_load_kg=30000), 422, {"rated_load_kg": "rated_load_kg.exceeds_total"}),
        (transport(vin, machine_kind="挖掘机"), 422, {"machine_kind": "machine_kind.not_applicable"}),
        (
            {"category": "transport", "plate": "鄂A12345"},
            422,
            {
                "plate_colour": "plate_colour.required",
                "vin": "vin.required",
                "emission_stage": "emission_stage.required",
                "fuel_type": "fuel_type.required",
            },
        ),
        (
            {"category": "in_plant", "vin": vin, "emission_stage": "5", "fuel_type": "B"},
            422,
            {"env_reg_code": "env_reg_code.required"},
        ),
        (transport(vin, category="truck"), 400, {"category": "invalid"}),
        (transport(vin, network_status="maybe"), 400, {"network_status": "invalid"}),
        (transport(vin, colour="yellow"), 400, {}),
        (transport(vin, brand_model="型" * 65), 400, {"brand_model": "invalid"}),
        (transport(vin, total_mass_kg=-1), 400, {"total_mass_kg": "invalid"}),
        (transport(vin, register_date="2021-13-01"), 400, {"register_date": "invalid"}),
        (transport(vin, extra={str(i): "x" for i in range(21)}), 400, {"extra": "invalid"}),
    ]
    for body, status, fields in cases:
        response = await client.post("/api/v1/vehicles", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == ("validation_failed" if status == 422 else "request_invalid")
        assert problem["errors"], problem
        got = {e["field"]: e["code"] for e in problem["errors"]}
        assert fields.items() <= got.items(), (body, got)
        assert all(e["message"] for e in problem["errors"])
    assert await row_counts(*VEHICLE_TABLES) == before


async def test_duplicate_identity_is_a_conflict(client, make_tenant, login_as, make_vin, row_counts) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    assert (await client.post("/api/v1/vehicles", json=transport(make_vin(4)), headers=headers)).status_code == 201
    before = await row_counts(*VEHICLE_TABLES)
    response = await client.post("/api/v1/vehicles", json=transport(make_vin(5)), headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "vehicle_duplicate"
    assert response.json()["errors"][0]["field"] == "plate"
    assert await row_counts(*VEHICLE_TABLES) == before
    # Another tenant may hold the same plate (its ledger is separate).
    other = await login_as((await make_tenant()).admin_login)
    assert (await client.post("/api/v1/vehicles", json=transport(make_vin(5)), headers=other)).status_code == 201


async def test_correct_and_retire_write_new_versions(client, make_tenant, login_as, make_vin, row_counts) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    created = (await client.post("/api/v1/vehicles", json=transport(make_vin(6)), headers=headers)).json()
    vid = created["id"]
    correction = {
        "reason": "行驶证复核：排放阶段登记错误",
        "changes": {"emission_stage": "国五", "fleet_name": "顺达物流"},
        "clear": ["network_status"],
    }
    response = await client.post(f"/api/v1/vehicles/{vid}/corrections", json=correction, headers=headers)
    assert response.status_code == 200, response.text
    corrected = response.json()
    assert corrected["current"]["version"] == 2
    assert corrected["current"]["emission_stage"] == "5"
    assert corrected["current"]["network_status"] is None
    assert corrected["current"]["reason"] == correction["reason"]
    assert corrected["current"]["id"] != created["current"]["id"]
    versions = corrected["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0] == created["current"]  # the first version is untouched
    log = (await client.get(f"/api/v1/audit-log?object_id={vid}", headers=headers)).json()
    assert log["items"][0]["action"] == "vehicle.corrected"
    assert log["items"][0]["detail"]["changes"]["emission_stage"] == {"from": "6", "to": "5"}

    before = await row_counts(*VEHICLE_TABLES)
    for body, status, code in (
        ({"reason": "无变化", "changes": {"emission_stage": "5"}}, 422, "no_change"),
        ({"reason": "错误", "changes": {"vin": "LZZ5BLSX1A0000006"}}, 422, "validation_failed"),
        ({"reason": "清空必填", "clear": ["vin"]}, 422, "validation_failed"),
        ({"reason": "", "changes": {"fleet_name": "x"}}, 400, "request_invalid"),
        ({"changes": {"fleet_name": "x"}}, 400, "request_invalid"),
        ({"reason": "x", "clear": ["colour"]}, 400, "request_invalid"),
        ({"reason": "x", "changes": {"category": "nrmm"}}, 400, "request_invalid"),
    ):
        response = await client.post(f"/api/v1/vehicles/{vid}/corrections", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
    assert await row_counts(*VEHICLE_TABLES) == before

    retired = await client.post(f"/api/v1/vehicles/{vid}/retire", json={"reason": "车辆报废"}, headers=headers)
    assert retired.status_code == 200
    assert retired.json()["current"]["status"] == "retired"
    assert retired.json()["current"]["version"] == 3
    assert retired.json()["current"]["emission_stage"] == "5"
    again = await client.post(f"/api/v1/vehicles/{vid}/retire", json={"reason": "再次"}, headers=headers)
    assert again.status_code == 409
    late = await client.post(f"/api/v1/vehicles/{vid}/corrections", json=correction, headers=headers)
    assert late.status_code == 409
    assert late.json()["code"] == "vehicle_retired"
    # The plate is free again once the old vehicle is retired.
    assert (await client.post("/api/v1/vehicles", json=transport(make_vin(7)), headers=headers)).status_code == 201


async def test_search_and_pagination(client, make_tenant, login_as, make_vin, make_user) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    plates = ["鄂A10001", "鄂A10002", "鄂B20003", "鄂AD12345"]
    stages = ["6", "5", "5", "D"]
    for i, (plate, stage) in enumerate(zip(plates, stages, strict=True)):
        colour = "green" if len(plate) == 8 else "yellow"
        body = transport(make_vin(10 + i), plate=plate, plate_colour=colour, emission_stage=stage)
        assert (await client.post("/api/v1/vehicles", json=body, headers=headers)).status_code == 201

    async def search(query: str) -> dict:
        response = await client.get(f"/api/v1/vehicles?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert (await search(""))["total"] == 4
    assert [v["current"]["plate"] for v in (await search("plate=a1000"))["items"]] == ["鄂A10002", "鄂A10001"]
    assert (await search("emission_stage=国五"))["total"] == 2
    assert (await search("emission_stage=D"))["items"][0]["current"]["plate"] == "鄂AD12345"
    assert (await search(f"vin={make_vin(12).lower()}"))["items"][0]["current"]["plate"] == "鄂B20003"
    assert (await search("category=nrmm"))["total"] == 0
    page = await search("limit=3&offset=3")
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (4, 1, 3, 3)
    assert (await search("status=retired"))["total"] == 0
    bad = await client.get("/api/v1/vehicles?emission_stage=国九", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "emission_stage"
    assert (await client.get("/api/v1/vehicles?category=bus", headers=headers)).status_code == 400
    assert (await client.get("/api/v1/vehicles?limit=0", headers=headers)).status_code == 400
    # Readers may search; they may not write.
    viewer = await login_as(await make_user(tenant.tenant_id, Role.VIEWER))
    assert (await client.get("/api/v1/vehicles", headers=viewer)).json()["total"] == 4
    refused = await client.post("/api/v1/vehicles", json=transport(make_vin(20)), headers=viewer)
    assert refused.status_code == 403


async def test_documents_and_blobs(client, make_tenant, login_as, make_vin, row_counts) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    start = await row_counts("blob", "vehicle_document")
    vid = (await client.post("/api/v1/vehicles", json=transport(make_vin(30)), headers=headers)).json()["id"]
    url = f"/api/v1/vehicles/{vid}/documents"
    response = await client.post(
        url, data={"kind": "driving_license"}, files={"file": ("xsz.png", PNG, "image/png")}, headers=headers
    )
    assert response.status_code == 201, response.text
    document = response.json()
    digest = hashlib.sha256(PNG).hexdigest()
    assert document["sha256"] == digest
    assert document["kind_label"] == "行驶证"
    again = await client.post(
        url, data={"kind": "env_list"}, files={"file": ("list.png", PNG, "image/png")}, headers=headers
    )
    assert again.status_code == 201
    pdf = await client.post(
        url, data={"kind": "other"}, files={"file": ("a.pdf", PDF, "application/pdf")}, headers=headers
    )
    assert pdf.status_code == 201
    counts = await row_counts("blob", "vehicle_document")
    added = {table: counts[table] - start[table] for table in counts}  # other tests of the worker add rows too
    assert added == {"blob": 2, "vehicle_document": 3}  # the same bytes are stored once
    detail = (await client.get(f"/api/v1/vehicles/{vid}", headers=headers)).json()
    assert [d["kind"] for d in detail["documents"]] == ["driving_license", "env_list", "other"]
    assert detail["missing_documents"] == []

    blob = await client.get(f"/api/v1/blobs/{digest}", headers=headers)
    assert blob.status_code == 200
    assert blob.content == PNG
    assert blob.headers["content-type"] == "image/png"

    before = await row_counts(*VEHICLE_TABLES)
    for files, kind, status, code in (
        ({"file": ("a.txt", b"hello", "text/plain")}, "other", 415, "unsupported_media_type"),
        ({"file": ("a.png", b"GIF89a....", "image/png")}, "other", 422, "validation_failed"),
        ({"file": ("a.png", b"", "image/png")}, "other", 422, "validation_failed"),
        ({"file": ("a.png", PNG, "image/png")}, "passport", 400, "request_invalid"),
    ):
        response = await client.post(url, data={"kind": kind}, files=files, headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
    missing = await client.post(url, data={"kind": "other"}, headers=headers)
    assert missing.status_code == 400
    assert await row_counts(*VEHICLE_TABLES) == before

    # Another tenant can neither read the blob nor attach to the vehicle, even knowing the digest.
    other = await login_as((await make_tenant()).admin_login)
    assert (await client.get(f"/api/v1/blobs/{digest}", headers=other)).status_code == 404
    assert (await client.get("/api/v1/blobs/not-a-digest", headers=headers)).status_code == 404
    response = await client.post(
        url, data={"kind": "other"}, files={"file": ("a.png", PNG, "image/png")}, headers=other
    )
    assert response.status_code == 404
    assert await row_counts(*VEHICLE_TABLES) == before


async def test_oversize_upload_is_refused(settings, make_tenant, login_as, make_vin, row_counts) -> None:
    small = dataclasses.replace(settings, blobs=dataclasses.replace(settings.blobs, max_bytes=1024))
    async with AsyncTestClient(app=create_app(small)) as client:
        login = (await make_tenant()).admin_login
        token = (await client.post("/api/v1/auth/login", json={"login": login, "password": "Passw0rd!2024"})).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        vid = (await client.post("/api/v1/vehicles", json=transport(make_vin(40)), headers=headers)).json()["id"]
        before = await row_counts(*VEHICLE_TABLES)
        big = PNG + b"\x00" * 2048
        response = await client.post(
            f"/api/v1/vehicles/{vid}/documents",
            data={"kind": "other"},
            files={"file": ("big.png", big, "image/png")},
            headers=headers,
        )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "file_too_large"
        assert response.json()["errors"][0]["field"] == "file"
        assert await row_counts(*VEHICLE_TABLES) == before
