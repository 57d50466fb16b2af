"""Browser test of the review queue, report and grading pages (issue 9): Playwright driving Debian's Chromium.

The cloud runs as a real server process. A manager opens the review queue (the platform's reason for a
rejected upload, a logic-check flag), submits a resolution without a reason (the Chinese message appears
next to the field, nothing saved), then with one; opens the month's report (the ECharts canvases render,
served from /portal/static), downloads the Excel ledger (opened with openpyxl) and opens the grading
dashboard and one indicator's records. First-render times are printed (reported, not asserted);
screenshots go to ``docs/screenshots/enterprise-{reviews,reports,grading}*.png``.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from tenants.context import Role
from tests.portal.browser_kit import CHROMIUM, FLAGS, ROOT, first_render_ms, load, scan_of, shot, watch

_browser = load("_portal_reports_browser_base", ROOT / "tests" / "portal" / "test_enterprise_browser.py")
_pages_mod = load("_portal_reports_pages_base", ROOT / "tests" / "portal" / "test_enterprise_reports_pages.py")
playwright_api = _browser.playwright_api
PASSWORD = _browser.PASSWORD
fx_settings = _browser.fx_settings
fx_make_tenant = _browser.fx_make_tenant
fx_make_user = _browser.fx_make_user
fx_seed_passes = _browser.fx_seed_passes
fx_server = _browser.fx_server
reject_upload = _pages_mod.reject_upload

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("portal-browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing (make install runs infra/sysdeps.sh)"),
]


@pytest.mark.anyio
async def test_report_pages_in_a_browser(
    server: str, database: Any, make_tenant: Any, make_user: Any, seed_passes: Any
) -> None:
    """Review queue, charts, Excel download and grading — what a person sees."""
    import anyio  # noqa: PLC0415

    tenant = await make_tenant("420107", name="武汉青山示范钢铁有限公司（报表页面）")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    plates = ["鄂A3H725", "鄂A5K930", "鄂AD1234", "鄂A7L002", "鄂A8M113", "鄂A9N224"]
    events = [
        {
            "plate": plate,
            "occurred_at": now + dt.timedelta(seconds=30 * n),
            "decision": "refuse" if n % 3 == 1 else "allow",
            **({"weight_kg": 42000 + n * 100} if n % 3 != 1 else {}),
        }
        for n, plate in enumerate(plates)
    ]
    handle = await seed_passes(tenant.tenant_id, events)
    await reject_upload(database, tenant.tenant_id, handle.pass_ids[0], plates[0], now)
    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    month = (now + dt.timedelta(hours=8)).strftime("%Y-%m")
    seeded = {"login": manager, "month": month, "plate": plates[0], "allowed": 4}
    renders = await anyio.to_thread.run_sync(_walk, server, seeded)
    print("\nfirst render (ms, DOMContentLoaded):", renders)  # noqa: T201 - reported, not asserted


def _walk(server: str, seeded: dict[str, Any]) -> dict[str, float]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(
                viewport={"width": 1366, "height": 768}, locale="zh-CN", accept_downloads=True
            )
            scan = watch(context)
            try:
                result = _pages(context.new_page(), server, seeded)
                scan.assert_clean()
                return result
            finally:
                context.close()
        finally:
            browser.close()


def _pages(page: Any, server: str, seeded: dict[str, Any]) -> dict[str, float]:
    from openpyxl import load_workbook  # noqa: PLC0415

    renders: dict[str, float] = {}
    page.goto(f"{server}/login?next=/portal/reviews")
    page.get_by_label("登录名").fill(seeded["login"])
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server}/portal/reviews")
    page.goto(f"{server}/portal/reviews")  # measured apart from the sign-in (password hashing) before it
    renders["待审核"] = first_render_ms(page)

    rejected = page.locator("tr.rejected-row").first
    assert "车辆排放阶段与备案不符" in rejected.inner_text()
    assert seeded["plate"] in rejected.inner_text()
    assert page.locator("tr.flag-row").count() >= 1
    shot(page, "enterprise-reviews")

    # bad input: no reason → the message sits next to the reason field, the flag stays open
    rejected.get_by_role("button", name="提交").click()
    error = page.locator(".field-error").first
    assert "必须填写处理原因" in error.inner_text()
    row = page.locator("tr.rejected-row").first
    assert "待处理" in row.inner_text()
    row.get_by_label("处理原因").fill("已联系监管平台更正备案后补传")
    row.get_by_role("button", name="提交").click()
    page.wait_for_url("**/portal/reviews?*")
    assert "已保存：监管平台拒收：已处理" in page.locator(".notice").inner_text()
    assert page.locator("tr.rejected-row").count() == 0

    # the pass page linked from the queue
    page.locator("tr.flag-row a").first.click()
    page.wait_for_url("**/portal/passes/*")
    # issue 19: a record with open flags says so in red, and its row in the ledger list is red
    assert "待处理异常" in page.locator("#open-flags").inner_text()
    flagged_plate = page.locator("h1").inner_text().split(" · ")[0]
    page.goto(f"{server}/portal/ledger?plate={flagged_plate}")
    assert page.locator("tr.flagged").count() >= 1
    page.go_back()

    # reports: ECharts canvases (served locally) and the Excel download
    page.goto(f"{server}/portal/reports?month={seeded['month']}")
    renders["统计报表"] = first_render_ms(page)
    page.wait_for_function("document.body.dataset.chartsReady === '1'")
    assert page.locator("#chart-daily canvas").count() >= 1
    assert page.locator("#chart-stages canvas").count() >= 1
    assert page.locator("#total-allowed").inner_text() == str(seeded["allowed"])
    shot(page, "enterprise-reports")
    with page.expect_download() as info:
        page.locator("#export-transport_passes-xlsx").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    data = Path(download.path()).read_bytes()
    scan_of(page).export(download.suggested_filename, data)  # the raw-code scan reads every cell (issue 19)
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    cells = [str(c) for r in sheet.iter_rows(values_only=True) for c in r if c is not None]
    assert any(seeded["plate"] in c for c in cells)
    with page.expect_download() as info:
        page.locator("#export-transport_passes-csv").click()
    scan_of(page).export(info.value.suggested_filename, Path(info.value.path()).read_bytes())

    page.get_by_role("link", name="进出厂运输车辆台账").click()
    renders["台账明细"] = first_render_ms(page)
    assert seeded["plate"] in page.locator("table").inner_text()

    # grading dashboard and one indicator's records
    page.goto(f"{server}/portal/grading")
    renders["绩效分级"] = first_render_ms(page)
    upload = page.locator("#indicator-upload_rate")
    assert "数据上传率" in upload.inner_text()
    assert page.locator("#indicator-ledger_completeness").is_visible()
    shot(page, "enterprise-grading")
    page.locator("#indicator-ledger_completeness").get_by_role("link", name="查看记录").click()
    renders["指标记录"] = first_render_ms(page)
    assert "影响指标的记录" in page.locator("h1").inner_text()
    return renders
