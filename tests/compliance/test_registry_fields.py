"""Issue 15: the register holds what platform families ask for — 号牌种类 and 车辆所有人地址 — by API and import.

Codes or Chinese names are accepted (the code is stored, the label shown); a bad 号牌种类 is a field error
in Chinese; the import takes the Chinese column headers like every other field.
"""

from __future__ import annotations

from typing import Any

import pytest

from hj1321.identifiers import vin_check_digit

pytestmark = pytest.mark.anyio


def _vin(serial: int) -> str:
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


def _csv(rows: list[list[Any]]) -> bytes:
    return "\n".join(",".join(str(c) for c in row) for row in rows).encode("utf-8-sig")


async def test_plate_type_and_owner_address_by_api_and_import(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    body = {
        "category": "transport",
        "plate": "鄂A60001",
        "plate_colour": "yellow",
        "plate_type": "大型汽车",
        "vin": _vin(60),
        "emission_stage": "6",
        "fuel_type": "B",
        "owner_address": "湖北省武汉市江岸区解放大道1号",
    }
    created = await client.post("/api/v1/vehicles", json=body, headers=headers)
    assert created.status_code in {200, 201}, created.text
    current = created.json()["current"]
    assert current["plate_type"] == "01"
    assert current["labels"]["plate_type"] == "大型汽车"
    assert current["owner_address"] == "湖北省武汉市江岸区解放大道1号"

    bad = await client.post(
        "/api/v1/vehicles", json={**body, "plate": "鄂A60002", "vin": _vin(61), "plate_type": "火箭"}, headers=headers
    )
    assert bad.status_code == 422
    errors = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert "plate_type" in errors
    assert "号牌种类" in errors["plate_type"]

    rows = [
        ["台账类别", "车牌号码", "号牌颜色", "号牌种类", "车辆识别代号", "排放阶段", "燃料类型", "车辆所有人地址"],
        ["进出厂运输车辆", "鄂A60003", "黄", "01", _vin(62), "国六", "柴油", "武汉市青山区"],
    ]
    report = await client.post(
        "/api/v1/vehicles/import",
        headers=headers,
        files={"file": ("台账.csv", _csv(rows), "application/octet-stream")},
    )
    assert report.status_code == 200, report.text
    assert [r["status"] for r in report.json()["rows"]] == ["imported"]
    listed = (await client.get("/api/v1/vehicles", params={"plate": "鄂A60003"}, headers=headers)).json()
    assert listed["items"][0]["current"]["plate_type"] == "01"
    assert listed["items"][0]["current"]["owner_address"] == "武汉市青山区"
