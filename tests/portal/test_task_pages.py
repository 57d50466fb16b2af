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
fx_make_staff = _cloud.fx_make_staff
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


async def test_blacklist_import_with_row_report(client: Any, make_tenant: Any, make_user: Any) -> None:
    """Add one plate; import a list with a good row, a bad plate and a repeat: the report says each row's fate;
    "只检查" writes nothing; revocation needs a reason; a guard reads the list but cannot change it."""
    tenant = await make_tenant("420107", name=f"黑名单页测试{uuid.uuid4().hex[:4]}")
    await _sign_in(client, tenant.admin_login)
    token = await _csrf(client, "/portal/blacklist")
    bad = await client.post("/portal/blacklist", data={"csrf": token, "plate": "ABC"})
    assert bad.status_code == 422
    assert 'data-field-error="plate"' in bad.text
    added = await client.post(
        "/portal/blacklist", data={"csrf": token, "plate": "鄂A12345", "reason": "尾气超标"}, follow_redirects=False
    )
    assert added.status_code == 303
    csv_text = "车牌号码,号牌颜色,原因\n鄂A12345,黄色,重复\n鄂B67890,黄色,检测超标\n不是车牌,黄色,错误\n"
    files = {"file": ("名单.csv", csv_text.encode("utf-8"), "text/csv")}
    checked = await client.post(
        "/portal/blacklist/import", data={"csrf": token, "source": "regulator", "dry_run": "1"}, files=files
    )
    assert checked.status_code == 200
    assert "只检查，未写入" in checked.text
    assert "鄂B67890" not in _list_part(checked.text)
    done = await client.post(
        "/portal/blacklist/import", data={"csrf": token, "source": "regulator", "list_name": "鄂环2026-12"}, files=files
    )
    assert done.status_code == 200
    report = done.text[done.text.index('id="import-report"') :]
    for row, outcome in ((2, "已在名单中，跳过"), (3, "已导入"), (4, "有错误，未导入")):
        assert re.search(rf'data-row="{row}"[^>]*>.*?{outcome}', report, re.DOTALL), (row, outcome)
    assert "鄂B67890" in _list_part(done.text)
    entry = re.search(r'action="/portal/blacklist/([0-9a-f-]{36})/revoke"', done.text)
    assert entry is not None
    no_reason = await client.post(f"/portal/blacklist/{entry.group(1)}/revoke", data={"csrf": token, "reason": ""})
    assert no_reason.status_code == 422
    revoked = await client.post(
        f"/portal/blacklist/{entry.group(1)}/revoke", data={"csrf": token, "reason": "复检合格"}, follow_redirects=False
    )
    assert revoked.status_code == 303

    guard = await make_user(tenant.tenant_id, Role.GUARD)
    await _sign_in(client, guard)
    read = await client.get("/portal/blacklist")
    assert read.status_code == 200
    assert "鄂B67890" in read.text or "鄂A12345" in read.text
    assert 'action="/portal/blacklist/import"' not in read.text
    denied = await client.post("/portal/blacklist", data={"csrf": token, "plate": "鄂C11111"})
    assert denied.status_code == 403


def _list_part(html: str) -> str:
    return html[html.index('aria-label="黑名单"') :]


async def test_platform_admin_lifts_an_alert(
    client: Any, make_tenant: Any, make_staff: Any, database: Database
) -> None:
    """The alerts page lists an alert in force; lifting needs a reason; the enterprise's settings page then shows
    the response record's end."""
    from cloud.compliance import emergency  # noqa: PLC0415

    tenant = await make_tenant("420703", name=f"鄂州预警测试{uuid.uuid4().hex[:4]}")  # 鄂州市华容区: this test's own
    admin = await make_staff("platform_admin")
    actor = Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login="lift-test")
    now = dt.datetime.now(dt.UTC)
    outcome = await emergency.declare(
        database, actor, "420703", "red", now, now + dt.timedelta(hours=4), "红色预警测试"
    )
    client.cookies.clear()
    signed = await client.post("/staff/login", data={"login": admin, "password": PASSWORD}, follow_redirects=False)
    assert signed.status_code == 303
    page = await client.get("/admin/alerts")
    assert page.status_code == 200
    assert f'data-alert="{outcome.alert.id}"' in page.text
    assert "华容区" in page.text
    token = _CSRF.search(page.text)
    assert token is not None
    lift = f"/admin/alerts/{outcome.alert.id}/cancel"
    empty = await client.post(lift, data={"csrf": token.group(1), "reason": ""})
    assert empty.status_code == 422
    assert "必须填写解除原因" in empty.text
    lifted = await client.post(lift, data={"csrf": token.group(1), "reason": "空气质量好转"})
    assert lifted.status_code == 200
    assert "已解除预警" in lifted.text
    assert "已解除（" in lifted.text
    await _sign_in(client, tenant.admin_login)
    settings = await client.get("/portal/settings")
    assert "空气质量好转" in settings.text


