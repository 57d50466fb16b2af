"""Enterprise agents pages (issue 9): health list, enrollment codes, revoke/rotate, lane ROI over a snapshot.

Real PostgreSQL under RLS, the real app in-process over ASGI. Bad input shows the Chinese message next
to the field and writes nothing (rows counted before and after); roles are enforced like the JSON
API (a guard gets a Chinese 403 page); every form needs the session's CSRF token. The snapshot answer
is recorded with the hub's own ``record_result`` (the end-to-end path with a real agent over TCP is
tests/portal/test_enterprise_agents_sync.py).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select, update

from agent_protocol import messages as msg
from cloud.blobs import BlobStore
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub import commands
from cloud.hub.credentials import AgentIdentity
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


_cloud = _load("_portal_agents_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
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


async def _set_online(database: Database, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    who = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="beat")
    async with database.session(who) as session, session.begin():
        await session.execute(
            update(m.Agent)
            .where(m.Agent.id == agent_id)
            .values(
                last_seen_at=func.now(),
                health={
                    "queue_depth": 3,
                    "oldest_unsent_age_s": 42.0,
                    "disk_free_bytes": 52 * 1024**3,
                    "devices": [{"device": "in-1-barrier", "ok": False, "detail": "串口无响应"}],
                    "alarms": ["道闸通信中断"],
                    "clock_skew_s": 95.0,
                    "clock_skew": True,
                    "queue_growing": False,
                },
            )
        )


async def test_agents_list_enrollment_code_and_roles(
    client: Any, make_tenant: Any, make_user: Any, seed_passes: Any, database: Database
) -> None:
    """Health shows; bad code form shows field errors and writes nothing; a good one shows the command once."""
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, [])
    await _set_online(database, tenant.tenant_id, ledger.agent_id)

    guard = await make_user(tenant.tenant_id, Role.GUARD)
    await _sign_in(client, guard)
    denied = await client.get("/portal/agents")
    assert denied.status_code == 403
    assert "无权查看或管理门禁终端" in denied.text

    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    await _sign_in(client, manager)
    page = await client.get("/portal/agents")
    assert page.status_code == 200
    assert "agent-1" in page.text
    assert 'data-status="online"' in page.text
    assert "时钟偏差 95.0 秒" in page.text
    assert "in-1-barrier 异常" in page.text
    assert "生成注册码" not in page.text  # managers see health, only admins and installers manage
    forbidden = await client.post("/portal/agents/enrollment-codes", data={"site_id": str(ledger.site_id), "name": "x"})
    assert forbidden.status_code == 403

    await _sign_in(client, tenant.admin_login)
    before = await _count(database, tenant.tenant_id, m.AgentEnrollmentCode)
    stale = await client.post("/portal/agents/enrollment-codes", data={"site_id": str(ledger.site_id), "name": "A"})
    assert stale.status_code == 400
    assert "页面已过期" in stale.text
    csrf = await _csrf(client, "/portal/agents")
    bad = await client.post(
        "/portal/agents/enrollment-codes", data={"csrf": csrf, "site_id": "", "name": "", "ttl_hours": "999"}
    )
    assert bad.status_code == 422
    assert 'data-field-error="site_id">请选择厂区' in bad.text
    assert 'data-field-error="name">请填写代理名称' in bad.text
    assert 'data-field-error="ttl_hours">有效期应为 1–168 小时的整数' in bad.text
    assert 'value="999"' in bad.text  # the typed value is kept
    assert await _count(database, tenant.tenant_id, m.AgentEnrollmentCode) == before

    good = await client.post(
        "/portal/agents/enrollment-codes",
        data={"csrf": csrf, "site_id": str(ledger.site_id), "name": "2号门岗亭", "ttl_hours": "12"},
    )
    assert good.status_code == 200
    assert "注册码已生成" in good.text
    code = re.search(r'<code id="enroll-code"[^>]*>([^<]+)</code>', good.text)
    assert code is not None
    assert f"ecogate agent enroll {code.group(1)} --cloud http" in good.text
    assert await _count(database, tenant.tenant_id, m.AgentEnrollmentCode) == before + 1
    again = await client.get("/portal/agents")
    assert code.group(1) not in again.text  # shown once
    assert "未使用的注册码" in again.text
    assert "2号门岗亭" in again.text

    # Another tenant's agent is invisible: same 404 as a missing one.
    other = await make_tenant()
    foreign = await seed_passes(other.tenant_id, [])
    assert (await client.get(f"/portal/agents/{foreign.agent_id}")).status_code == 404


async def test_revoke_and_rotate(client: Any, make_tenant: Any, seed_passes: Any, database: Database) -> None:
    """Revoking needs a reason (field error, nothing changed); rotate shows the new credential once."""
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, [])
    await _sign_in(client, tenant.admin_login)
    path = f"/portal/agents/{ledger.agent_id}"
    csrf = await _csrf(client, path)

    rotated = await client.post(f"{path}/rotate", data={"csrf": csrf})
    assert rotated.status_code == 200
    assert "新凭据已生成" in rotated.text
    assert f'value="{ledger.agent_id}.' in rotated.text

    empty = await client.post(f"{path}/revoke", data={"csrf": csrf, "reason": " "})
    assert empty.status_code == 422
    assert 'data-field-error="reason">请填写吊销原因' in empty.text
    who = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(who) as session, session.begin():
        assert await session.scalar(select(m.Agent.status).where(m.Agent.id == ledger.agent_id)) == "active"

    done = await client.post(f"{path}/revoke", data={"csrf": csrf, "reason": "门岗电脑更换"}, follow_redirects=False)
    assert done.status_code == 303
    shown = await client.get(done.headers["location"])
    assert "代理凭据已吊销" in shown.text
    assert 'data-status="revoked"' in shown.text
    async with database.session(who) as session, session.begin():
        assert await session.scalar(select(m.Agent.status).where(m.Agent.id == ledger.agent_id)) == "revoked"


def _jpeg(width: int, height: int) -> bytes:
    frame = np.full((height, width, 3), 90, dtype=np.uint8)
    cv2.rectangle(frame, (100, 80), (300, 200), (0, 200, 255), -1)
    ok, data = cv2.imencode(".jpg", frame)
    assert ok
    return bytes(data)


async def test_roi_over_snapshot(
    client: Any, make_tenant: Any, seed_passes: Any, database: Database, settings: Any
) -> None:
    """Offline: no snapshot (Chinese message); online: snapshot command; bad ROI field errors; good ROI saved."""
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, [])
    await _sign_in(client, tenant.admin_login)
    page = f"/portal/agents/{ledger.agent_id}/lanes/{ledger.lane_in}"
    csrf = await _csrf(client, page)
    commands_before = await _count(database, tenant.tenant_id, m.AgentCommand)

    offline = await client.post(f"{page}/snapshot", data={"csrf": csrf})
    assert offline.status_code == 409
    assert "代理当前离线，无法抓拍画面" in offline.text
    assert await _count(database, tenant.tenant_id, m.AgentCommand) == commands_before

    no_shot = await client.post(f"{page}/roi", data={"csrf": csrf, "x1": "1", "y1": "1", "x2": "50", "y2": "50"})
    assert no_shot.status_code == 409
    assert "请先抓拍车道画面" in no_shot.text

    await _set_online(database, tenant.tenant_id, ledger.agent_id)
    asked = await client.post(f"{page}/snapshot", data={"csrf": csrf}, follow_redirects=False)
    assert asked.status_code == 303
    waiting = await client.get(asked.headers["location"])
    assert "正在等待终端上传画面" in waiting.text
    who = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(who) as session, session.begin():
        command = await session.scalar(select(m.AgentCommand).where(m.AgentCommand.name == "camera_snapshot"))
    assert command is not None
    assert command.args["lane"] == "L1"

    # What the hub does with the agent's answer: the blob is stored, then the result names it.
    jpeg = _jpeg(640, 360)
    digest = BlobStore(settings.blobs.root).put(jpeg)
    agent = AgentIdentity(agent_id=ledger.agent_id, tenant_id=tenant.tenant_id, site_id=ledger.site_id)
    async with database.session(agent.principal) as session, session.begin():
        session.add(m.Blob(tenant_id=tenant.tenant_id, sha256=digest, size_bytes=len(jpeg), content_type="image/jpeg"))
    await commands.record_result(
        database, agent, msg.CommandResult(command_id=str(command.id), ok=True, message="已抓拍", blob_sha256=digest)
    )
    shown = await client.get(page)
    assert f'src="/api/v1/blobs/{digest}"' in shown.text
    assert "画面 640×360 像素" in shown.text
    image = await client.get(f"/api/v1/blobs/{digest}")
    assert image.status_code == 200
    assert image.content == jpeg

    rois_before = await _count(database, tenant.tenant_id, m.LaneRoi)
    commands_before = await _count(database, tenant.tenant_id, m.AgentCommand)
    bad = await client.post(f"{page}/roi", data={"csrf": csrf, "x1": "abc", "y1": "-5", "x2": "700", "y2": "3"})
    assert bad.status_code == 422
    assert 'data-field-error="x1">坐标应为整数像素' in bad.text
    assert 'data-field-error="y1">坐标应在图片范围内（0–360' in bad.text
    assert 'data-field-error="x2">坐标应在图片范围内（0–640' in bad.text
    assert 'value="abc"' in bad.text
    inverted = await client.post(f"{page}/roi", data={"csrf": csrf, "x1": "300", "y1": "10", "x2": "200", "y2": "300"})
    assert 'data-field-error="x2">右边界应大于左边界' in inverted.text
    assert await _count(database, tenant.tenant_id, m.LaneRoi) == rois_before
    assert await _count(database, tenant.tenant_id, m.AgentCommand) == commands_before

    saved = await client.post(
        f"{page}/roi", data={"csrf": csrf, "x1": "90", "y1": "70", "x2": "320", "y2": "220"}, follow_redirects=False
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("done=roi_sent")
    after = await client.get(saved.headers["location"])
    assert "识别区域已保存并已发送给代理" in after.text
    assert "当前：90,70,320,220" in after.text
    async with database.session(who) as session, session.begin():
        roi = await session.scalar(select(m.LaneRoi))
        sent = await session.scalar(select(m.AgentCommand).where(m.AgentCommand.name == "set_lane_roi"))
    assert roi is not None
    assert (roi.x1, roi.y1, roi.x2, roi.y2, roi.image_width, roi.image_height) == (90, 70, 320, 220, 640, 360)
    assert roi.snapshot_sha256 == digest
    assert roi.created_by_login == tenant.admin_login
    assert sent is not None
    assert sent.expires_at is None  # kept for an offline agent
    assert sent.args == {"lane": "L1", "lane_id": str(ledger.lane_in), "x1": 90, "y1": 70, "x2": 320, "y2": 220}
    assert roi.command_id == sent.id

    # Offline now: the ROI is still saved and kept for delivery, and the page says so.
    async with database.session(who) as session, session.begin():
        await session.execute(
            update(m.Agent)
            .where(m.Agent.id == ledger.agent_id)
            .values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
        )
    kept = await client.post(
        f"{page}/roi", data={"csrf": csrf, "x1": "0", "y1": "0", "x2": "640", "y2": "360"}, follow_redirects=False
    )
    assert kept.headers["location"].endswith("done=roi_kept")
    view = await client.get(kept.headers["location"])
    assert "代理当前离线" in view.text
    assert "将在其重新连接云端时自动下发" in view.text
    assert await _count(database, tenant.tenant_id, m.LaneRoi) == rois_before + 2


async def test_lane_roi_json_api(
    client: Any, make_tenant: Any, make_user: Any, login_as: Any, seed_passes: Any, database: Database, settings: Any
) -> None:
    """The JSON API calls the same domain service: offline 409, snapshot, field errors, saved ROI, roles."""
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, [])
    admin = await login_as(tenant.admin_login)
    base = f"/api/v1/agents/{ledger.agent_id}/lanes/{ledger.lane_in}"
    offline = await client.post(f"{base}/snapshot", headers=admin)
    assert offline.status_code == 409
    assert offline.json()["code"] == "agent_offline"
    await _set_online(database, tenant.tenant_id, ledger.agent_id)
    asked = await client.post(f"{base}/snapshot", headers=admin)
    assert asked.status_code == 201, asked.text
    none_yet = await client.post(f"{base}/roi", headers=admin, json={"x1": 1, "y1": 1, "x2": 50, "y2": 50})
    assert none_yet.status_code == 409
    assert none_yet.json()["code"] == "snapshot_missing"

    jpeg = _jpeg(320, 240)
    digest = BlobStore(settings.blobs.root).put(jpeg)
    agent = AgentIdentity(agent_id=ledger.agent_id, tenant_id=tenant.tenant_id, site_id=ledger.site_id)
    async with database.session(agent.principal) as session, session.begin():
        session.add(m.Blob(tenant_id=tenant.tenant_id, sha256=digest, size_bytes=len(jpeg), content_type="image/jpeg"))
    await commands.record_result(
        database,
        agent,
        msg.CommandResult(command_id=asked.json()["command_id"], ok=True, message="已抓拍", blob_sha256=digest),
    )
    state = (await client.get(f"{base}/roi", headers=admin)).json()
    assert state["snapshot"]["sha256"] == digest
    assert state["current"] is None

    bad = await client.post(f"{base}/roi", headers=admin, json={"x1": 10, "y1": 10, "x2": 400, "y2": 12})
    assert bad.status_code == 422
    fields = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert fields["x2"].startswith("坐标应在图片范围内（0–320")
    assert fields["y2"].startswith("下边界应大于上边界")
    good = await client.post(f"{base}/roi", headers=admin, json={"x1": 10, "y1": 20, "x2": 300, "y2": 200})
    assert good.status_code == 201, good.text
    assert good.json()["image_width"] == 320
    state = (await client.get(f"{base}/roi", headers=admin)).json()
    assert state["current"]["x2"] == 300
    assert len(state["history"]) == 1

    guard = await login_as(await make_user(tenant.tenant_id, Role.GUARD))
    assert (
        await client.post(f"{base}/roi", headers=guard, json={"x1": 1, "y1": 1, "x2": 50, "y2": 50})
    ).status_code == 403
