"""Enterprise review queue, reports (charts, exports) and grading pages (issue 9): fast page tests.

Real PostgreSQL under RLS and the real app in-process over ASGI. The queue shows logic-check flags
and the platform's rejections (issue 8) with links to the pass page; resolving needs a reason (field
error, nothing saved) and a reviewer role (Chinese 403 page); exports are real .xlsx files.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

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


_cloud = _load("_portal_reports_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-enterprise")]


async def _sign_in(client: Any, login: str) -> None:
    await client.get("/logout")
    response = await client.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303


async def reject_upload(database: Any, tenant_id: uuid.UUID, pass_id: uuid.UUID, plate: str, at: dt.datetime) -> None:
    """The flag the uplink worker opens when the platform refuses a record for good (cloud/uplink/worker.py),
    through the flags' writer; ``plate`` and ``at`` are the pass's (the flag takes them from the pass)."""
    from cloud.compliance import checks  # noqa: PLC0415

    del plate, at
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="uplink-worker")
    finding = checks.PassFinding(
        "uplink_rejected",
        "监管平台拒收：车辆排放阶段与备案不符",
        {"platform_code": "E042", "platform_message": "车辆排放阶段与备案不符"},
        subject_key=f"uplink:{pass_id}:1",
    )
    async with database.session(actor) as session, session.begin():
        assert (await checks.open_pass_flags(session, tenant_id, pass_id, [finding])).flags_added == 1


async def _resolutions(database: Any, tenant_id: uuid.UUID) -> int:
    from cloud.db import models as m  # noqa: PLC0415

    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="count")
    async with database.session(actor) as session, session.begin():
        return int(await session.scalar(select(func.count()).select_from(m.CheckResolution)) or 0)


async def test_review_queue_resolve_with_reason(
    client: Any, database: Any, make_tenant: Any, make_user: Any, seed_passes: Any
) -> None:
    """Flags and the platform's reason show with pass links; an empty reason is refused next to the field
    (nothing saved); a manager resolves; a viewer reads but gets the Chinese 403 page for a resolution."""
    tenant = await make_tenant("420107", name=f"审核页面测试{uuid.uuid4().hex[:4]}")
    other = await make_tenant("420107", name=f"审核隔离测试{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    handle = await seed_passes(tenant.tenant_id, [{"plate": "鄂A11111", "occurred_at": now}])
    foreign = await seed_passes(other.tenant_id, [{"plate": "鄂E99999", "occurred_at": now}])
    await reject_upload(database, tenant.tenant_id, handle.pass_ids[0], "鄂A11111", now)
    await reject_upload(database, other.tenant_id, foreign.pass_ids[0], "鄂E99999", now)

    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    await _sign_in(client, manager)
    page = await client.get("/portal/reviews")
    assert page.status_code == 200
    assert "车辆排放阶段与备案不符" in page.text
    assert f'href="/portal/passes/{handle.pass_ids[0]}"' in page.text
    assert "鄂E99999" not in page.text
    assert 'class="flag-row"' in page.text  # the unregistered plate is flagged by the logic checks
    flag_id = re.search(r'action="/portal/reviews/([0-9a-f-]+)/resolve"', page.text)
    assert flag_id is not None
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    for label in ("处理结论", "处理原因"):
        assert label in page.text

    before = await _resolutions(database, tenant.tenant_id)
    bad = await client.post(
        f"/portal/reviews/{flag_id.group(1)}/resolve",
        data={"csrf": csrf.group(1), "outcome": "resolved", "reason": " "},
    )
    assert bad.status_code == 422
    assert f'id="reason-error-{flag_id.group(1)}"' in bad.text
    assert "必须填写处理原因" in bad.text
    stale = await client.post(
        f"/portal/reviews/{flag_id.group(1)}/resolve", data={"csrf": "x", "outcome": "resolved", "reason": "已核实"}
    )
    assert stale.status_code == 400
    assert await _resolutions(database, tenant.tenant_id) == before

    ok = await client.post(
        f"/portal/reviews/{flag_id.group(1)}/resolve",
        data={"csrf": csrf.group(1), "outcome": "resolved", "reason": "已与监管平台核实并补传"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    done = await client.get(ok.headers["location"])
    assert "已保存" in done.text
    assert await _resolutions(database, tenant.tenant_id) == before + 1
    closed = await client.get("/portal/reviews", params={"status": "closed"})
    assert "已与监管平台核实并补传" in closed.text

    viewer = await make_user(tenant.tenant_id, Role.VIEWER)
    await _sign_in(client, viewer)
    read = await client.get("/portal/reviews")
    assert read.status_code == 200
    assert "当前账号只能查看" in read.text
    denied = await client.post(
        f"/portal/reviews/{flag_id.group(1)}/resolve", data={"csrf": "x", "outcome": "reopened", "reason": "试试"}
    )
    assert denied.status_code == 403
    assert "无权处理" in denied.text
    assert await _resolutions(database, tenant.tenant_id) == before + 1


async def test_reports_charts_exports_and_grading(
    client: Any, make_tenant: Any, make_user: Any, seed_passes: Any
) -> None:
    """The month's figures and chart data, a bad month next to the field, an Excel download with the
    month's rows, the grading indicators with pass/fail and their records pages."""
    from openpyxl import load_workbook  # noqa: PLC0415

    tenant = await make_tenant("420107", name=f"报表页面测试{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    await seed_passes(
        tenant.tenant_id,
        [
            {"plate": "鄂A22222", "occurred_at": now, "decision": "allow"},
            {"plate": "鄂A33333", "occurred_at": now + dt.timedelta(seconds=5), "decision": "refuse"},
            {"plate": "鄂A44444", "occurred_at": now + dt.timedelta(seconds=9), "decision": "allow"},
        ],
    )
    viewer = await make_user(tenant.tenant_id, Role.VIEWER)
    await _sign_in(client, viewer)
    month = (now + dt.timedelta(hours=8)).strftime("%Y-%m")
    page = await client.get("/portal/reports", params={"month": month})
    assert page.status_code == 200, page.text
    assert '<div class="num" id="total-passes">3</div>' in page.text
    assert '<div class="num refuse" id="total-refused">1</div>' in page.text
    assert 'id="chart-daily"' in page.text
    assert "/portal/static/vendor/echarts/echarts.min.js" in page.text
    assert 'id="chart-missing"' not in page.text
    asset = await client.get("/portal/static/vendor/echarts/echarts.min.js")
    assert asset.status_code == 200
    assert len(asset.content) > 500_000

    bad = await client.get("/portal/reports", params={"month": "2024-13"})
    assert bad.status_code == 422
    assert 'id="month-error"' in bad.text

    download = await client.get("/portal/reports/export/transport_passes", params={"month": month, "fmt": "xlsx"})
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert any("鄂A22222" in c for c in cells)
    assert any(tenant.name in c for c in cells)
    ledger = await client.get("/portal/reports/ledgers/transport_passes", params={"month": month})
    assert ledger.status_code == 200
    assert "鄂A22222" in ledger.text
    assert (await client.get("/portal/reports/export/nope", params={"month": month})).status_code == 404

    grading_page = await client.get("/portal/grading")
    assert grading_page.status_code == 200
    assert "数据上传率" in grading_page.text
    assert "电子台账数据完整率" in grading_page.text
    assert 'href="/portal/grading/upload_rate"' in grading_page.text
    records = await client.get("/portal/grading/ledger_completeness")
    assert records.status_code == 200
    assert "影响指标的记录" in records.text
    assert (await client.get("/portal/grading", params={"grade": "Z"})).status_code == 422
    assert (await client.get("/portal/grading/unknown")).status_code == 404


async def test_pages_render_without_the_chart_asset(
    client: Any, make_tenant: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the ECharts file the report page still renders, with a Chinese note instead of the charts."""
    from frontend_api.portal import enterprise_reports  # noqa: PLC0415

    monkeypatch.setattr(enterprise_reports, "ECHARTS_FILE", ROOT / "missing" / "echarts.min.js")
    tenant = await make_tenant("420107", name=f"报表无图表测试{uuid.uuid4().hex[:4]}")
    await _sign_in(client, await make_user(tenant.tenant_id, Role.MANAGER))
    page = await client.get("/portal/reports")
    assert page.status_code == 200
    assert 'id="chart-missing"' in page.text
    assert "echarts.min.js" not in page.text
    signed_out = await client.get("/logout")
    assert signed_out.status_code in {200, 303}
    assert (await client.get("/portal/reports", follow_redirects=False)).status_code == 303