async def test_carriers_ranked_with_shares(client: Any, make_tenant: Any, seed_passes: Any, database: Database) -> None:
    """Two carriers: the one with 国六 trucks ranks first (100 %), the 国四 one shows its refused share."""
    from agent_protocol.events import VehicleSnapshot  # noqa: PLC0415
    from cloud.domain import vehicles  # noqa: PLC0415

    tenant = await make_tenant("420107", name=f"车队页测试{uuid.uuid4().hex[:4]}")
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="fleet")
    made = {}
    fleets = (
        ("green", "鄂A61001", "国六", "绿通物流", "LZZ1CLVB8MA100001"),
        ("old", "鄂A41001", "国四", "老旧运输队", "LZZ1CLVBXMA100002"),
    )
    async with database.session(actor) as session, session.begin():
        for key, plate, stage, fleet, vin in fleets:
            data = {"plate": plate, "plate_colour": "黄色", "emission_stage": stage, "fuel_type": "柴油"}
            data |= {"fleet_name": fleet, "vin": vin}
            made[key] = (await vehicles.create_vehicle(session, actor, "transport", data)).vehicle.id
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    def trip(key: str, plate: str, stage: str, minutes: int, decision: str = "allow") -> dict[str, Any]:
        snap = VehicleSnapshot(
            category="transport", registry_id=str(made[key]), fuel="B", emission_stage=stage, heavy=True
        )
        at = now + dt.timedelta(minutes=minutes)
        return {"plate": plate, "occurred_at": at, "decision": decision, "vehicle": snap}

    await seed_passes(
        tenant.tenant_id,
        [
            trip("green", "鄂A61001", "6", 1),
            trip("green", "鄂A61001", "6", 2),
            trip("old", "鄂A41001", "4", 3),
            trip("old", "鄂A41001", "4", 4, "refuse"),
        ],
    )
    await _sign_in(client, tenant.admin_login)
    page = await client.get("/portal/carriers")
    assert page.status_code == 200, page.text
    first = re.search(r'data-carrier="1">(.*?)</tr>', page.text, re.DOTALL)
    second = re.search(r'data-carrier="2">(.*?)</tr>', page.text, re.DOTALL)
    assert first is not None
    assert second is not None
    assert "绿通物流" in first.group(1)
    assert "100.00%" in first.group(1)
    assert "老旧运输队" in second.group(1)
    assert "50.00%" in second.group(1)  # one of its two attempts refused
    assert (await client.get("/portal/carriers", params={"months": 12})).status_code == 200


async def test_daily_and_annual_reports(client: Any, make_tenant: Any, seed_passes: Any) -> None:
    """日报 (chart by hour), 月报 and 年报 (chart by month) of the same ledger; a bad day sits next to its field."""
    tenant = await make_tenant("420107", name=f"日报年报测试{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    await seed_passes(
        tenant.tenant_id,
        [
            {"plate": "鄂A70001", "occurred_at": now, "decision": "allow"},
            {"plate": "鄂A70002", "occurred_at": now + dt.timedelta(minutes=1), "decision": "refuse"},
        ],
    )
    await _sign_in(client, tenant.admin_login)
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    daily = await client.get(
        "/portal/reports", params={"kind": "day", "day": (now + dt.timedelta(hours=8)).date().isoformat()}
    )
    assert daily.status_code == 200
    assert "日报</h1>" in daily.text
    assert '"names": ["通行", "拦截"]' in daily.text
    assert 'id="total-passes">2<' in daily.text
    yearly = await client.get("/portal/reports", params={"kind": "year", "year": str(today.year)})
    assert yearly.status_code == 200
    assert f"{today.year}年年报</h1>" in yearly.text
    assert 'id="total-passes">2<' in yearly.text
    bad = await client.get("/portal/reports", params={"kind": "day", "day": "2026-02-30"})
    assert bad.status_code == 422
    assert 'id="period-error"' in bad.text


