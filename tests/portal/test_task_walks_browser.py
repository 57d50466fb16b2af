"""Browser walks of the new task pages (issue 19 items 1 and 5): Playwright on Debian's Chromium, one walk per role.

The cloud runs as a real server process over the test database; data comes through the product's write paths
(onboarding, the ledger's seeding helper, the emergency service). Every page a walk opens passes the raw-code
scan (tests/portal/browser_kit.py). The regulator's wall screen is shot at 1920×1080 into
``build/test-artefacts/`` and must redraw from its JSON poll.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.billing import service as billing
from cloud.compliance import emergency
from cloud.db.engine import Database
from tenants.context import Principal, Role
from tests.portal.browser_kit import (
    CHROMIUM,
    FLAGS,
    ROOT,
    artefact,
    first_render_ms,
    load,
    running_cloud,
    shot,
    watch,
)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("portal-browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing (make install runs infra/sysdeps.sh)"),
]

_cloud = load("_portal_task_walks_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
_sync = load("_portal_task_walks_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD
#: 襄阳市: a region of this module's own (tests must not declare alerts for regions other tests use).
CITY, DISTRICT_A, DISTRICT_B = "4206", "420602", "420606"


@pytest.fixture(name="server")
def fx_server(db_urls: Any, tmp_path: Path) -> Iterator[str]:
    """The cloud as a real uvicorn process; yields its base URL."""
    with running_cloud(_sync, db_urls, tmp_path) as proc:
        yield f"http://127.0.0.1:{proc.port}"


@pytest.mark.anyio
async def test_task_pages_in_a_browser(
    server: str,
    make_tenant: Any,
    make_user: Any,
    make_staff: Any,
    seed_passes: Any,
    database: Database,
    tmp_path: Path,
) -> None:
    """An enterprise admin sets up a site, gate and lane and reads upload status and audit log; a regulator
    watches the wall screen at 1920×1080 and sees it redraw; the platform admin creates an installer and grants it
    two enterprises, the installer signs in at the staff entry, picks one and sets it up to an enrolled agent. The
    plant is past due: its people see the dunning banner on every page, the newcomer's do not."""
    import anyio  # noqa: PLC0415

    plant = await make_tenant(DISTRICT_A, name="襄阳示范水泥有限公司（大屏）")
    other = await make_tenant(DISTRICT_B, name="樊城示范钢铁有限公司（大屏）")
    newcomer = await make_tenant(DISTRICT_A, name="襄城新开户企业（厂区设置）")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    await seed_passes(
        plant.tenant_id,
        [
            {"plate": "鄂F3H725", "occurred_at": now, "decision": "allow"},
            {"plate": "鄂F5K930", "occurred_at": now + dt.timedelta(seconds=20), "decision": "refuse"},
        ],
    )
    await seed_passes(other.tenant_id, [{"plate": "鄂F88888", "occurred_at": now}])
    installed = await make_tenant(DISTRICT_A, name="襄城门禁新装企业（安装人员）")
    await _past_due(database, plant.tenant_id)
    actor = Principal(user_id=await _platform_admin_id(), role=Role.PLATFORM_ADMIN, login="wall-test")
    await emergency.declare(
        database,
        actor,
        DISTRICT_B,
        "orange",
        dt.datetime.now(dt.UTC),
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=6),
        "重污染天气橙色预警（测试）",
    )
    seeded = {
        "regulator": await make_staff("regulator", CITY),
        "admin": await make_staff("platform_admin"),
        "manager": await make_user(plant.tenant_id, Role.MANAGER),
        "guard": await make_user(plant.tenant_id, Role.GUARD),
        "viewer": await make_user(plant.tenant_id, Role.VIEWER),
        "newcomer": newcomer,
        "installed": installed,
        "installer": {"login": f"install-{uuid.uuid4().hex[:8]}"},
        "plant": plant,
        "other": other,
        "csv": str(tmp_path / "黑名单.csv"),
    }
    (tmp_path / "黑名单.csv").write_text(
        "车牌号码,号牌颜色,原因\n鄂F12345,黄色,检测超标\n不是车牌,黄色,错误\n", encoding="utf-8"
    )
    renders = await anyio.to_thread.run_sync(_walk, server, seeded)
    print("\nfirst render (ms, DOMContentLoaded):", renders)  # noqa: T201 - reported, not asserted


