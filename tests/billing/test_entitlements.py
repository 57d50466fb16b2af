"""Issue 22: every gated management action is refused beyond the plan (402, Chinese, upgrade link) and in
the restricted stage; the ledger, the csv/xlsx exports and the regulator uplink settings never are."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from cloud.billing import scheduler, service
from cloud.billing.entitlements import Action, EntitlementError, require
from cloud.db.engine import Database
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
STANDARD_LANE_MONTH = "01930000-0000-7000-8000-000000000101"
PLATFORM = {
    "base_url": "http://127.0.0.1:9/platform",
    "enterprise_code": "E0001",
    "username": "u",
    "password": "p",
}


def _refused(answer: Any, code: str = "plan_limit_reached") -> None:
    assert answer.status_code == 402, answer.text
    problem = answer.json()
    assert problem["code"] == code
    assert "/portal/billing" in problem["detail"]
    assert answer.headers["link"] == '</portal/billing>; rel="payment"'
    assert not any("a" <= ch <= "z" for ch in problem["title"]), problem["title"]  # a Chinese title


async def _export(client: AsyncTestClient[Litestar], headers: dict[str, str], tenant_id: uuid.UUID, fmt: str) -> Any:
    return await client.post(
        f"/api/v1/enterprises/{tenant_id}/reports/exports",
        json={"report": "transport_passes", "format": fmt, "period": "day", "date": "2026-12-01"},
        headers=headers,
    )


async def test_each_gated_action_stops_at_the_plan_and_when_restricted(
    client, billing, make_tenant, login_as, database: Database
) -> None:
    tenant = await make_tenant(region_code="330106")
    headers = await login_as(tenant.admin_login)
    # The trial tries everything (the richest plan's limits: pdf included).
    trial = (await client.get("/api/v1/billing", headers=headers)).json()
    assert trial["limits"]["export_formats"] == ["csv", "pdf", "xlsx"]
    assert (await _export(client, headers, tenant.tenant_id, "pdf")).status_code == 202
    # 标准版 by lane, 2 lanes bought: 1 site, 2 lanes, 1 agent, csv/xlsx, 1 regulator profile.
    answer = await client.post(
        "/api/v1/billing/checkout", json={"price_id": STANDARD_LANE_MONTH, "quantity": 2}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    sub = await billing.fake.complete_checkout(answer.json()["url"].rsplit("/", 1)[1])
    paid = (await client.get("/api/v1/billing", headers=headers)).json()
    assert (paid["status"], paid["limits"]["lanes"], paid["limits"]["sites"]) == ("active", 2, 1)
    site = await client.post("/api/v1/sites", json={"name": "一厂"}, headers=headers)
    assert site.status_code == 201, site.text
    _refused(await client.post("/api/v1/sites", json={"name": "二厂"}, headers=headers))
    site_id = site.json()["id"]
    gate = await client.post(f"/api/v1/sites/{site_id}/gates", json={"code": "G1", "name": "东门"}, headers=headers)
    assert gate.status_code == 201, gate.text
    lanes = f"/api/v1/gates/{gate.json()['id']}/lanes"
    for code, direction in (("L1", "in"), ("L2", "out")):
        answer = await client.post(lanes, json={"code": code, "name": code, "direction": direction}, headers=headers)
        assert answer.status_code == 201, answer.text
    _refused(await client.post(lanes, json={"code": "L3", "name": "L3", "direction": "in"}, headers=headers))
    codes = "/api/v1/agents/enrollment-codes"
    first = await client.post(codes, json={"site_id": site_id, "name": "1号岗亭"}, headers=headers)
    assert first.status_code == 201, first.text
    _refused(await client.post(codes, json={"site_id": site_id, "name": "2号岗亭"}, headers=headers))
    _refused(await _export(client, headers, tenant.tenant_id, "pdf"))
    for fmt in ("csv", "xlsx"):
        assert (await _export(client, headers, tenant.tenant_id, fmt)).status_code == 202
    platform = await client.put("/api/v1/uplink/platform", json=PLATFORM, headers=headers)
    assert platform.status_code == 200, platform.text
    other = {**PLATFORM, "profile": "tianjin"}
    assert (await client.put("/api/v1/uplink/platform", json=other, headers=headers)).status_code == 200
    actor = Principal(user_id=uuid.UUID(int=9), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        await require(session, actor, Action.REGULATOR_PROFILE, profile="tianjin", adds_profile=True)  # held
        with pytest.raises(EntitlementError) as refused:
            await require(session, actor, Action.REGULATOR_PROFILE, profile="hengshui", adds_profile=True)
    assert refused.value.status == 402

    # The renewal's card is declined; weeks later the account is restricted.
    await billing.fake.renew(sub["id"], fail=True)
    await service.sweep(database, dt.datetime.now(dt.UTC) + dt.timedelta(days=20))
    billing = (await client.get("/api/v1/billing", headers=headers)).json()
    assert billing["stage"] == "restricted", billing
    async with database.session(actor) as session, session.begin():
        shown = await service.banner(session, tenant.tenant_id)  # for any enterprise page
    assert shown is not None
    assert shown[0] == "restricted"
    assert "门禁放行、电子台账" in shown[1]
    stop = asyncio.Event()
    sweeping = asyncio.create_task(scheduler.run(database, stop, every_s=0.05))  # the in-process schedule
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(sweeping, 30)
    assert (await client.get("/api/v1/billing", headers=headers)).json()["stage"] == "restricted"
    _refused(await client.post("/api/v1/sites", json={"name": "二厂"}, headers=headers), "billing_restricted")
    lane = {"code": "L9", "name": "L9", "direction": "in"}
    _refused(await client.post(lanes, json=lane, headers=headers), "billing_restricted")
    _refused(
        await client.post(codes, json={"site_id": site_id, "name": "3号岗亭"}, headers=headers), "billing_restricted"
    )
    _refused(await _export(client, headers, tenant.tenant_id, "pdf"), "billing_restricted")
    # Never gated: the tenant's own ledger and its csv/xlsx exports, the regulator platform settings.
    for fmt in ("csv", "xlsx"):
        assert (await _export(client, headers, tenant.tenant_id, fmt)).status_code == 202
    assert (await client.get("/api/v1/passes", headers=headers)).status_code == 200
    assert (await client.put("/api/v1/uplink/platform", json=PLATFORM, headers=headers)).status_code == 200
    # The portal's enrollment form is gated like the API (it does not go through the API).
    client.cookies.clear()
    signed = await client.post(
        "/login", data={"login": tenant.admin_login, "password": "Passw0rd!2024"}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    page = await client.get("/portal/agents")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert token is not None, page.text[:500]
    form = {"csrf": token.group(1), "site_id": site_id, "name": "4号岗亭", "ttl_hours": "24"}
    refused = await client.post("/portal/agents/enrollment-codes", data=form)
    assert refused.status_code == 402, refused.text[:500]
    assert "/portal/billing" in refused.text
    assert "注册码已生成" not in refused.text
