"""Pages for the tasks only the JSON API could do (issue 19 item 1): 厂区/出入口/道闸, 数据上传状态 with 补传, 操作日志.

Real PostgreSQL under RLS, the real app in-process over ASGI, data made through the product's write
paths (onboarding, the ledger's seeding helper, the JSON API for the platform settings). Bad input
shows the Chinese message next to the field and writes nothing; roles are declared on the routes.
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


_cloud = _load("_portal_tasks_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_seed_passes = _cloud.fx_seed_passes
fx_login_as = _cloud.fx_login_as
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-enterprise")]

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def _sign_in(client: Any, login: str) -> None:
    client.cookies.clear()
    response = await client.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text


async def _csrf(client: Any, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def _count(database: Database, tenant_id: uuid.UUID, model: Any) -> int:
    who = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="count")
    async with database.session(who) as session, session.begin():
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_new_tenant_sets_up_site_gate_and_lane(
    client: Any, make_tenant: Any, make_user: Any, database: Database
) -> None:
    """A new tenant has no site; it creates one, a gate and a lane on the page; errors sit next to the field;
    the enrollment-code form then offers the site; a guard gets the 403 page; the audit log shows each step."""
    tenant = await make_tenant("420107", name=f"厂区页测试{uuid.uuid4().hex[:4]}")
    await _sign_in(client, tenant.admin_login)
    page = await client.get("/portal/sites")
    assert page.status_code == 200
    assert 'id="no-sites"' in page.text
    assert '<a href="/portal/sites"' in page.text  # in the admin's menu
    token = await _csrf(client, "/portal/sites")

    bad = await client.post("/portal/sites/new", data={"csrf": token, "name": " ", "address": ""})
    assert bad.status_code == 422
    assert 'data-field-error="name"' in bad.text
    assert await _count(database, tenant.tenant_id, m.Site) == 0
    forged = await client.post("/portal/sites/new", data={"csrf": "x", "name": "一号厂区"})
    assert forged.status_code == 400
    assert await _count(database, tenant.tenant_id, m.Site) == 0

    site = {"csrf": token, "name": "一号厂区", "address": "青山区"}
    made = await client.post("/portal/sites/new", data=site, follow_redirects=False)
    assert made.status_code == 303
    site_id = (await _ids(database, tenant.tenant_id, m.Site))[0]
    gates = f"/portal/sites/{site_id}/gates"
    bad_gate = await client.post(gates, data={"csrf": token, "code": "东 门", "name": "东门"})
    assert bad_gate.status_code == 422
    assert "出入口编号为" in bad_gate.text
    gate = {"csrf": token, "code": "G1", "name": "东门"}
    assert (await client.post(gates, data=gate, follow_redirects=False)).status_code == 303
    dup = await client.post(gates, data={"csrf": token, "code": "G1", "name": "东门二"})
    assert dup.status_code == 409
    assert "该出入口编号已存在" in dup.text
    gate_id = (await _ids(database, tenant.tenant_id, m.Gate))[0]
    lane = {"csrf": token, "code": "L1", "name": "1号入口道闸", "direction": "in"}
    lanes = f"/portal/sites/gates/{gate_id}/lanes"
    assert (await client.post(lanes, data=lane, follow_redirects=False)).status_code == 303
    shown = await client.get("/portal/sites")
    assert "1号入口道闸（入场）" in shown.text
    assert "东门" in shown.text

    # The enrollment-code form now has the site (a new tenant was stuck at "请选择厂区").
    agents = await client.get("/portal/agents")
    assert f'value="{site_id}"' in agents.text

    # A site with gates cannot be deleted: the reason is shown, nothing deleted.
    refused = await client.post("/portal/sites/delete", data={"csrf": token, "kind": "site", "id": str(site_id)})
    assert refused.status_code == 409
    assert await _count(database, tenant.tenant_id, m.Site) == 1

    log = await client.get("/portal/audit")
    assert log.status_code == 200
    for label in ("新建厂区", "新增出入口", "新增道闸"):
        assert label in log.text
    assert "site.created" not in log.text
    only_sites = await client.get("/portal/audit", params={"family": "site."})
    assert "新建厂区" in only_sites.text
    assert "新增道闸" not in only_sites.text
    bad_day = await client.get("/portal/audit", params={"start": "28/11/2026"})
    assert 'data-field-error="start"' in bad_day.text

    guard = await make_user(tenant.tenant_id, Role.GUARD)
    await _sign_in(client, guard)
    denied = await client.get("/portal/sites")
    assert denied.status_code == 403
    assert "无权管理厂区" in denied.text
    assert (await client.get("/portal/audit")).status_code == 403
    assert (await client.get("/portal/uplink")).status_code == 403
    home = await client.get("/portal")
    assert "/portal/sites" not in home.text  # not in the guard's menu


async def _ids(database: Database, tenant_id: uuid.UUID, model: Any) -> list[uuid.UUID]:
    who = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="ids")
    async with database.session(who) as session, session.begin():
        return list(await session.scalars(select(model.id)))


async def test_upload_status_and_resend(
    client: Any, make_tenant: Any, seed_passes: Any, login_as: Any, database: Database
) -> None:
    """Without a platform the page says so and 补传 is refused; with one, the day's rate and 补传 of a period."""
    tenant = await make_tenant("420107", name=f"上传页测试{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC)
    await seed_passes(
        tenant.tenant_id, [{"plate": f"鄂A{i:05d}", "occurred_at": now - dt.timedelta(minutes=i + 1)} for i in range(3)]
    )
    await _sign_in(client, tenant.admin_login)
    page = await client.get("/portal/uplink")
    assert page.status_code == 200
    assert 'id="not-configured"' in page.text
    token = await _csrf(client, "/portal/uplink")
    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    period = {"csrf": token, "mode": "period", "start": day, "end": day, "reason": "监管平台要求补传"}
    assert (await client.post("/portal/uplink/resend", data=period)).status_code == 409

    admin = await login_as(tenant.admin_login)
    platform = {
        "base_url": "http://127.0.0.1:9/",
        "enterprise_code": "E001",
        "username": "u",
        "password": "p",
    }
    assert (await client.put("/api/v1/uplink/platform", json=platform, headers=admin)).status_code == 200
    await _sign_in(client, tenant.admin_login)
    shown = await client.get("/portal/uplink")
    assert 'id="rate"' in shown.text
    assert f'data-day="{day}"' in shown.text
    token = await _csrf(client, "/portal/uplink")
    missing = await client.post("/portal/uplink/resend", data={**period, "csrf": token, "reason": ""})
    assert missing.status_code == 422
    assert 'data-field-error="reason"' in missing.text
    none_ticked = await client.post("/portal/uplink/resend", data={"csrf": token, "mode": "records"})
    assert none_ticked.status_code == 422
    assert "请先勾选要补传的记录" in none_ticked.text
    done = await client.post("/portal/uplink/resend", data={**period, "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    assert "queued=" in done.headers["location"]
    log = await client.get("/portal/audit", params={"family": "uplink."})
    assert "补传" in log.text
