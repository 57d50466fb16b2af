"""Enterprise administration pages (issue 9): users and roles, invitations, password reset, my password,
policy and emergency settings.

Real PostgreSQL under RLS, the real app in-process over ASGI. Role checks as in the JSON API (only
企业管理员 manages users; 企业管理员 and 环保管理员 edit the policy), CSRF tokens on every form, bad input
re-renders the form with the Chinese message next to the field and writes nothing (rows counted
before and after).
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.util
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud.db import models as m
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


_cloud = _load("_portal_ent_admin_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-enterprise")]


async def _sign_in(client: Any, login: str, password: str = PASSWORD) -> Any:
    await client.get("/logout")
    return await client.post("/login", data={"login": login, "password": password}, follow_redirects=False)


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


def _user_id(listing: str, login: str) -> str:
    row = listing[listing.index(f'<tr id="user-{login}"') :]
    found = re.search(r'action="/portal/users/([0-9a-f-]+)"', row)
    assert found is not None
    return found.group(1)


async def _count(database: Any, tenant_id: uuid.UUID, model: Any) -> int:
    scope = Principal(uuid.uuid4(), Role.TENANT_ADMIN, tenant_id, None, "test")
    async with database.session(scope) as session, session.begin():
        return int(
            await session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id)) or 0
        )


async def test_admin_invites_changes_role_disables_and_resets(
    client: Any, make_tenant: Any, make_user: Any, database: Any
) -> None:
    """Invite → one-time password shown once (no-store) → the user must change it at first sign-in;
    bad input and forged tokens save nothing; role change, disable and reset work; self-change refused."""
    tenant = await make_tenant("420107", name=f"用户页测试钢铁{uuid.uuid4().hex[:4]}")
    other = await make_tenant("420107", name=f"用户页他企{uuid.uuid4().hex[:4]}")
    assert (await _sign_in(client, tenant.admin_login)).status_code == 303
    page = await client.get("/portal/users")
    assert page.status_code == 200
    assert tenant.admin_login in page.text
    assert other.admin_login not in page.text
    assert '<label for="f-login">' in page.text
    token = _csrf(page.text)

    before = await _count(database, tenant.tenant_id, m.Membership)
    bad = await client.post(
        "/portal/users", data={"csrf": token, "login": "x", "display_name": "", "role": "installer"}
    )
    assert bad.status_code == 422
    assert 'data-field-error="login"' in bad.text
    assert 'data-field-error="display_name"' in bad.text
    assert 'data-field-error="role"' in bad.text
    forged = await client.post(
        "/portal/users", data={"csrf": "forged", "login": "zhang.san", "display_name": "张三", "role": "viewer"}
    )
    assert forged.status_code == 400
    taken = await client.post(
        "/portal/users",
        data={"csrf": token, "login": tenant.admin_login, "display_name": "重名", "role": "viewer"},
    )
    assert taken.status_code == 409
    assert 'data-field-error="login"' in taken.text
    assert "登录名已被使用" in taken.text
    assert await _count(database, tenant.tenant_id, m.Membership) == before

    login = f"zhang.{uuid.uuid4().hex[:6]}"
    invited = await client.post(
        "/portal/users", data={"csrf": token, "login": login, "display_name": "张三", "role": "viewer"}
    )
    assert invited.status_code == 200
    assert invited.headers["cache-control"] == "no-store"
    assert "只显示这一次" in invited.text
    found = re.search(r'id="temporary-password"[^>]*>([^<]+)<', invited.text)
    assert found is not None
    one_time = html.unescape(found.group(1))
    assert await _count(database, tenant.tenant_id, m.Membership) == before + 1
    listing = (await client.get("/portal/users")).text
    assert one_time not in listing  # shown once, never again
    assert "待首次登录改密" in listing
    uid = _user_id(listing, login)

    changed = await client.post(
        f"/portal/users/{uid}", data={"csrf": token, "action": "role", "role": "manager"}, follow_redirects=False
    )
    assert changed.status_code == 303
    shown = await client.get(changed.headers["location"])
    assert "已修改" in shown.text
    assert "环保管理员" in shown.text[shown.text.index(f'<tr id="user-{login}"') :]

    # the new user signs in with the one-time password and is sent to change it first
    first = await _sign_in(client, login, one_time)
    assert first.status_code == 303
    assert first.headers["location"] == "/portal/account"
    account = await client.get("/portal/account")
    assert 'id="must-change"' in account.text
    atoken = _csrf(account.text)
    mismatch = await client.post(
        "/portal/account",
        data={
            "csrf": atoken,
            "old_password": "wrong-one",
            "new_password": "Xx123456789",
            "new_password2": "Xx123456789",
        },
    )
    assert mismatch.status_code == 422
    assert 'data-field-error="old_password"' in mismatch.text
    short = await client.post(
        "/portal/account",
        data={"csrf": atoken, "old_password": one_time, "new_password": "abc", "new_password2": "abd"},
    )
    assert short.status_code == 422
    assert 'data-field-error="new_password2"' in short.text
    too_short = await client.post(
        "/portal/account",
        data={"csrf": atoken, "old_password": one_time, "new_password": "abc", "new_password2": "abc"},
    )
    assert 'data-field-error="new_password"' in too_short.text
    assert "至少 8 位" in too_short.text
    assert (await _sign_in(client, login, one_time)).status_code == 303  # still the old password: nothing saved
    atoken = _csrf((await client.get("/portal/account")).text)
    done = await client.post(
        "/portal/account",
        data={"csrf": atoken, "old_password": one_time, "new_password": "Xx123456789", "new_password2": "Xx123456789"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "密码已修改" in (await client.get(done.headers["location"])).text
    assert (await _sign_in(client, login, "Xx123456789")).headers["location"] == "/portal"

    # the administrator disables, re-enables and resets the account
    await _sign_in(client, tenant.admin_login)
    token = _csrf((await client.get("/portal/users")).text)
    off = await client.post(f"/portal/users/{uid}", data={"csrf": token, "action": "disable"}, follow_redirects=False)
    assert off.status_code == 303
    assert "已停用" in (await client.get(off.headers["location"])).text
    assert (await _sign_in(client, login, "Xx123456789")).status_code == 401
    await _sign_in(client, tenant.admin_login)
    token = _csrf((await client.get("/portal/users")).text)
    on = await client.post(f"/portal/users/{uid}", data={"csrf": token, "action": "enable"}, follow_redirects=False)
    assert on.status_code == 303
    reset = await client.post(f"/portal/users/{uid}/password-reset", data={"csrf": token})
    assert reset.status_code == 200
    assert reset.headers["cache-control"] == "no-store"
    fresh = re.search(r'id="temporary-password"[^>]*>([^<]+)<', reset.text)
    assert fresh is not None
    assert (await _sign_in(client, login, "Xx123456789")).status_code == 401  # the old password is gone
    assert (await _sign_in(client, login, html.unescape(fresh.group(1)))).headers["location"] == "/portal/account"

    # an administrator cannot lock itself out; another tenant's user is invisible
    await _sign_in(client, tenant.admin_login)
    listing = (await client.get("/portal/users")).text
    token = _csrf(listing)
    assert "（本人）" in listing
    async with database.session(Principal(uuid.uuid4(), Role.TENANT_ADMIN, tenant.tenant_id, None, "t")) as s:
        admin_id = await s.scalar(select(m.UserAccount.id).where(m.UserAccount.login == tenant.admin_login))
    self_off = await client.post(f"/portal/users/{admin_id}", data={"csrf": token, "action": "disable"})
    assert self_off.status_code == 409
    assert "不能修改自己的角色" in self_off.text
    async with database.session(Principal(uuid.uuid4(), Role.TENANT_ADMIN, other.tenant_id, None, "t")) as s:
        foreign_id = await s.scalar(select(m.UserAccount.id).where(m.UserAccount.login == other.admin_login))
    foreign = await client.post(f"/portal/users/{foreign_id}/password-reset", data={"csrf": token})
    assert foreign.status_code == 404
    assert (await _sign_in(client, other.admin_login)).status_code == 303  # its password still works


async def test_only_tenant_admins_manage_users(client: Any, make_tenant: Any, make_user: Any) -> None:
    """A manager sees a Chinese 403 page for /portal/users and cannot post to it; everyone has /portal/account."""
    tenant = await make_tenant("420107")
    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    await _sign_in(client, manager)
    page = await client.get("/portal/users")
    assert page.status_code == 403
    assert "无权访问" in page.text
    assert "环保管理员" in page.text
    posted = await client.post(
        "/portal/users", data={"csrf": "x", "login": "sneaky", "display_name": "x", "role": "tenant_admin"}
    )
    assert posted.status_code == 403
    assert (await client.get("/portal/account")).status_code == 200
    await client.get("/logout")
    assert (await client.get("/portal/users", follow_redirects=False)).status_code == 303
    forgot = await client.get("/forgot-password")
    assert forgot.status_code == 200
    assert "企业管理员" in forgot.text
    assert 'href="/forgot-password"' in (await client.get("/login")).text


async def test_policy_and_emergency_settings(client: Any, make_tenant: Any, make_user: Any, database: Any) -> None:
    """Rules by warning level with Chinese names; a manager edits with a reason; bad input shows the error next to
    the field and saves nothing; a guard reads but cannot edit; the level in force shows its source."""
    from cloud.compliance import emergency  # noqa: PLC0415

    tenant = await make_tenant("420114", grade="C")
    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    await _sign_in(client, manager)
    page = await client.get("/portal/settings")
    assert page.status_code == 200
    assert "出厂默认规则" in page.text
    assert "黄色预警" in page.text
    assert "橙色预警" in page.text
    assert "国三及以下（新能源除外）" in page.text
    assert "C级、D级及未评级企业" in page.text
    assert "当前没有生效的重污染天气预警" in page.text
    assert 'data-rule="a_grade_heavy_stage" data-applies="0"' in page.text  # a C-grade plant: not its rule
    assert 'data-rule="yellow_cd_heavy_cn3" data-applies="1"' in page.text

    form_page = await client.get("/portal/settings/policy")
    assert form_page.status_code == 200
    token = _csrf(form_page.text)
    base = {"csrf": token, "unknown_vehicle": "refuse_prompt"}
    for rule in ("blacklist", "yellow_cd_heavy_cn3", "orange_heavy_cn4", "red_heavy_cn4"):
        base[f"rule_{rule}_enabled"] = "1"
        base[f"rule_{rule}_action"] = "refuse"
    before = await _count(database, tenant.tenant_id, m.PolicyVersion)
    bad = await client.post(
        "/portal/settings/policy",
        data={**base, "reason": "", "cap_orange": "很多", "members_special": "鄂A1234\n鄂AF0001"},
    )
    assert bad.status_code == 422
    assert 'data-field-error="reason"' in bad.text
    assert 'data-field-error="cap_orange"' in bad.text
    assert 'value="很多"' in bad.text  # what was typed stays
    bad_plate = await client.post(
        "/portal/settings/policy", data={**base, "reason": "加入特种车辆", "members_special": "鄂A1234"}
    )
    assert bad_plate.status_code == 422
    assert 'data-field-error="members_special"' in bad_plate.text
    window = await client.post(
        "/portal/settings/policy",
        data={**base, "reason": "时段", "effective_from": "2026-12-02T08:00", "effective_until": "2026-12-01T08:00"},
    )
    assert window.status_code == 422
    assert 'data-field-error="effective_until"' in window.text
    assert await _count(database, tenant.tenant_id, m.PolicyVersion) == before

    saved = await client.post(
        "/portal/settings/policy",
        data={
            **base,
            "reason": "按市生态环境局通知：橙色预警限量",
            "cap_orange": "30",
            "min_stage_red": "6",
            "members_special": "鄂AF0001",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert await _count(database, tenant.tenant_id, m.PolicyVersion) == before + 1
    after = await client.get(saved.headers["location"])
    assert "管控策略已保存为新版本" in after.text
    assert "每日进厂重型货车不超过 30 辆次" in after.text
    assert "重型货车须国六及以上或新能源" in after.text
    assert "按市生态环境局通知：橙色预警限量" in after.text
    assert "鄂AF0001" in after.text
    assert "已修改" in after.text or "停用" in after.text  # rules left unticked are disabled, shown against defaults

    # a region alert: the level in force, with its source, and the response history
    now = dt.datetime.now(dt.UTC)
    await emergency.declare(
        database,
        Principal(uuid.uuid4(), Role.PLATFORM_ADMIN, None, None, "ops"),
        "420114",  # a district no other test uses: the alert is region-wide
        "orange",
        now - dt.timedelta(minutes=1),
        now + dt.timedelta(hours=6),
        "测试：青山区橙色预警",
    )
    shown = await client.get("/portal/settings")
    assert "当前执行：橙色预警" in shown.text
    assert "平台发布的区域预警" in shown.text
    assert "启动应急响应" in shown.text

    guard = await make_user(tenant.tenant_id, Role.GUARD)
    await _sign_in(client, guard)
    read = await client.get("/portal/settings")
    assert read.status_code == 200
    assert 'id="edit-policy"' not in read.text
    assert (await client.get("/portal/settings/policy")).status_code == 403
    denied = await client.post("/portal/settings/policy", data={**base, "reason": "门岗尝试"})
    assert denied.status_code == 403
    assert await _count(database, tenant.tenant_id, m.PolicyVersion) == before + 1
