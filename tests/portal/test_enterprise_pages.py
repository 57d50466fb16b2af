"""Enterprise pages (issue 9 part 1): sign-in, home figures, ledger search, tenant isolation.

Real PostgreSQL under RLS, the real app in-process over ASGI; each enterprise sees only its own
passes, a signed-out visitor is sent to the sign-in page, a bad date shows a Chinese field error.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tenants.context import Role

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_portal_enterprise_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-enterprise")]


async def test_enterprise_signs_in_and_sees_only_own_ledger(
    client: Any, make_tenant: Any, make_user: Any, seed_passes: Any
) -> None:
    """Home counts today's passes and refusals; the ledger filters; another tenant's plates never show."""
    mine = await make_tenant("420107", name=f"企业页面测试钢铁{uuid.uuid4().hex[:4]}")
    other = await make_tenant("420107", name=f"企业页面测试水泥{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    handle = await seed_passes(
        mine.tenant_id,
        [
            {"plate": "鄂A12345", "occurred_at": now, "decision": "allow"},
            {"plate": "鄂A54321", "occurred_at": now + dt.timedelta(seconds=5), "decision": "refuse"},
        ],
    )
    foreign = await seed_passes(other.tenant_id, [{"plate": "鄂E88888", "occurred_at": now}])

    signed_out = await client.get("/portal", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login")

    login = await make_user(mine.tenant_id, Role.MANAGER)
    wrong = await client.post("/login", data={"login": login, "password": "wrong"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "账号或密码错误" in wrong.text
    response = await client.post(
        "/login", data={"login": login, "password": PASSWORD, "next": "/portal/ledger"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/ledger"

    home = await client.get("/portal")
    assert home.status_code == 200
    assert mine.name in home.text
    assert '<div class="num" id="today-count">2</div>' in home.text
    assert '<div class="num refuse" id="refused-count">1</div>' in home.text
    assert "待处理异常" in home.text  # open flags, upload status, agent and camera health on the home page
    assert '<div class="num" style="font-size:16px" id="upload-rate">未配置</div>' in home.text
    assert "门禁终端与摄像机" in home.text
    assert "鄂E88888" not in home.text

    await seed_passes(mine.tenant_id, [{"plate": "鄂A99999", "occurred_at": now + dt.timedelta(seconds=9)}])
    live = await client.get("/portal/live")
    assert live.status_code == 200
    assert "鄂A99999" in live.text  # the fragment the home page polls shows new passes
    assert '<div class="num" id="today-count">3</div>' in live.text
    assert "<html" not in live.text

    refused = await client.get("/portal/ledger", params={"decision": "refuse"})
    assert "鄂A54321" in refused.text
    assert "鄂A12345" not in refused.text
    by_plate = await client.get("/portal/ledger", params={"plate": "a123"})
    assert "鄂A12345" in by_plate.text
    assert "鄂A54321" not in by_plate.text
    bad_day = await client.get("/portal/ledger", params={"day": "28/11/2026"})
    assert "日期格式应为" in bad_day.text

    detail = await client.get(f"/portal/passes/{handle.pass_ids[1]}")
    assert detail.status_code == 200
    assert "鄂A54321" in detail.text
    assert 'data-decision="refuse"' in detail.text
    assert "更正记录" in detail.text
    assert f"/portal/passes/{handle.pass_ids[1]}" in refused.text  # ledger rows link to the record
    hidden = await client.get(f"/portal/passes/{foreign.pass_ids[0]}")
    assert hidden.status_code == 404
    assert "鄂E88888" not in hidden.text

    out = await client.get("/logout", follow_redirects=False)
    assert out.status_code == 303


async def test_correction_form_saves_a_new_row_and_shows_field_errors(
    client: Any, make_tenant: Any, make_user: Any, seed_passes: Any
) -> None:
    """A manager corrects a record from its page; bad input shows Chinese errors next to the field, nothing saved;
    a guard sees no form and is refused; another tenant's record stays 404."""
    import re  # noqa: PLC0415

    mine = await make_tenant("420107", name=f"更正测试钢铁{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    handle = await seed_passes(mine.tenant_id, [{"plate": "鄂A12345", "occurred_at": now}])
    url = f"/portal/passes/{handle.pass_ids[0]}"

    manager = await make_user(mine.tenant_id, Role.MANAGER)
    signed_in = await client.post("/login", data={"login": manager, "password": PASSWORD}, follow_redirects=False)
    assert signed_in.status_code == 303
    page = await client.get(url)
    assert '<form method="post"' in page.text
    assert '<label for="f-reason">' in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    token = csrf.group(1)

    bad = await client.post(
        f"{url}/corrections", data={"csrf": token, "reason": "", "plate": "鄂I1234", "net_kg": "很多"}
    )
    assert bad.status_code == 422
    assert 'data-field-error="reason"' in bad.text
    assert 'data-field-error="plate"' in bad.text
    assert 'data-field-error="net_kg"' in bad.text
    assert "必须填写更正原因" in bad.text
    assert 'value="鄂I1234"' in bad.text  # what was typed stays in the form
    assert "无更正。" in bad.text  # nothing saved

    stale = await client.post(f"{url}/corrections", data={"csrf": "forged", "reason": "x", "plate": "鄂A12346"})
    assert stale.status_code == 400
    assert "无更正。" in stale.text

    good = await client.post(
        f"{url}/corrections",
        data={"csrf": token, "reason": "核对照片后更正车牌", "plate": "鄂A12346", "net_kg": "31250.5"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    after = await client.get(url)
    assert "核对照片后更正车牌" in after.text
    assert manager in after.text
    assert "鄂A12346" in after.text

    await client.get("/logout")
    guard = await make_user(mine.tenant_id, Role.GUARD)
    await client.post("/login", data={"login": guard, "password": PASSWORD}, follow_redirects=False)
    assert '<form method="post"' not in (await client.get(url)).text
    refused = await client.post(f"{url}/corrections", data={"csrf": "x", "reason": "x", "void": "1"})
    assert refused.status_code == 403
    assert "当前账号无权更正记录" in refused.text