async def test_remote_release_with_reason_and_photo(
    client: Any, make_tenant: Any, make_user: Any, seed_passes: Any, database: Database
) -> None:
    """The agent page shows each lane's last refusal (with its photo when recorded); a release needs a reason,
    then issues the ``open_barrier`` command with who and why (audited); a viewer cannot send it."""
    tenant = await make_tenant("420107", name=f"远程放行测试{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ledger = await seed_passes(
        tenant.tenant_id,
        [{"plate": "鄂A44444", "occurred_at": now, "decision": "refuse", "reasons": ("emission_stage_below_minimum",)}],
    )
    await _sign_in(client, tenant.admin_login)
    path = f"/portal/agents/{ledger.agent_id}"
    page = await client.get(path)
    assert page.status_code == 200
    assert 'id="release"' in page.text
    assert "最近一次拦截" in page.text
    assert "鄂A44444" in page.text
    assert "车牌号码（可选）" in page.text
    token = await _csrf(client, path)
    release = f"{path}/lanes/{ledger.lane_in}/release"
    empty = await client.post(release, data={"csrf": token, "reason": ""})
    assert empty.status_code == 422
    assert "远程开闸必须填写原因" in empty.text
    assert await _count(database, tenant.tenant_id, m.AgentCommand) == 0
    bad_plate = await client.post(release, data={"csrf": token, "reason": "应急车辆", "plate": "不是车牌"})
    assert bad_plate.status_code == 422
    sent = await client.post(
        release, data={"csrf": token, "reason": "应急救援车辆", "confirm_plate": "1"}, follow_redirects=False
    )
    assert sent.status_code == 303
    who = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="check")
    async with database.session(who) as session, session.begin():
        command = await session.scalar(select(m.AgentCommand).where(m.AgentCommand.name == "open_barrier"))
    assert command is not None
    assert command.args["reason"] == "应急救援车辆"
    assert command.args["operator"] == tenant.admin_login
    assert command.args["confirm_plate"] is True
    viewer = await make_user(tenant.tenant_id, Role.VIEWER)
    await _sign_in(client, viewer)
    assert (await client.post(release, data={"csrf": token, "reason": "x"})).status_code == 403


