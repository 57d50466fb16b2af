"""Login and the site/gate/lane API, including tenant isolation and Problem Details errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_login_and_me(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    me = (await client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["tenant_id"] == str(tenant.tenant_id)
    assert me["role"] == "tenant_admin"
    assert me["role_label"] == "企业管理员"


async def test_login_wrong_password_is_problem(client, make_tenant) -> None:
    tenant = await make_tenant()
    response = await client.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": "wrong"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "login_failed"
    assert response.json()["detail"] == "账号或密码错误"


async def test_requests_without_token_are_401(client) -> None:
    response = await client.get("/api/v1/sites")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_site_gate_lane_crud_and_isolation(client, make_tenant, login_as) -> None:
    a, b = await make_tenant(), await make_tenant()
    ha, hb = await login_as(a.admin_login), await login_as(b.admin_login)
    site = (await client.post("/api/v1/sites", json={"name": "一号厂区"}, headers=ha)).json()
    gate = (
        await client.post(f"/api/v1/sites/{site['id']}/gates", json={"code": "G1", "name": "东门"}, headers=ha)
    ).json()
    lane = (
        await client.post(
            f"/api/v1/gates/{gate['id']}/lanes", json={"code": "L1", "name": "东门入口", "direction": "in"}, headers=ha
        )
    ).json()
    assert lane["direction"] == "in"
    assert (await client.get("/api/v1/sites", headers=ha)).json()["total"] == 1
    # Tenant B sees nothing of A's and cannot change it.
    assert (await client.get("/api/v1/sites", headers=hb)).json()["total"] == 0
    assert (await client.get(f"/api/v1/sites/{site['id']}", headers=hb)).status_code == 404
    assert (await client.patch(f"/api/v1/lanes/{lane['id']}", json={"name": "x"}, headers=hb)).status_code == 404
    assert (
        await client.post(f"/api/v1/sites/{site['id']}/gates", json={"code": "G9", "name": "x"}, headers=hb)
    ).status_code == 404
    assert (await client.get(f"/api/v1/lanes/{lane['id']}", headers=ha)).json()["name"] == "东门入口"


async def test_bad_input_is_problem_and_writes_nothing(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    for body in ({"name": 12}, {"name": "x" * 101}, {"name": "a", "unknown": 1}, {}):
        response = await client.post("/api/v1/sites", json=body, headers=headers)
        assert response.status_code == 400, body
        problem = response.json()
        assert problem["code"] == "request_invalid"
        assert problem["errors"], problem
    assert (await client.get("/api/v1/sites", headers=headers)).json()["total"] == 0


async def test_site_writes_follow_the_services_rules(client, make_tenant, login_as) -> None:
    """The API writes through cloud/domain/sites.py like the portal: duplicate codes, in-use refusals, audit."""
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    site = (await client.post("/api/v1/sites", json={"name": "二号厂区"}, headers=headers)).json()
    gate = (
        await client.post(f"/api/v1/sites/{site['id']}/gates", json={"code": "G1", "name": "东门"}, headers=headers)
    ).json()
    again = await client.post(f"/api/v1/sites/{site['id']}/gates", json={"code": "G1", "name": "西门"}, headers=headers)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["errors"][0]["field"]) == ("duplicate_code", "code")
    in_use = await client.delete(f"/api/v1/sites/{site['id']}", headers=headers)
    assert (in_use.status_code, in_use.json()["code"]) == (409, "site_in_use")
    renamed = await client.patch(f"/api/v1/gates/{gate['id']}", json={"name": " 北门 "}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["code"]) == ("北门", "G1")
    assert (await client.delete(f"/api/v1/gates/{gate['id']}", headers=headers)).status_code == 204
    assert (await client.delete(f"/api/v1/sites/{site['id']}", headers=headers)).status_code == 204
    log = await client.get("/api/v1/audit-log", params={"limit": 100}, headers=headers)
    assert log.status_code == 200, log.text
    actions = {item["action"] for item in log.json()["items"]}
    assert {"site.created", "gate.created", "gate.updated", "gate.deleted", "site.deleted"} <= actions
