"""Regulator pages: region overview, read-only drill-down into a ledger, chain check (issue 9 / issue 8 §6).

Real PostgreSQL with the regulator role's region-prefix RLS, the real app in-process over ASGI. A
武汉市 (4201) regulator sees its enterprises and none of 宜昌市 (4205); an enterprise outside the
region answers 404 like an unknown one; signed-out visitors and enterprise accounts are sent to the
sign-in page.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_portal_staff_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-staff")]


async def staff_login(client: Any, login: str, password: str = PASSWORD, next_path: str = "") -> Any:
    """Sign in through the form, like a person; the session cookie stays in the client."""
    return await client.post(
        "/staff/login", data={"login": login, "password": password, "next": next_path}, follow_redirects=False
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


async def test_regulator_sees_region_and_drills_down_read_only(
    client: Any, make_tenant: Any, make_staff: Any, seed_passes: Any
) -> None:
    """Overview lists 武汉 enterprises only; drill-down shows the ledger with filters; 宜昌 is 404."""
    wuhan = await make_tenant("420107", name=f"武汉监管测试钢铁{uuid.uuid4().hex[:4]}")
    yichang = await make_tenant("420502", name=f"宜昌监管测试水泥{uuid.uuid4().hex[:4]}")
    now = _now()
    ledger_handle = await seed_passes(
        wuhan.tenant_id,
        [
            {"plate": "鄂A12345", "occurred_at": now, "decision": "allow", "weight_kg": 49000},
            {"plate": "鄂A54321", "occurred_at": now + dt.timedelta(seconds=5), "decision": "refuse"},
            {"plate": "鄂A77777", "occurred_at": now + dt.timedelta(seconds=9), "decision": "allow"},
        ],
    )
    yichang_handle = await seed_passes(yichang.tenant_id, [{"plate": "鄂E88888", "occurred_at": now}])
    regulator = await make_staff("regulator", "4201")

    response = await staff_login(client, regulator)
    assert response.status_code == 303
    assert response.headers["location"] == "/regulator"

    overview = await client.get("/regulator")
    assert overview.status_code == 200
    html = overview.text
    assert "辖区企业总览" in html
    assert "只读" in html
    assert wuhan.name in html
    assert yichang.name not in html
    row = re.search(rf'<tr data-tenant="{wuhan.tenant_id}">(.*?)</tr>', html, re.DOTALL)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)
    assert cells[4].strip() == "3"  # today's passes
    assert cells[5].strip() == "1"  # today's refusals

    ledger = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}")
    assert ledger.status_code == 200
    assert 'data-total="3"' in ledger.text
    for plate in ("鄂A12345", "鄂A54321", "鄂A77777"):
        assert plate in ledger.text
    assert "<form" in ledger.text
    assert 'method="post"' not in ledger.text  # nothing to change here

    refused = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}", params={"decision": "refuse"})
    assert 'data-total="1"' in refused.text
    assert "鄂A54321" in refused.text
    assert "鄂A12345" not in refused.text

    by_plate = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}", params={"plate": "a777"})
    assert 'data-total="1"' in by_plate.text

    bad_day = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}", params={"day": "28/11/2026"})
    assert bad_day.status_code == 200
    assert "日期格式应为" in bad_day.text

    other = await client.get(f"/regulator/enterprises/{yichang.tenant_id}")
    assert other.status_code == 404
    assert "不在您的监管范围内" in other.text
    assert "鄂E88888" not in other.text
    unknown = await client.get(f"/regulator/enterprises/{uuid.uuid4()}")
    assert unknown.status_code == 404

    detail = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}/passes/{ledger_handle.pass_ids[1]}")
    assert detail.status_code == 200
    assert "鄂A54321" in detail.text
    assert 'data-decision="refuse"' in detail.text
    assert "更正记录" in detail.text
    assert f"/passes/{ledger_handle.pass_ids[1]}" in ledger.text  # each row links to its record
    foreign = await client.get(f"/regulator/enterprises/{yichang.tenant_id}/passes/{yichang_handle.pass_ids[0]}")
    assert foreign.status_code == 404
    mixed = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}/passes/{yichang_handle.pass_ids[0]}")
    assert mixed.status_code == 404

    verify = await client.get(f"/regulator/enterprises/{wuhan.tenant_id}/verify")
    assert verify.status_code == 200
    assert "哈希链校验" in verify.text
    assert re.search(r'data-chain-ok="(true|false)"', verify.text)
    assert (await client.get(f"/regulator/enterprises/{yichang.tenant_id}/verify")).status_code == 404

    # the JSON API stays closed to regulator writes even with the page session cookie
    write = await client.post("/api/v1/sites", json={"name": "x", "address": ""})
    assert write.status_code in {403, 405}


async def test_regulator_chain_check_reports_intact_ledger(client: Any, make_tenant: Any, make_staff: Any) -> None:
    """An enterprise with an empty ledger verifies as intact."""
    tenant = await make_tenant("420103")
    regulator = await make_staff("regulator", "42")
    await staff_login(client, regulator)
    verify = await client.get(f"/regulator/enterprises/{tenant.tenant_id}/verify")
    assert verify.status_code == 200
    assert 'data-chain-ok="true"' in verify.text
    assert "校验通过" in verify.text


async def test_staff_pages_need_the_right_sign_in(client: Any, make_tenant: Any, make_staff: Any) -> None:
    """Signed out → sign-in page; wrong password → Chinese error; an enterprise account is refused."""
    response = await client.get("/regulator", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login?next=/regulator")

    form = await client.get("/staff/login")
    assert form.status_code == 200
    assert '<label for="login">' in form.text
    assert '<label for="password">' in form.text

    regulator = await make_staff("regulator", "4201")
    wrong = await staff_login(client, regulator, password="wrong-password-1")
    assert wrong.status_code == 401
    assert "账号或密码错误" in wrong.text

    tenant = await make_tenant("420102")
    refused = await staff_login(client, tenant.admin_login)
    assert refused.status_code == 401
    assert "仅供监管、平台管理和安装人员账号使用" in refused.text

    await staff_login(client, regulator)
    admin_page = await client.get("/admin", follow_redirects=False)
    assert admin_page.status_code == 303  # a regulator is not a platform admin
    assert "denied=1" in admin_page.headers["location"]

    out = await client.get("/staff/logout", follow_redirects=False)
    assert out.status_code == 303
    assert (await client.get("/regulator", follow_redirects=False)).status_code == 303


async def test_drill_down_shows_entries_that_should_have_been_refused(
    client: Any, make_tenant: Any, make_staff: Any, seed_passes: Any, database: Any
) -> None:
    """A 国四 heavy diesel truck let in during an orange alert is listed as 应拦未拦; a 国六 one is not."""
    from agent_protocol.events import VehicleSnapshot  # noqa: PLC0415
    from cloud.compliance import emergency  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    tenant = await make_tenant("420115", name=f"江夏应急测试{uuid.uuid4().hex[:4]}")
    handle = await seed_passes(tenant.tenant_id, [])
    actor = Principal(user_id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, login="test-platform")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await emergency.declare(
        database, actor, "420115", "orange", start, start + dt.timedelta(days=1), f"测试预警{uuid.uuid4().hex[:4]}"
    )
    scope = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="test-agent")
    async with database.session(scope) as session, session.begin():
        for seq, (plate, stage) in enumerate((("鄂A40404", "4"), ("鄂A60606", "6")), start=1):
            await handle.chain.record(
                session,
                plate,
                start + dt.timedelta(minutes=10 + seq),
                confidence=0.99,
                vehicle=VehicleSnapshot(category="transport", fuel="B", emission_stage=stage, heavy=True),
            )
    regulator = await make_staff("regulator", "4201")
    await staff_login(client, regulator)
    page = await client.get(f"/regulator/enterprises/{tenant.tenant_id}")
    assert page.status_code == 200
    assert 'data-missed="1"' in page.text
    section = page.text.split("应急管控执行", 1)[1].split("</section>", 1)[0]
    assert "鄂A40404" in section
    assert "鄂A60606" not in section


async def test_regulator_sees_the_late_weighing_of_a_pass(
    client: Any, make_tenant: Any, make_staff: Any, seed_passes: Any
) -> None:
    """Issue 15: weights arrive after the pass as ``weighing`` rows; the ledger and the record show them.

    The demo's regulator saw 称重 — on every weighed pass: the pages read the weight sealed in the event,
    which agents no longer write.
    """
    tenant = await make_tenant("420107", name=f"武汉称重测试钢铁{uuid.uuid4().hex[:4]}")
    handle = await seed_passes(
        tenant.tenant_id,
        [
            {"plate": "鄂AF8261", "occurred_at": _now(), "decision": "allow", "weight_kg": 15200},
            {"plate": "鄂A5K930", "occurred_at": _now() + dt.timedelta(seconds=6), "decision": "refuse"},
        ],
    )
    assert (await staff_login(client, await make_staff("regulator", "4201"))).status_code == 303
    ledger = await client.get(f"/regulator/enterprises/{tenant.tenant_id}")
    assert ledger.status_code == 200
    assert ledger.text.count("15,200 kg") == 1
    weighed = await client.get(f"/regulator/enterprises/{tenant.tenant_id}/passes/{handle.pass_ids[0]}")
    assert "毛重 15,200 kg" in weighed.text
    refused = await client.get(f"/regulator/enterprises/{tenant.tenant_id}/passes/{handle.pass_ids[1]}")
    assert "毛重" not in refused.text