async def _platform_admin_id() -> Any:
    return uuid.UUID(int=1)


async def _past_due(database: Database, tenant_id: Any) -> None:
    """The tenant's trial ran out unpaid: the billing service settles its stage as of the day after (past due)."""
    actor = billing.system_actor(tenant_id, "walk-test")
    async with database.session(actor) as session, session.begin():
        account = await billing.ensure_account(session, tenant_id, actor)
        await billing.settle(session, actor, account, account.trial_ends_at + dt.timedelta(hours=1))
        assert account.dunning_stage == "past_due"


def _walk(server: str, seeded: dict[str, Any]) -> dict[str, float]:
    renders: dict[str, float] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            _enterprise_admin(browser, server, seeded, renders)
            _regulator(browser, server, seeded, renders)
            _manager(browser, server, seeded, renders)
            _guard(browser, server, seeded, renders)
            _viewer(browser, server, seeded, renders)
            _platform_admin(browser, server, seeded, renders)
            _installer(browser, server, seeded, renders)
        finally:
            browser.close()
    return renders


def _context(browser: Any) -> tuple[Any, Any, Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    scan = watch(context)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return context, scan, page


def _manager(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    """环保管理员: imports the regulator's blacklist (report per row), reads carriers and the 日报/年报, releases a
    refused truck remotely with a reason."""
    context, scan, page = _context(browser)
    _sign_in(page, server, "/portal", seeded["manager"])
    # 环保管理员 may open 账单与发票: the past-due banner links there.
    assert page.locator("#dunning-banner").get_by_role("link", name="前往账单与发票").is_visible()
    page.get_by_role("link", name="黑名单").click()
    page.wait_for_url(f"{server}/portal/blacklist")
    renders["黑名单"] = first_render_ms(page)
    page.get_by_label("名单文件", exact=False).set_input_files(seeded["csv"])
    page.get_by_label("名单名称或文号").fill("襄环〔2026〕7号")
    page.get_by_role("button", name="导入").click()
    page.wait_for_selector("#import-report")
    assert page.locator('tr[data-row="2"]').inner_text().find("已导入") >= 0
    assert page.locator('tr[data-row="3"]').inner_text().find("有错误") >= 0
    artefact(page, "enterprise-blacklist-import")
    page.get_by_role("link", name="运输公司").click()
    page.wait_for_url(f"{server}/portal/carriers")
    renders["运输公司"] = first_render_ms(page)
    assert page.locator('tr[data-carrier="1"]').count() == 1
    page.get_by_role("link", name="统计报表").click()
    page.wait_for_url(f"{server}/portal/reports")
    page.get_by_role("button", name="查看日报").click()
    page.wait_for_url("**/portal/reports?kind=day**")
    assert page.get_by_role("heading", name=re.compile("日报")).is_visible()
    page.get_by_role("button", name="查看年报").click()
    page.wait_for_url("**/portal/reports?kind=year**")
    assert page.get_by_role("heading", name=re.compile("年报")).is_visible()
    page.get_by_role("link", name="门禁终端").click()
    page.wait_for_url(f"{server}/portal/agents")
    page.locator("tr[data-agent] a").first.click()
    page.wait_for_selector("#release")
    form = page.locator("form[aria-label$='远程放行']").first
    form.get_by_role("button", name="远程抬杆放行").click()  # no reason: refused next to the field
    page.wait_for_selector('[data-field-error="reason"]')
    form = page.locator("form[aria-label$='远程放行']").first
    form.get_by_label("放行原因（必填）").fill("应急物资运输车辆，经环保负责人同意")
    form.get_by_role("button", name="远程抬杆放行").click()
    page.wait_for_url("**done=released**")
    assert page.get_by_text("已发送远程放行指令").is_visible()
    scan.assert_clean()
    context.close()


def _guard(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    """门岗: reads the blacklist (no forms), sees no set-up, upload or audit menu, gets 403 on /portal/sites."""
    context, scan, page = _context(browser)
    _sign_in(page, server, "/portal", seeded["guard"])
    for hidden in ("厂区与道闸", "数据上传", "操作日志", "门禁终端"):
        assert page.get_by_role("link", name=hidden).count() == 0
    page.get_by_role("link", name="黑名单").click()
    page.wait_for_url(f"{server}/portal/blacklist")
    assert page.get_by_text("鄂F12345").count() >= 1
    assert page.locator("form[aria-label='导入黑名单']").count() == 0
    response = page.goto(f"{server}/portal/sites")
    assert response is not None
    assert response.status == 403
    assert page.get_by_role("heading", name="无权访问").is_visible()
    scan.assert_clean()
    context.close()


def _viewer(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    """只读用户: carriers and reports, the blacklist without forms; no set-up, upload, audit or agents."""
    context, scan, page = _context(browser)
    _sign_in(page, server, "/portal", seeded["viewer"])
    for hidden in ("厂区与道闸", "数据上传", "操作日志", "门禁终端", "用户与角色"):
        assert page.get_by_role("link", name=hidden).count() == 0
    # The plant is past due: the banner sits on every page (the viewer may not open 账单与发票: no link).
    banner = page.locator("#dunning-banner")
    assert banner.is_visible()
    assert banner.get_attribute("data-stage") == "past_due"
    assert "付款失败" in banner.inner_text()
    assert "请联系企业管理员" in banner.inner_text()
    page.get_by_role("link", name="运输公司").click()
    page.wait_for_url(f"{server}/portal/carriers")
    assert "付款失败" in page.locator("#dunning-banner").inner_text()
    page.locator("#c-months").select_option("12")
    page.get_by_role("button", name="查看").click()
    page.wait_for_url("**/portal/carriers?months=12")
    page.get_by_role("link", name="黑名单").click()
    page.wait_for_url(f"{server}/portal/blacklist")
    assert page.locator("form[aria-label='加入黑名单']").count() == 0
    scan.assert_clean()
    context.close()


def _platform_admin(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    """平台管理员: creates an installer account for the new plant and grants it the plant too (安装人员); lifts the
    district's alert with a reason on 预警记录与解除."""
    context, scan, page = _context(browser)
    _sign_in(page, server, "/admin", seeded["admin"])
    installer = seeded["installer"]
    page.get_by_role("link", name="安装人员").click()
    page.wait_for_url(f"{server}/admin/installers")
    renders["安装人员"] = first_render_ms(page)
    form = page.get_by_role("form", name="新建安装人员账号")
    form.get_by_role("button", name="新建账号").click()  # nothing filled: messages next to the fields
    page.wait_for_selector('form[aria-label="新建安装人员账号"] [data-field="login"]')
    form = page.get_by_role("form", name="新建安装人员账号")
    form.get_by_label("登录名").fill(installer["login"])
    form.get_by_label("姓名").fill("张师傅")
    form.get_by_label("服务企业（可稍后授权）").select_option(label=seeded["installed"].name)
    form.get_by_role("button", name="新建账号").click()
    page.wait_for_selector("#created")
    installer["password"] = page.locator("[data-password]").inner_text().strip()
    assert page.locator(f'tr[data-grant="{installer["login"]}"]').count() == 1
    form = page.get_by_role("form", name="授权服务企业")
    form.get_by_label("安装人员登录名").fill("nobody-" + installer["login"])
    form.get_by_label("企业").select_option(label=seeded["plant"].name)
    form.get_by_role("button", name="授权").click()  # an unknown login: said next to the field
    page.wait_for_selector('form[aria-label="授权服务企业"] [data-field="login"]')
    form = page.get_by_role("form", name="授权服务企业")
    form.get_by_label("安装人员登录名").fill(installer["login"])
    form.get_by_label("企业").select_option(label=seeded["plant"].name)
    form.get_by_role("button", name="授权").click()
    page.wait_for_url(f"{server}/admin/installers?done=granted")
    assert page.locator(f'tr[data-grant="{installer["login"]}"]').count() == 2
    shot(page, "admin-installers")
    page.get_by_role("link", name="预警记录与解除").click()
    page.wait_for_url(f"{server}/admin/alerts")
    renders["预警记录与解除"] = first_render_ms(page)
    row = page.locator("tr", has_text="樊城区").first
    row.get_by_role("button", name="解除预警").click()  # no reason
    page.wait_for_selector('[data-field-error="reason"]')
    row = page.locator("tr", has_text="樊城区").first
    row.get_by_label("解除原因").fill("空气质量好转，按市重污染天气应急指挥部通知解除")
    row.get_by_role("button", name="解除预警").click()
    page.wait_for_url("**/admin/alerts?notice=**")
    assert page.locator("#notice").is_visible()
    assert page.locator("tr", has_text="樊城区").first.get_by_text("已解除").count() >= 1
    scan.assert_clean()
    context.close()


def _installer(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    """安装人员: signs in at the staff entry with the one-time password, replaces it, picks the new plant among
    the two granted, sets up a site, gate and lane, creates an enrollment code; the agent enrolls with it
    (what ``ecogate agent enroll`` runs) and appears on 门禁终端."""
    from agent.sync.enroll import enroll  # noqa: PLC0415

    installer, plant = seeded["installer"], seeded["installed"]
    context, scan, page = _context(browser)
    page.goto(f"{server}/staff/login")  # docs/screenshots/staff-login.png: tests/portal/test_regulator_browser.py
    page.get_by_label("登录名").fill(installer["login"])
    page.get_by_label("密码").fill(installer["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server}/portal/account")  # a one-time password is replaced first
    page.get_by_label("原密码").fill(installer["password"])
    page.get_by_label("新密码", exact=True).fill(PASSWORD + "-installer")
    page.get_by_label("再次输入新密码").fill(PASSWORD + "-installer")
    page.get_by_role("button", name="保存新密码").click()
    page.wait_for_url("**/portal/account?done=password")
    for hidden in ("用户与角色", "账单与发票", "操作日志"):
        assert page.get_by_role("link", name=hidden).count() == 0
    page.get_by_role("link", name="切换企业").click()
    page.wait_for_url(f"{server}/staff/tenants")
    renders["选择服务企业"] = first_render_ms(page)
    assert page.locator("tr[data-tenant]").count() == 2
    shot(page, "installer-tenants")
    page.get_by_role("form", name=f"进入 {plant.name}").get_by_role("button", name="进入").click()
    page.wait_for_url(f"{server}/portal")
    assert page.get_by_role("heading", name=plant.name).is_visible()
    assert page.locator("#dunning-banner").count() == 0
    shot(page, "installer-home")
    page.get_by_role("link", name="厂区与道闸").click()
    page.wait_for_url(f"{server}/portal/sites")
    page.get_by_label("厂区名称（必填）").fill("二号厂区")
    page.get_by_role("button", name="创建厂区").click()
    page.wait_for_url(f"{server}/portal/sites?done=site")
    page.get_by_label("出入口编号").fill("G2")
    page.get_by_label("出入口名称").fill("西大门")
    page.get_by_role("button", name="添加出入口").click()
    page.wait_for_url(f"{server}/portal/sites?done=gate")
    page.get_by_label("道闸编号").fill("L2")
    page.get_by_label("道闸名称").fill("西门入口道闸")
    page.get_by_label("方向").select_option("in")
    page.get_by_role("button", name="添加道闸").click()
    page.wait_for_url(f"{server}/portal/sites?done=lane")
    shot(page, "installer-sites")
    page.get_by_role("link", name="门禁终端").click()
    page.wait_for_url(f"{server}/portal/agents")
    page.get_by_label("厂区").select_option(label="二号厂区")
    page.get_by_label("代理名称").fill("西门岗亭")
    page.get_by_role("button", name="生成注册码").click()
    page.locator("#enroll-code").wait_for()
    code = page.locator("#enroll-code").inner_text().strip()
    shot(page, "installer-enrollment-code")
    credential = enroll(code, server, software="walk-test")
    assert str(credential.tenant_id) == str(plant.tenant_id)
    page.get_by_role("link", name="门禁终端").click()
    page.wait_for_url(f"{server}/portal/agents")
    page.locator("tr[data-agent] a", has_text="西门岗亭").click()
    page.wait_for_url(f"{server}/portal/agents/*")
    shot(page, "installer-agent")
    page.get_by_role("link", name="退出").click()
    page.wait_for_url(f"{server}/staff/login")
    scan.assert_clean()
    context.close()


def _sign_in(page: Any, server: str, path: str, login: str) -> None:
    page.goto(f"{server}{path}")
    page.get_by_label("登录名").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server}{path}")


def _enterprise_admin(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    scan = watch(context)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    _sign_in(page, server, "/portal", seeded["newcomer"].admin_login)
    assert page.locator("#dunning-banner").count() == 0  # in good standing (trial): no banner
    page.get_by_role("link", name="厂区与道闸").click()
    page.wait_for_url(f"{server}/portal/sites")
    assert page.locator("#dunning-banner").count() == 0
    renders["厂区与道闸"] = first_render_ms(page)
    assert page.locator("#no-sites").is_visible()
    page.get_by_role("button", name="创建厂区").click()  # empty name: the message sits next to the field
    assert page.locator('[data-field-error="name"]').is_visible()
    page.get_by_label("厂区名称（必填）").fill("一号厂区")
    page.get_by_label("地址").fill("襄阳市襄城区示范路 1 号")
    page.get_by_role("button", name="创建厂区").click()
    page.wait_for_url(f"{server}/portal/sites?done=site")
    page.get_by_label("出入口编号").fill("G1")
    page.get_by_label("出入口名称").fill("东大门")
    page.get_by_role("button", name="添加出入口").click()
    page.wait_for_url(f"{server}/portal/sites?done=gate")
    page.get_by_label("道闸编号").fill("L1")
    page.get_by_label("道闸名称").fill("东门入口道闸")
    page.get_by_label("方向").select_option("in")
    page.get_by_role("button", name="添加道闸").click()
    page.wait_for_url(f"{server}/portal/sites?done=lane")
    assert page.get_by_text("东门入口道闸（入场）").is_visible()
    artefact(page, "enterprise-sites")
    page.get_by_role("link", name="门禁终端").click()
    page.wait_for_url(f"{server}/portal/agents")
    assert page.locator("select[name=site_id] option", has_text="一号厂区").count() == 1
    page.get_by_role("link", name="数据上传").click()
    page.wait_for_url(f"{server}/portal/uplink")
    renders["数据上传"] = first_render_ms(page)
    assert page.locator("#not-configured").is_visible()
    page.get_by_role("link", name="操作日志").click()
    page.wait_for_url(f"{server}/portal/audit")
    renders["操作日志"] = first_render_ms(page)
    for label in ("新建厂区", "新增出入口", "新增道闸"):
        assert page.get_by_role("cell", name=label).count() >= 1
    page.get_by_label("操作类别").select_option(label="道闸")
    page.get_by_role("button", name="查询").click()
    assert page.get_by_role("cell", name="新建厂区").count() == 0
    scan.assert_clean()
    context.close()


def _regulator(browser: Any, server: str, seeded: dict[str, Any], renders: dict[str, float]) -> None:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    scan = watch(context)
    page = context.new_page()
    _sign_in(page, server, "/regulator", seeded["regulator"])
    page.get_by_role("link", name="监管大屏").click()
    page.wait_for_url(f"{server}/regulator/wall")
    renders["监管大屏"] = first_render_ms(page)
    assert page.locator("#k-plants").inner_text() == "4"  # three plants and the installer's
    assert int(page.locator("#k-refused").inner_text()) == 1
    assert page.locator("#k-alerts").inner_text() == "1"
    assert "橙色预警" in page.locator("#alerts").inner_text()
    assert "樊城区" in page.locator("#districts").inner_text()
    assert seeded["plant"].name in page.locator("#plants").inner_text()
    # Readable at 1920×1080: the screen fits without scrolling and the figures are large.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1920
    assert float(page.locator("#k-today").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 48
    # Live: the page redraws from its JSON poll (every 2 s here).
    page.goto(f"{server}/regulator/wall?every=2")
    page.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1", timeout=30_000)
    assert page.locator("#stale").is_hidden()
    artefact(page, "regulator-wall-1920x1080")
    scan.assert_clean()
    context.close()
