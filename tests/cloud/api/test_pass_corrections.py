"""Pass corrections (更正): new rows with who and why, a timeline on the record, errors per field, roles, tenants."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from tenants.context import Role

pytestmark = pytest.mark.anyio
UTC = dt.UTC

EVENTS = [
    {"plate": "鄂A10001", "occurred_at": dt.datetime(2026, 11, 27, 2, 0, tzinfo=UTC), "direction": "in"},
    {"plate": "鄂B20002", "occurred_at": dt.datetime(2026, 11, 27, 3, 0, tzinfo=UTC), "direction": "in"},
]


async def test_corrections_are_new_rows_with_who_and_why(client, make_tenant, login_as, seed_passes, superuser_url):
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    headers = await login_as(tenant.admin_login)
    pass_id = ledger.pass_ids[0]

    first = await client.post(
        f"/api/v1/passes/{pass_id}/corrections",
        json={
            "reason": "车牌识别错误，核对照片后更正",
            "plate": "鄂a·10007",
            "cargo_name": "煤炭",
            "net_kg": "31250.5",
        },
        headers=headers,
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["plate"], body["cargo_name"], body["net_kg"], body["void"]) == ("鄂A10007", "煤炭", "31250.5", False)
    assert body["created_by_login"] == tenant.admin_login
    second = await client.post(
        f"/api/v1/passes/{pass_id}/corrections", json={"reason": "重复抓拍", "void": True}, headers=headers
    )
    assert second.status_code == 201, second.text

    detail = (await client.get(f"/api/v1/passes/{pass_id}", headers=headers)).json()
    assert detail["event"]["plate"] == "鄂A10001"  # the event itself never changes
    assert [c["reason"] for c in detail["corrections"]] == ["车牌识别错误，核对照片后更正", "重复抓拍"]
    assert [c["void"] for c in detail["corrections"]] == [False, True]

    audit = (await client.get("/api/v1/audit-log?limit=50", headers=headers)).json()["items"]
    assert {"pass.corrected", "pass.voided"} <= {e["action"] for e in audit}

    # Append-only for the application role: the table refuses UPDATE and DELETE.
    conn = await asyncpg.connect(superuser_url)
    try:
        await conn.execute("SET ROLE ecogate_app")
        await conn.execute("SELECT set_config('app.tenant_id', $1, false)", str(tenant.tenant_id))
        for sql in ("UPDATE pass_correction SET reason = 'x'", "DELETE FROM pass_correction"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_bad_corrections_name_the_field_and_write_nothing(client, make_tenant, login_as, seed_passes):
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    headers = await login_as(tenant.admin_login)
    url = f"/api/v1/passes/{ledger.pass_ids[1]}/corrections"
    cases = [
        ({"reason": "  ", "plate": "鄂A10007"}, "reason"),
        ({"reason": "更正", "plate": "鄂I1234"}, "plate"),
        ({"reason": "更正", "plate_colour": "purple"}, "plate_colour"),
        ({"reason": "更正", "net_kg": "-5"}, "net_kg"),
        ({"reason": "更正", "net_kg": "很多"}, "net_kg"),
        ({"reason": "更正", "vehicle_id": "01900000-0000-7000-8000-000000000000"}, "vehicle_id"),
        ({"reason": "更正"}, "changes"),
    ]
    for body, field in cases:
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert field in {e["field"] for e in problem["errors"]}, problem
        assert all("\u4e00" <= ch <= "\u9fff" for ch in problem["errors"][0]["message"][:1]) or problem["errors"]
    unknown = await client.post(url, json={"reason": "更正", "colour": "blue"}, headers=headers)
    assert unknown.status_code == 400
    detail = (await client.get(f"/api/v1/passes/{ledger.pass_ids[1]}", headers=headers)).json()
    assert detail["corrections"] == []


async def test_roles_and_tenants(client, make_tenant, make_user, make_staff, login_as, seed_passes):
    tenant = await make_tenant()
    other = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, EVENTS)
    url = f"/api/v1/passes/{ledger.pass_ids[0]}/corrections"
    body = {"reason": "更正车牌", "plate": "鄂A10007"}

    guard = await login_as(await make_user(tenant.tenant_id, Role.GUARD))
    assert (await client.post(url, json=body, headers=guard)).status_code == 403
    outsider = await login_as(other.admin_login)
    assert (await client.post(url, json=body, headers=outsider)).status_code == 404
    regulator = await login_as(await make_staff("regulator", "42"))
    assert (await client.post(url, json=body, headers=regulator)).status_code == 403
    manager = await login_as(await make_user(tenant.tenant_id, Role.MANAGER))
    assert (await client.post(url, json=body, headers=manager)).status_code == 201
