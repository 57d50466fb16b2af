"""Navigation by role (issue 19 item 3): every menu item a person sees opens (no 403), one 退出, the root URL.

Real PostgreSQL under RLS, the real app in-process over ASGI; accounts made by the product's own write
paths (tests/cloud/conftest.py factories).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tenants.context import Role

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.portal.browser_kit import load  # noqa: E402

_cloud = load("_portal_nav_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-nav")]

_NAV = re.compile(r'<nav aria-label="主导航">(.*?)</nav>', re.DOTALL)


def _menu(page: str) -> list[tuple[str, str]]:
    found = _NAV.search(page)
    assert found is not None
    return re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', found.group(1))


async def _walk_menu(client: Any, home: str, logout: str) -> list[str]:
    page = await client.get(home)
    assert page.status_code == 200, home
    assert page.text.count(">退出</a>") == 1
    assert f'href="{logout}"' in page.text
    items = _menu(page.text)
    for path, label in items:
        opened = await client.get(path, follow_redirects=False)
        assert opened.status_code == 200, (path, label, opened.status_code)
    return [label for _, label in items]


async def test_enterprise_menus_by_role(client: Any, make_tenant: Any, make_user: Any) -> None:
    """Each enterprise role sees only the items it may open; 用户与角色 only for 企业管理员."""
    tenant = await make_tenant("420107")
    seen: dict[Role, list[str]] = {}
    for role in (Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER):
        login = tenant.admin_login if role is Role.TENANT_ADMIN else await make_user(tenant.tenant_id, role)
        await client.get("/logout")
        signed = await client.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
        assert signed.status_code == 303
        seen[role] = await _walk_menu(client, "/portal", "/logout")
    assert "用户与角色" in seen[Role.TENANT_ADMIN]
    assert "门禁终端" in seen[Role.TENANT_ADMIN]
    assert "用户与角色" not in seen[Role.MANAGER]
    assert "用户与角色" not in seen[Role.GUARD]
    assert "门禁终端" not in seen[Role.GUARD]
    assert "通行台账" in seen[Role.GUARD]
    for item in ("厂区与道闸", "数据上传", "操作日志"):  # issue 19 item 1: set-up, upload status, audit log
        assert item in seen[Role.TENANT_ADMIN]
        assert item not in seen[Role.GUARD]
    assert "黑名单" in seen[Role.GUARD]
    assert "运输公司" in seen[Role.VIEWER]


async def test_root_leads_to_the_right_place(client: Any, make_tenant: Any, make_staff: Any) -> None:
    """``/`` sends a visitor to the sign-in page (not the API's JSON 404), a signed-in person home."""
    await client.get("/logout")
    root = await client.get("/", follow_redirects=False)
    assert root.status_code == 303
    assert root.headers["location"] == "/login"
    login = await client.get("/login")
    assert 'href="/staff/login"' in login.text
    tenant = await make_tenant("420107")
    await client.post("/login", data={"login": tenant.admin_login, "password": PASSWORD})
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/portal"
    await client.get("/logout")
    regulator = await make_staff("regulator", "4201")
    await client.post("/staff/login", data={"login": regulator, "password": PASSWORD, "next": ""})
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/regulator"
    assert await _walk_menu(client, "/regulator", "/staff/logout") == ["辖区企业", "监管大屏"]
    await client.get("/staff/logout")
    admin = await make_staff("platform_admin")
    await client.post("/staff/login", data={"login": admin, "password": PASSWORD, "next": ""})
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/admin"
    admin_menu = ["运营总览", "企业开户", "发布区域预警", "预警记录与解除", "安装人员", "订阅与收费"]
    assert await _walk_menu(client, "/admin", "/staff/logout") == admin_menu
