"""Enterprise vehicle pages (issue 9): ledger tabs, create/correct with history, documents, Excel/QR import,
approval queue and inventory — real PostgreSQL under RLS, the real app in-process over ASGI.

Bad input re-renders the form with the Chinese message next to the field and writes nothing (the
ledger's row count is read before and after through the JSON API in the same session).
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from hj1321.identifiers import vin_check_digit
from tenants.context import Role

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_portal_vehicles_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-enterprise")]


def vin(serial: int) -> str:
    """A VIN with a valid check digit."""
    raw = f"LGB5BLSX0A{serial:07d}"
    return raw[:8] + vin_check_digit(raw) + raw[9:]


def xlsx(rows: list[list[Any]]) -> bytes:
    """An Excel file with the ledger's Chinese column names."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["台账类别", "车牌号码", "号牌颜色", "车辆识别代号", "排放阶段", "燃料类型"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _sign_in(client: Any, login: str) -> str:
    await client.get("/logout")
    response = await client.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303
    page = await client.get("/portal/vehicles")
    found = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/portal/vehicles/import")).text)
    assert page.status_code == 200
    return found.group(1) if found else ""


async def _count(client: Any) -> int:
    response = await client.get("/api/v1/vehicles", params={"limit": 1})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def test_create_correct_upload_and_approve(client: Any, make_tenant: Any, make_user: Any) -> None:
    """A manager creates a vehicle (field errors first, nothing written), corrects it with a reason, uploads a
    photo; an admin approves it from the queue; a guard reads but gets the Chinese 403 page for writes."""
    tenant = await make_tenant("420107", name=f"车辆页面测试{uuid.uuid4().hex[:4]}")
    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    csrf = await _sign_in(client, manager)
    tabs = await client.get("/portal/vehicles")
    for label in ("进出厂运输车辆", "厂内运输车辆", "非道路移动机械"):
        assert label in tabs.text
    form = await client.get("/portal/vehicles/new", params={"category": "transport"})
    assert '<label for="f-plate">' in form.text

    before = await _count(client)
    bad = await client.post(
        "/portal/vehicles/new",
        data={
            "csrf": csrf,
            "category": "transport",
            "plate": "鄂I1234",
            "vin": "123",
            "reason": "",
            "register_date": "2020/01/01",
        },
    )
    assert bad.status_code == 422
    for field in ("plate", "reason", "register_date"):
        assert f'data-field-error="{field}"' in bad.text
    assert 'value="鄂I1234"' in bad.text
    assert await _count(client) == before
    forged = await client.post("/portal/vehicles/new", data={"csrf": "x", "category": "transport", "reason": "x"})
    assert forged.status_code == 400

    good = await client.post(
        "/portal/vehicles/new",
        data={
            "csrf": csrf,
            "category": "transport",
            "plate": "鄂A7V001",
            "plate_colour": "黄色",
            "vin": vin(1),
            "emission_stage": "国六",
            "fuel_type": "柴油",
            "reason": "新购车辆登记",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303, good.text
    url = good.headers["location"].split("?")[0]
    detail = await client.get(good.headers["location"])
    assert "车辆已新增" in detail.text
    assert "新购车辆登记" in detail.text
    assert 'data-review="pending"' in detail.text
    assert await _count(client) == before + 1

    no_reason = await client.post(f"{url}/corrections", data={"csrf": csrf, "brand_model": "DFH4250", "reason": ""})
    assert no_reason.status_code == 422
    assert 'data-field-error="reason"' in no_reason.text
    fixed = await client.post(
        f"{url}/corrections",
        data={"csrf": csrf, "brand_model": "DFH4250", "reason": "核对行驶证补充型号"},
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    history = await client.get(url)
    assert "核对行驶证补充型号" in history.text
    assert 'data-version="2"' in history.text
    assert manager in history.text

    png = (ROOT / "docs" / "screenshots" / "enterprise-home.png").read_bytes()
    no_kind = await client.post(f"{url}/documents", data={"csrf": csrf}, files={"file": ("x.png", png, "image/png")})
    assert 'data-field-error="kind"' in no_kind.text
    uploaded = await client.post(
        f"{url}/documents",
        data={"csrf": csrf, "kind": "driving_license"},
        files={"file": ("license.png", png, "image/png")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text
    assert "行驶证 · " in (await client.get(url)).text

    own = await client.get("/portal/vehicles/reviews")
    assert "本人录入，须由他人审核" in own.text
    admin_csrf = await _sign_in(client, tenant.admin_login)
    vehicle_id = url.rsplit("/", 1)[1]
    reject_blank = await client.post(
        f"/portal/vehicles/{vehicle_id}/reviews", data={"csrf": admin_csrf, "version": "2", "decision": "rejected"}
    )
    assert reject_blank.status_code == 422
    assert "驳回必须填写原因" in reject_blank.text
    approved = await client.post(
        f"/portal/vehicles/{vehicle_id}/reviews",
        data={"csrf": admin_csrf, "version": "2", "decision": "verified", "reason": "证件齐全"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    queue = await client.get(approved.headers["location"])
    assert "审核结论已保存" in queue.text
    assert vehicle_id not in queue.text
    verified = await client.get("/portal/vehicles", params={"status": "verified"})
    assert "鄂A7V001" in verified.text
    pending = await client.get("/portal/vehicles", params={"status": "pending"})
    assert "鄂A7V001" not in pending.text

    bad_qr = await client.post(
        f"{url}/qr", data={"csrf": admin_csrf, "payload": "", "reason": "扫码"}, files={"x": ("", b"")}
    )
    assert 'data-field-error="qr_payload"' in bad_qr.text
    payload = f"随车清单|VIN:{vin(1)}|车辆型号:DFH4250C|排放阶段:国六|燃料类型:柴油"
    scanned = await client.post(
        f"{url}/qr", data={"csrf": admin_csrf, "payload": payload, "reason": "随车清单扫码导入"}, follow_redirects=False
    )
    assert scanned.status_code == 303, scanned.text
    assert "DFH4250C" in (await client.get(url)).text
    no_why = await client.post(f"{url}/retire", data={"csrf": admin_csrf, "reason": ""})
    assert no_why.status_code == 422
    assert 'data-field-error="retire_reason"' in no_why.text
    retired = await client.post(
        f"{url}/retire", data={"csrf": admin_csrf, "reason": "车辆报废"}, follow_redirects=False
    )
    assert retired.status_code == 303
    gone = await client.get(retired.headers["location"])
    assert "车辆已注销" in gone.text
    assert "车辆报废" in gone.text
    assert "鄂A7V001" in (await client.get("/portal/vehicles", params={"status": "retired"})).text

    guard = await make_user(tenant.tenant_id, Role.GUARD)
    await _sign_in(client, guard)
    assert "鄂A7V001" in (await client.get("/portal/vehicles")).text
    refused = await client.get("/portal/vehicles/new")
    assert refused.status_code == 403
    assert "当前账号无权新增车辆" in refused.text
    denied = await client.post(f"/portal/vehicles/{vehicle_id}/reviews", data={"decision": "verified"})
    assert denied.status_code == 403

    other = await make_tenant("420107")
    await _sign_in(client, other.admin_login)
    assert (await client.get(url)).status_code == 404
    assert "鄂A7V001" not in (await client.get("/portal/vehicles")).text


async def test_excel_import_qr_and_inventory(client: Any, make_tenant: Any) -> None:
    """A bad row imports nothing and names row and field; a good file imports; QR text fills fields; inventory."""
    tenant = await make_tenant("420107")
    csrf = await _sign_in(client, tenant.admin_login)
    template = await client.get("/portal/vehicles/import/template.xlsx", params={"category": "nrmm"})
    assert template.status_code == 200
    header = next(openpyxl.load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True))
    assert "环保登记编码" in header

    before = await _count(client)
    bad = xlsx(
        [
            ["进出厂运输车辆", "鄂A8X001", "黄色", vin(11), "国六", "柴油"],
            ["进出厂运输车辆", "鄂A8X002", "黄色", vin(12), "国九", "柴油"],
        ]
    )
    files = {"file": ("车辆.xlsx", bad, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    result = await client.post("/portal/vehicles/import", data={"csrf": csrf}, files=files)
    assert result.status_code == 422
    assert "整个文件未导入" in result.text
    assert 'data-row="3" data-field="emission_stage"' in result.text
    assert await _count(client) == before

    good = xlsx(
        [
            ["进出厂运输车辆", "鄂A8X001", "黄色", vin(11), "国六", "柴油"],
            ["进出厂运输车辆", "鄂A8X002", "黄色", vin(12), "国五", "柴油"],
        ]
    )
    files = {"file": ("车辆.xlsx", good, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    done = await client.post("/portal/vehicles/import", data={"csrf": csrf}, files=files)
    assert done.status_code == 200, done.text
    assert "已导入 2 辆车" in done.text
    assert await _count(client) == before + 2
    none = await client.post("/portal/vehicles/import", data={"csrf": csrf})
    assert 'data-field-error="file"' in none.text

    payload = f"随车清单|VIN:{vin(60)}|车辆型号:DFH4250C|排放阶段:国六|燃料类型:柴油"
    read = await client.post("/portal/vehicles/qr", data={"csrf": csrf, "payload": payload}, files={"x": ("", b"")})
    assert read.status_code == 200, read.text
    assert vin(60) in read.text
    assert "用这些内容新建车辆" in read.text
    empty = await client.post("/portal/vehicles/qr", data={"csrf": csrf}, files={"x": ("", b"")})
    assert 'data-field-error="image"' in empty.text

    blank = await client.post("/portal/vehicles/inventories", data={"csrf": csrf, "title": "", "scope": "all"})
    assert blank.status_code == 422
    assert 'data-field-error="title"' in blank.text
    made = await client.post(
        "/portal/vehicles/inventories",
        data={"csrf": csrf, "title": "十一月盘点", "scope": "all"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    sheet = await client.get(made.headers["location"])
    assert "盘点单已创建" in sheet.text
    assert "十一月盘点" in (await client.get("/portal/vehicles/inventories")).text
    sheet_url = made.headers["location"].split("?")[0]
    nothing = await client.post(f"{sheet_url}/counts", data={"csrf": csrf})
    assert nothing.status_code == 422
    assert "请至少选择一项盘点结果" in nothing.text
    counted = await client.post(
        f"{sheet_url}/counts",
        data={"csrf": csrf, "extra_identifier": "CN-X1", "extra_note": "东门停车场"},
        follow_redirects=False,
    )
    assert counted.status_code == 303
    open_sheet = await client.get(sheet_url)
    assert '<div class="num refuse" id="unregistered-count">1</div>' in open_sheet.text
    unfinished = await client.post(f"{sheet_url}/close", data={"csrf": csrf})
    assert unfinished.status_code == 422
    assert 'data-field-error="line:CNX1"' in unfinished.text or 'data-field-error="line:CN-X1"' in unfinished.text
    closed = await client.post(
        f"{sheet_url}/close", data={"csrf": csrf, "follow:CN-X1": "补录台账"}, follow_redirects=False
    )
    assert closed.status_code == 303, closed.text
    assert "已关闭" in (await client.get(sheet_url)).text
