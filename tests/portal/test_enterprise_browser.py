"""Browser test of the enterprise pages: Playwright driving Debian's Chromium (issue 9 part 1).

The cloud runs as a real server process on a free port over the test database. Each enterprise
role signs in (the manager with the keyboard) and sees its home page; a pass stored while the home
page is open appears without reload; the ledger filters the refused passes; a bad date shows the
Chinese message next to the field. First-render times are printed (reported, not asserted) and
screenshots are written to ``docs/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenants.context import Role
from tests.portal.browser_kit import CHROMIUM, FLAGS, ROOT, first_render_ms, load, running_cloud, shot, watch

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("portal-browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing (make install runs infra/sysdeps.sh)"),
]


_cloud = load("_portal_ent_browser_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
_sync = load("_portal_ent_browser_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD


@pytest.fixture(name="server")
def fx_server(db_urls: Any, tmp_path: Path) -> Iterator[str]:
    """The cloud as a real uvicorn process; yields its base URL."""
    with running_cloud(_sync, db_urls, tmp_path) as proc:
        yield f"http://127.0.0.1:{proc.port}"


@pytest.mark.anyio
async def test_enterprise_pages_in_a_browser(server: str, make_tenant: Any, make_user: Any, seed_passes: Any) -> None:
    """What enterprise people see and do, in a real browser (Playwright's sync API in a thread)."""
    import anyio  # noqa: PLC0415

    tenant = await make_tenant("420107", name="武汉青山示范钢铁有限公司（企业页面）")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    await seed_passes(
        tenant.tenant_id,
        [
            {"plate": "鄂A3H725", "occurred_at": now, "decision": "allow", "weight_kg": 49000},
            {
                "plate": "鄂A5K930",
                "occurred_at": now + dt.timedelta(seconds=20),
                "decision": "refuse",
                "reasons": ["emergency_heavy_stage"],  # the agent always says why
            },
        ],
    )
    roles = (Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER)
    seeded = {
        "tenant": tenant,
        "logins": {role: await make_user(tenant.tenant_id, role) for role in roles},
        "add_pass": lambda: anyio.from_thread.run(
            seed_passes, tenant.tenant_id, [{"plate": "鄂AL0001", "occurred_at": dt.datetime.now(dt.UTC)}]
        ),
    }
    renders = await anyio.to_thread.run_sync(_walk, server, seeded)
    print("\nfirst render (ms, DOMContentLoaded):", renders)  # noqa: T201 - reported, not asserted


def _walk(server: str, seeded: dict[str, Any]) -> dict[str, float]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            return _pages(browser, server, seeded)
        finally:
            browser.close()


def _sign_in(page: Any, server: str, login: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("登录名").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server}/portal")


def _pages(browser: Any, server: str, seeded: dict[str, Any]) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    watch(context)
    page = context.new_page()
    renders: dict[str, float] = {}
    tenant = seeded["tenant"]

    # every enterprise role reaches its home page
    for role, login in seeded["logins"].items():
        if role is Role.MANAGER:
            continue
        _sign_in(page, server, login)
        assert page.get_by_role("heading", name=tenant.name).is_visible()
        page.goto(f"{server}/logout")

    # signed out → sign-in page; the keyboard reaches every field
    page.goto(f"{server}/portal")
    assert "/login" in page.url
    renders["企业登录"] = first_render_ms(page)
    shot(page, "enterprise-login")
    page.get_by_label("密码").fill("wrong")
    page.get_by_label("登录名").fill(seeded["logins"][Role.MANAGER])
    page.get_by_role("button", name="登录").click()
    assert page.get_by_text("账号或密码错误").is_visible()
    page.get_by_label("登录名").focus()
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/portal")

    # home: today's figures, then a new pass appears without reload
    renders["企业首页"] = first_render_ms(page)
    assert page.locator("#today-count").inner_text() == "2"
    assert page.locator("#refused-count").inner_text() == "1"
    shot(page, "enterprise-home")
    seeded["add_pass"]()
    page.get_by_text("鄂AL0001").wait_for(timeout=25000)
    assert page.locator("#today-count").inner_text() == "3"

    # ledger: filter the refused passes; a bad date is explained next to the field
    page.get_by_role("link", name="通行台账").click()
    page.wait_for_url(f"{server}/portal/ledger")
    renders["通行台账"] = first_render_ms(page)
    page.get_by_label("结果").select_option("refuse")
    page.get_by_role("button", name="查询").click()
    page.wait_for_url("**decision=refuse**")
    assert page.get_by_text("鄂A5K930").is_visible()
    assert page.get_by_text("鄂A3H725").count() == 0
    shot(page, "enterprise-ledger")
    page.goto(f"{server}/portal/ledger?day=2026/11/28")
    assert page.locator("#day-error").inner_text() == "日期格式应为 年-月-日，如 2026-11-28"

    # a tablet (portrait): the main pages fit the width, nothing to scroll sideways
    page.set_viewport_size({"width": 768, "height": 1024})
    for path in (
        "/portal",
        "/portal/ledger",
        "/portal/vehicles",
        "/portal/reviews",
        "/portal/reports",
        "/portal/grading",
        "/portal/settings",
        "/portal/agents",
    ):
        page.goto(f"{server}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow} px on a tablet"
    page.goto(f"{server}/portal")
    shot(page, "enterprise-home-tablet")
    context.close()
    return renders
