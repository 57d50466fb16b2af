"""Pass events, weighings and the audit log: filters, China-time date ranges, keyset pages, roles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tenants.context import Role

pytestmark = pytest.mark.anyio
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


EVENTS = [
    # 2026-11-27 23:59 China time: the day before.
    {"plate": "鄂A10001", "occurred_at": at("2026-11-27T15:59:00"), "direction": "in", "weight_kg": Decimal("31500.5")},
    # 2026-11-28 00:30 China time (still 11-27 in UTC).
    {"plate": "鄂A10001", "occurred_at": at("2026-11-27T16:30:00"), "direction": "out", "weight_kg": Decimal(15200)},
    {"plate": "鄂B20002", "occurred_at": at("2026-11-28T02:00:00"), "decision": "refuse"},
    {"plate": "鄂B20002", "occurred_at": at("2026-11-28T03:00:00"), "trigger": "manual_release"},
    {"plate": "鄂AD12345", "occurred_at": at("2026-11-28T15:59:59"), "plate_colour": "green"},
    # 2026-11-29 00:00 China time.
    {"plate": "鄂C30003", "occurred_at": at("2026-11-28T16:00:00"), "direction": "out"},
]


async def test_filters_and_china_dates(client, make_tenant, login_as, seed_passes) -> None:
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    headers = await login_as(tenant.admin_login)

    async def plates(query: str) -> list[str]:
        response = await client.get(f"/api/v1/passes?{query}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        return [e["plate"] for e in body["items"]]

    assert await plates("") == ["鄂C30003", "鄂AD12345", "鄂B20002", "鄂B20002", "鄂A10001", "鄂A10001"]
    assert await plates("from=2026-11-28&to=2026-11-28") == ["鄂AD12345", "鄂B20002", "鄂B20002", "鄂A10001"]
    assert await plates("to=2026-11-27") == ["鄂A10001"]
    assert await plates("from=2026-11-29") == ["鄂C30003"]
    assert await plates("from=2026-11-28T10:00:00&to=2026-11-28T10:30:00%2B08:00") == ["鄂B20002"]
    assert await plates("plate=鄂b·2000") == ["鄂B20002", "鄂B20002"]
    assert await plates("direction=out") == ["鄂C30003", "鄂A10001"]
    assert await plates(f"lane_id={ledger.lane_out}") == ["鄂C30003", "鄂A10001"]
    assert await plates(f"site_id={ledger.site_id}&decision=refuse") == ["鄂B20002"]
    assert await plates("trigger=manual_release") == ["鄂B20002"]
    first = (await client.get("/api/v1/passes?limit=1", headers=headers)).json()["items"][0]
    assert first["occurred_at"].startswith("2026-11-28T16:00:00")

    for query, status, field in (
        ("from=28/11/2026", 422, "from"),
        ("from=2026-11-29&to=2026-11-28", 422, "to"),
        ("direction=sideways", 400, "direction"),
        ("decision=maybe", 400, "decision"),
        ("lane_id=not-a-uuid", 400, "lane_id"),
        ("limit=501", 400, "limit"),
        ("plate=" + "鄂" * 17, 400, "plate"),
        ("cursor=bm9wZQ", 400, "cursor"),
    ):
        response = await client.get(f"/api/v1/passes?{query}", headers=headers)
        assert response.status_code == status, (query, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (query, response.json())


async def test_keyset_pages_are_stable(client, make_tenant, login_as, seed_passes) -> None:
    tenant = await make_tenant()
    await seed_passes(tenant.tenant_id, EVENTS)
    headers = await login_as(tenant.admin_login)
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/api/v1/passes?{query}", headers=headers)).json()
        assert page["total"] == len(EVENTS)
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = (await client.get("/api/v1/passes?limit=100", headers=headers)).json()["items"]
    assert seen == [e["id"] for e in everything]
    by_offset = (await client.get("/api/v1/passes?limit=2&offset=4", headers=headers)).json()
    assert [e["id"] for e in by_offset["items"]] == seen[4:6]
    assert by_offset["next_cursor"] is None
    first = (await client.get("/api/v1/passes?limit=2", headers=headers)).json()
    mixed = await client.get(f"/api/v1/passes?offset=1&cursor={first['next_cursor']}", headers=headers)
    assert mixed.status_code == 400
    assert mixed.json()["errors"][0]["field"] == "offset"


async def test_pass_detail_and_weighings(client, make_tenant, login_as, seed_passes) -> None:
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    headers = await login_as(tenant.admin_login)
    detail = (await client.get(f"/api/v1/passes/{ledger.pass_ids[0]}", headers=headers)).json()
    assert detail["event"]["plate"] == "鄂A10001"
    assert detail["payload"]["seq"] == 1  # the event as the agent sent it
    assert [w["weight_kg"] for w in detail["weighings"]] == ["31500.5"]
    weighings = (await client.get("/api/v1/weighings", headers=headers)).json()
    assert weighings["total"] == 2
    assert [w["pass_event_id"] for w in weighings["items"]] == [str(ledger.pass_ids[1]), str(ledger.pass_ids[0])]
    day = (await client.get("/api/v1/weighings?from=2026-11-28&to=2026-11-28", headers=headers)).json()
    assert [w["weight_kg"] for w in day["items"]] == ["15200.0"]
    linked = await client.get(f"/api/v1/weighings?pass_event_id={ledger.pass_ids[0]}&cargo_name=煤", headers=headers)
    assert linked.json()["total"] == 1
    assert (await client.get("/api/v1/weighings?from=yesterday", headers=headers)).status_code == 422

    other = await login_as((await make_tenant()).admin_login)
    assert (await client.get(f"/api/v1/passes/{ledger.pass_ids[0]}", headers=other)).status_code == 404
    assert (await client.get("/api/v1/passes", headers=other)).json()["total"] == 0
    assert (await client.get("/api/v1/weighings", headers=other)).json()["total"] == 0


async def test_audit_log_filters_and_roles(client, make_tenant, make_user, make_staff, login_as) -> None:
    tenant = await make_tenant()
    admin = await login_as(tenant.admin_login)
    site = (await client.post("/api/v1/sites", json={"name": "一号厂区"}, headers=admin)).json()
    patched = await client.patch(f"/api/v1/sites/{site['id']}", json={"name": "二号厂区"}, headers=admin)
    assert patched.status_code == 200, patched.text
    await client.post("/api/v1/sites", json={"name": "三号厂区"}, headers=admin)

    manager = await login_as(await make_user(tenant.tenant_id, Role.MANAGER))
    log = (await client.get("/api/v1/audit-log", headers=manager)).json()
    assert [a["action"] for a in log["items"]] == ["site.created", "site.updated", "site.created"]
    assert log["items"][0]["actor_login"] == tenant.admin_login
    assert (await client.get("/api/v1/audit-log?action=site.created", headers=manager)).json()["total"] == 2
    assert (await client.get("/api/v1/audit-log?action=site.", headers=manager)).json()["total"] == 3
    one = (await client.get(f"/api/v1/audit-log?object_id={site['id']}", headers=manager)).json()
    assert [a["action"] for a in one["items"]] == ["site.updated", "site.created"]
    assert one["items"][0]["detail"] == {"name": "二号厂区"}
    page = (await client.get("/api/v1/audit-log?limit=1&offset=1", headers=manager)).json()
    assert (page["total"], len(page["items"])) == (3, 1)
    assert (await client.get("/api/v1/audit-log?from=2000-01-01&to=2000-01-02", headers=manager)).json()["total"] == 0
    bad = await client.get("/api/v1/audit-log?to=tomorrow", headers=manager)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "to"

    for login in (
        await make_user(tenant.tenant_id, Role.VIEWER),
        await make_user(tenant.tenant_id, Role.GUARD),
        await make_staff("regulator", "42"),
    ):
        assert (await client.get("/api/v1/audit-log", headers=await login_as(login))).status_code == 403
