"""Regulator access (issue 8): a 武汉市 account sees its region's enterprises, their passes, emergency
compliance and upload KPIs, and nothing of 宜昌市 or another province; enterprise users cannot use it."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from agent_protocol.events import VehicleSnapshot
from tenants.context import Role

pytestmark = pytest.mark.anyio


async def test_region_overview_drill_down_and_emergency_compliance(
    client, make_tenant, make_staff, make_user, login_as, seed_passes, superuser_url, regsim, connect_platform
) -> None:
    wuhan = await make_tenant(region_code="420102", name="江岸示范钢铁有限公司")
    yichang = await make_tenant(region_code="420502", name="宜昌示范水泥有限公司")
    beijing = await make_tenant(region_code="110101", name="北京示范焦化有限公司")
    await connect_platform(wuhan.tenant_id, regsim)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    events = [
        {"plate": "鄂A10001", "occurred_at": now - dt.timedelta(hours=2)},
        {"plate": "鄂A10002", "occurred_at": now - dt.timedelta(hours=1), "decision": "refuse"},
        # A 国四 heavy diesel truck, let in during an orange alert of 武汉市 (its agent's registry snapshot).
        {
            "plate": "鄂A10003",
            "occurred_at": now - dt.timedelta(minutes=30),
            "vehicle": VehicleSnapshot(category="transport", fuel="B", emission_stage="4", heavy=True),
        },
    ]
    await seed_passes(wuhan.tenant_id, events)
    for other in (yichang, beijing):
        await seed_passes(other.tenant_id, events[:1])
    conn = await asyncpg.connect(superuser_url)
    try:
        await conn.execute(
            "INSERT INTO region_alert (id, region_code, level, starts_at, ends_at, reason, source) "
            "VALUES ($1, '4201', 'orange', $2, $3, '武汉市橙色预警', 'platform')",
            uuid.uuid4(),
            now - dt.timedelta(hours=1, minutes=10),
            now + dt.timedelta(hours=5),
        )
    finally:
        await conn.close()

    regulator = await login_as(await make_staff("regulator", "4201"))
    listed = await client.get("/api/v1/regulator/enterprises", headers=regulator)
    assert listed.status_code == 200, listed.text
    by_id = {e["id"]: e for e in listed.json()}  # the database is shared with other tests of this worker
    assert str(wuhan.tenant_id) in by_id
    assert str(yichang.tenant_id) not in by_id
    assert str(beijing.tenant_id) not in by_id
    assert all(e["region_code"].startswith("4201") for e in by_id.values())
    mine = by_id[str(wuhan.tenant_id)]
    assert (mine["passes_30d"], mine["refused_30d"], mine["region_code"]) == (3, 1, "420102")
    assert mine["upload"]["queued"] == 3
    assert mine["upload"]["delivered"] == 0

    base = f"/api/v1/regulator/enterprises/{wuhan.tenant_id}"
    passes = (await client.get(f"{base}/passes", headers=regulator)).json()
    assert [p["plate"] for p in passes["items"]] == ["鄂A10003", "鄂A10002", "鄂A10001"]
    refused = (await client.get(f"{base}/passes", params={"decision": "refuse"}, headers=regulator)).json()
    assert [p["plate"] for p in refused["items"]] == ["鄂A10002"]
    violations = (await client.get(f"{base}/emergency-compliance", headers=regulator)).json()
    assert [p["plate"] for p in violations["items"]] == ["鄂A10003"]
    uplink = (await client.get(f"{base}/uplink", headers=regulator)).json()
    assert (uplink["configured"], uplink["total"], uplink["pending"]) == (True, 3, 3)
    bad = await client.get(f"{base}/passes", params={"from": "2026-13-01"}, headers=regulator)
    assert bad.status_code == 422

    for other in (yichang, beijing):
        for tail in ("passes", "emergency-compliance", "uplink"):
            response = await client.get(f"/api/v1/regulator/enterprises/{other.tenant_id}/{tail}", headers=regulator)
            assert response.status_code == 404, (tail, response.text)

    province = await login_as(await make_staff("regulator", "42"))
    seen = {e["id"] for e in (await client.get("/api/v1/regulator/enterprises", headers=province)).json()}
    assert {str(wuhan.tenant_id), str(yichang.tenant_id)} <= seen
    assert str(beijing.tenant_id) not in seen
    admin = await login_as(wuhan.admin_login)
    assert (await client.get("/api/v1/regulator/enterprises", headers=admin)).status_code == 403
    viewer = await login_as(await make_user(wuhan.tenant_id, Role.VIEWER))
    assert (await client.get(f"{base}/passes", headers=viewer)).status_code == 403


async def test_regulator_role_cannot_write_in_sql(db_urls) -> None:
    """Directly in SQL as the regulator role: every write is refused, whatever the region setting."""
    conn = await asyncpg.connect(db_urls.regulator_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("SELECT set_config('app.region_code', '4201', false)")
        for sql in (
            "UPDATE pass_event SET plate = '鄂A00000'",
            "DELETE FROM pass_event",
            (
                "INSERT INTO blacklist_entry (tenant_id, id, plate, reason, source) SELECT id, gen_random_uuid(), "
                "'鄂A00000', 'x', 'regulator' FROM tenant LIMIT 1"
            ),
            "UPDATE uplink_outbox SET state = 'delivered'",
            "DELETE FROM tenant",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()
