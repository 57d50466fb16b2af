"""Platform-admin pages: fleet health across tenants, onboarding a tenant, declaring a regional alert (issue 9).

Real PostgreSQL and the real app in-process. Bad input answers on the form with a Chinese message
next to the field and saves nothing; a form without the session's token is refused.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import importlib.util
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud.db import models as m
from cloud.db.engine import Database
from tenants.context import Principal, Role

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_portal_admin_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_staff = _cloud.fx_make_staff
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-staff")]

VALID_USCC = "91420100177570439R"  # the demo plant's code (valid check character)


async def _admin(client: Any, make_staff: Any) -> str:
    login: str = await make_staff("platform_admin")
    response = await client.post(
        "/staff/login", data={"login": login, "password": PASSWORD, "next": "/admin"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    return login


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


def _field_error(page: str, field: str) -> str | None:
    found = re.search(rf'data-field="{field}">(.*?)</div>', page)
    return html_lib.unescape(found.group(1)) if found else None


async def _tenant_count(database: Database) -> int:
    scope = Principal(user_id=uuid.uuid4(), role=Role.REGULATOR, region_code="42", login="count")
    async with database.session(scope) as session, session.begin():
        return int(await session.scalar(select(func.count()).select_from(m.Tenant)) or 0)


async def test_fleet_health_lists_every_tenant_and_agent(
    client: Any, make_tenant: Any, make_staff: Any, seed_passes: Any
) -> None:
    """Tenants of two provinces and their agents appear on one page; a silent agent is offline."""
    wuhan = await make_tenant("420107", name=f"武汉运营测试{uuid.uuid4().hex[:4]}")
    hebei = await make_tenant("130102", name=f"石家庄运营测试{uuid.uuid4().hex[:4]}")
    await seed_passes(wuhan.tenant_id, [{"plate": "鄂A12345", "occurred_at": dt.datetime.now(dt.UTC)}])
    await _admin(client, make_staff)
    page = await client.get("/admin")
    assert page.status_code == 200
    assert "运营总览" in page.text
    assert wuhan.name in page.text
    assert hebei.name in page.text
    agent_row = re.search(r'<tr data-agent="agent-1">(.*?)</tr>', page.text, re.DOTALL)
    assert agent_row is not None
    assert "离线" in agent_row.group(1)  # never seen


async def test_onboarding_bad_input_saves_nothing_then_good_input_creates_tenant_and_admin(
    client: Any, make_staff: Any, database: Database
) -> None:
    """Every bad field is named in Chinese next to it; a valid form creates the tenant and its first admin."""
    operator = await _admin(client, make_staff)
    form_page = await client.get("/admin/tenants/new")
    assert form_page.status_code == 200
    for field_id in (
        "t-name",
        "t-uscc",
        "t-region",
        "t-industry",
        "t-grade",
        "t-plan",
        "t-admin-login",
        "t-admin-name",
    ):
        assert f'<label for="{field_id}">' in form_page.text
    token = _csrf(form_page.text)
    before = await _tenant_count(database)

    bad = await client.post(
        "/admin/tenants/new",
        data={
            "csrf": token,
            "name": "",
            "uscc": "91420100177570439X",
            "region_code": "999999",
            "industry": "bakery",
            "grade": "Z",
            "plan": "standard",
            "admin_login": "A",
            "admin_name": "王工",
        },
    )
    assert bad.status_code == 422
    assert "未保存任何数据" in bad.text
    assert _field_error(bad.text, "name") == "请填写企业名称"
    for field in ("uscc", "region_code", "industry", "grade", "admin_login"):
        assert _field_error(bad.text, field), field
    assert _field_error(bad.text, "admin_name") is None
    assert await _tenant_count(database) == before

    stale = await client.post("/admin/tenants/new", data={"csrf": "0" * 40, "name": "x"})
    assert stale.status_code == 403
    assert await _tenant_count(database) == before

    login = f"hb-{uuid.uuid4().hex[:6]}"
    good = await client.post(
        "/admin/tenants/new",
        data={
            "csrf": token,
            "name": "湖北示范水泥有限公司",
            "uscc": VALID_USCC,
            "region_code": "420107",
            "industry": "cement",
            "grade": "B-",
            "plan": "professional",
            "key_vehicle_unit": "on",
            "admin_login": login,
            "admin_name": "王工",
        },
    )
    assert good.status_code == 200, good.text
    assert "开户完成" in good.text
    password = re.search(r"<code data-password>([^<]+)</code>", good.text)
    assert password is not None
    assert await _tenant_count(database) == before + 1

    # the first administrator can sign in to the enterprise API with the one-time password
    api = await client.post(
        "/api/v1/auth/login", json={"login": login, "password": html_lib.unescape(password.group(1))}
    )
    assert api.status_code == 200, api.text
    assert api.json()["me"]["role"] == "tenant_admin"
    client.cookies.clear()  # the API login replaced the session cookie: sign the operator in again
    await client.post("/staff/login", data={"login": operator, "password": PASSWORD, "next": "/admin"})

    again = await client.post(
        "/admin/tenants/new",
        data={
            "csrf": _csrf((await client.get("/admin/tenants/new")).text),
            "name": "重复开户",
            "uscc": VALID_USCC,
            "region_code": "420107",
            "industry": "cement",
            "grade": "B",
            "plan": "standard",
            "admin_login": f"hb-{uuid.uuid4().hex[:6]}",
            "admin_name": "李工",
        },
    )
    assert again.status_code == 409
    assert _field_error(again.text, "uscc") == "该统一社会信用代码已开户"
    assert await _tenant_count(database) == before + 1


async def test_declare_regional_alert(client: Any, make_tenant: Any, make_staff: Any) -> None:
    """Bad window and region are refused on the form; a valid alert is declared and listed."""
    await make_tenant("420111")
    await _admin(client, make_staff)
    page = await client.get("/admin/alerts/new")
    assert page.status_code == 200
    token = _csrf(page.text)
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    bad = await client.post(
        "/admin/alerts/new",
        data={
            "csrf": token,
            "region_code": "9999",
            "level": "orange",
            "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "",
        },
    )
    assert bad.status_code == 422
    assert "未发布任何预警" in bad.text
    assert _field_error(bad.text, "region_code")
    assert _field_error(bad.text, "reason")

    missing_time = await client.post(
        "/admin/alerts/new",
        data={"csrf": token, "region_code": "4201", "level": "purple", "starts_at": "", "ends_at": ""},
    )
    assert missing_time.status_code == 422
    assert _field_error(missing_time.text, "level")
    assert _field_error(missing_time.text, "starts_at")

    reason = f"鄂环应急〔2026〕{uuid.uuid4().hex[:4]}号"
    good = await client.post(
        "/admin/alerts/new",
        data={
            "csrf": token,
            # One district only: an alert for all of 4201 would be in force for every Wuhan tenant of the
            # other tests sharing this database (they expect no alert).
            "region_code": "420111",
            "level": "orange",
            "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "reason": reason,
        },
        follow_redirects=False,
    )
    assert good.status_code == 303, good.text
    home = await client.get(good.headers["location"])
    assert "已发布预警" in home.text
    assert reason in home.text