async def test_policy_rules_removed_reordered_added_restored(client: Any, make_tenant: Any) -> None:
    """The policy form removes a rule, moves another first, adds a copy for chosen levels, then restores the
    removed default; a bad position sits next to its field and saves nothing."""
    tenant = await make_tenant("420114", grade="C")
    await _sign_in(client, tenant.admin_login)
    form_page = await client.get("/portal/settings/policy")
    assert form_page.status_code == 200
    token = _CSRF.search(form_page.text)
    assert token is not None
    rules = re.findall(r'<tr data-rule="([a-z0-9_.-]+)">', form_page.text)
    assert len(rules) >= 4
    base: dict[str, str] = {"csrf": token.group(1), "unknown_vehicle": "refuse_prompt", "reason": "调整规则"}
    for position, rule in enumerate(rules, start=1):
        base[f"rule_{rule}_enabled"] = "1"
        base[f"rule_{rule}_action"] = "refuse"
        base[f"rule_{rule}_order"] = str(position)
    gone, last = rules[1], rules[-1]
    bad = await client.post("/portal/settings/policy", data={**base, f"rule_{last}_order": "第一"})
    assert bad.status_code == 422
    assert f'data-field-error="rule_{last}_order"' in bad.text
    saved = await client.post(
        "/portal/settings/policy",
        data={
            **base,
            f"rule_{gone}_remove": "1",
            f"rule_{last}_order": "1",
            f"rule_{rules[0]}_order": "2",
            "new_from": rules[0],
            "new_title": "本企业橙色预警加严规则",
            "new_level_orange": "1",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    after = await client.get("/portal/settings/policy")
    order = re.findall(r'<tr data-rule="([a-z0-9_.-]+)">', after.text)
    assert order[0] == last
    assert gone not in order
    assert "custom_1" in order
    assert "本企业橙色预警加严规则" in after.text
    assert f'<option value="{gone}"' in after.text  # offered for restoring
    token2 = _CSRF.search(after.text)
    assert token2 is not None
    again = {"csrf": token2.group(1), "unknown_vehicle": "refuse_prompt", "reason": "恢复默认规则", "restore": gone}
    for position, rule in enumerate(order, start=1):
        again |= {f"rule_{rule}_enabled": "1", f"rule_{rule}_action": "refuse", f"rule_{rule}_order": str(position)}
    restored = await client.post("/portal/settings/policy", data=again, follow_redirects=False)
    assert restored.status_code == 303, restored.text
    final = re.findall(r'<tr data-rule="([a-z0-9_.-]+)">', (await client.get("/portal/settings/policy")).text)
    assert final[-1] == gone


async def test_installer_granted_picks_an_enterprise_and_loses_it(
    client: Any, make_tenant: Any, make_staff: Any, login_as: Any
) -> None:
    """The platform admin creates an installer for one enterprise and grants a second (bad input next to the field,
    nothing written; each grant in the enterprise's audit log); the installer signs in at the staff entry, replaces
    its one-time password, switches enterprise; the JSON API's ``tenant_id`` picks either; a withdrawn grant ends
    its sessions and is no longer offered."""
    first = await make_tenant("420107", name=f"安装测试甲{uuid.uuid4().hex[:4]}")
    second = await make_tenant("420107", name=f"安装测试乙{uuid.uuid4().hex[:4]}")
    admin = await make_staff("platform_admin")
    login = f"inst-{uuid.uuid4().hex[:8]}"
    client.cookies.clear()
    signed = await client.post("/staff/login", data={"login": admin, "password": PASSWORD}, follow_redirects=False)
    assert signed.status_code == 303
    token = await _csrf(client, "/admin/installers")
    bad = await client.post("/admin/installers/new", data={"csrf": token, "login": "X", "name": "", "tenant_id": ""})
    assert bad.status_code == 422
    assert 'data-field="login"' in bad.text
    assert 'data-field="name"' in bad.text
    assert f'data-grant="{login}"' not in bad.text
    made = await client.post(
        "/admin/installers/new",
        data={"csrf": token, "login": login, "name": "李安装", "tenant_id": str(first.tenant_id)},
    )
    assert made.status_code == 200, made.text
    one_time = re.search(r"<code data-password>([^<]+)</code>", made.text)
    assert one_time is not None
    taken = await client.post(
        "/admin/installers/new", data={"csrf": token, "login": login, "name": "重名", "tenant_id": ""}
    )
    assert taken.status_code == 409
    assert "该登录名已被占用" in taken.text
    unknown = await client.post(
        "/admin/installers/grant", data={"csrf": token, "login": "nobody-" + login, "tenant_id": str(second.tenant_id)}
    )
    assert unknown.status_code == 422
    assert "没有这个安装人员账号" in unknown.text
    granted = await client.post(
        "/admin/installers/grant",
        data={"csrf": token, "login": login, "tenant_id": str(second.tenant_id)},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    again = await client.post(
        "/admin/installers/grant", data={"csrf": token, "login": login, "tenant_id": str(second.tenant_id)}
    )
    assert again.status_code == 409
    listing = await client.get("/admin/installers")
    assert listing.text.count(f'data-grant="{login}"') == 2

    # The installer: one-time password first, then the picker (two enterprises), then the chosen one.
    client.cookies.clear()
    staff = await client.post(
        "/staff/login", data={"login": login, "password": one_time.group(1)}, follow_redirects=False
    )
    assert staff.status_code == 303
    assert staff.headers["location"] == "/portal/account"
    account_token = await _csrf(client, "/portal/account")
    changed = await client.post(
        "/portal/account",
        data={
            "csrf": account_token,
            "old_password": one_time.group(1),
            "new_password": PASSWORD,
            "new_password2": PASSWORD,
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    client.cookies.clear()
    staff = await client.post("/staff/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    assert staff.headers["location"] == "/staff/tenants"
    picker = await client.get("/staff/tenants")
    assert first.name in picker.text
    assert second.name in picker.text
    pick_token = _CSRF.search(picker.text)
    assert pick_token is not None
    chosen = await client.post(
        "/staff/tenants", data={"csrf": pick_token.group(1), "tenant_id": str(second.tenant_id)}, follow_redirects=False
    )
    assert chosen.status_code == 303
    home = await client.get("/portal")
    assert second.name in home.text
    audit = await client.get("/portal/sites")
    assert audit.status_code == 200  # installers set up sites
    outsider = await make_tenant("420107", name=f"安装测试丙{uuid.uuid4().hex[:4]}")
    refused = await client.post(
        "/staff/tenants", data={"csrf": pick_token.group(1), "tenant_id": str(outsider.tenant_id)}
    )
    assert refused.status_code in {400, 403}
    # The JSON API: tenant_id at sign-in picks either enterprise.
    for tenant in (first, second):
        headers = await login_as(login, tenant_id=tenant.tenant_id)
        me = await client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["tenant_id"] == str(tenant.tenant_id)

    # Withdrawn: sessions end, the grant is gone from the picker.
    client.cookies.clear()
    signed = await client.post("/staff/login", data={"login": admin, "password": PASSWORD}, follow_redirects=False)
    listing = await client.get("/admin/installers")
    revoke = re.search(rf'action="(/admin/installers/[0-9a-f-]+/tenants/{second.tenant_id}/revoke)"', listing.text)
    assert revoke is not None
    found = _CSRF.search(listing.text)
    assert found is not None
    done = await client.post(revoke.group(1), data={"csrf": found.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    listing = await client.get("/admin/installers")
    assert listing.text.count(f'data-grant="{login}"') == 1
    client.cookies.clear()
    staff = await client.post("/staff/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    assert staff.headers["location"] == "/portal"  # one enterprise left: straight in
    picker = await client.get("/staff/tenants")
    assert second.name not in picker.text
    # The enterprise's own audit log names both steps in Chinese.
    await _sign_in(client, second.admin_login)
    log = await client.get("/portal/audit")
    assert "授权安装人员" in log.text
    assert "撤销安装人员授权" in log.text
