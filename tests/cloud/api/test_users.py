"""Users and roles, platform onboarding and the region list."""

from __future__ import annotations

import itertools

import pytest

from tenants.context import Role

pytestmark = pytest.mark.anyio
_serial = itertools.count(1000)


async def test_invite_login_with_temporary_password(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    admin = await login_as(tenant.admin_login)
    response = await client.post(
        "/api/v1/users", json={"login": "guard.zhang", "display_name": "张门岗", "role": "guard"}, headers=admin
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["role"] == "guard"
    assert body["user"]["role_label"] == "门岗"
    assert body["user"]["must_change_password"] is True
    guard = await login_as("guard.zhang", body["temporary_password"])
    me = (await client.get("/api/v1/auth/me", headers=guard)).json()
    assert me["role"] == "guard"
    assert me["tenant_id"] == str(tenant.tenant_id)
    listed = (await client.get("/api/v1/users", headers=admin)).json()
    assert [u["login"] for u in listed] == sorted([tenant.admin_login, "guard.zhang"])
    # The temporary password is never shown again.
    assert "temporary_password" not in listed[0]
    log = (await client.get("/api/v1/audit-log?action=user.invited", headers=admin)).json()
    assert log["total"] == 1
    assert log["items"][0]["detail"] == {"login": "guard.zhang", "role": "guard"}


async def test_invite_errors_write_nothing(client, make_tenant, login_as, row_counts) -> None:
    tenant = await make_tenant()
    admin = await login_as(tenant.admin_login)
    before = await row_counts("user_account", "membership", "audit_log")
    cases = [
        ({"login": "x1", "display_name": "太短", "role": "guard"}, 400, "request_invalid", "login"),
        ({"login": "ok.user", "display_name": "监管", "role": "regulator"}, 400, "request_invalid", "role"),
        ({"login": "ok.user", "display_name": "安装", "role": "installer"}, 400, "request_invalid", "role"),
        ({"login": "ok.user", "display_name": "x" * 65, "role": "viewer"}, 400, "request_invalid", "display_name"),
        ({"login": "ok.user", "display_name": "甲", "role": "viewer", "tenant_id": "x"}, 400, "request_invalid", None),
        ({"login": tenant.admin_login, "display_name": "重名", "role": "viewer"}, 409, "login_taken", "login"),
    ]
    for body, status, code, field in cases:
        response = await client.post("/api/v1/users", json=body, headers=admin)
        assert response.status_code == status, (body, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == code
        if field:
            assert field in [e["field"] for e in problem["errors"]], problem
    assert await row_counts("user_account", "membership", "audit_log") == before


async def test_only_tenant_admins_manage_users(client, make_tenant, make_user, login_as) -> None:
    tenant = await make_tenant()
    for role in (Role.MANAGER, Role.GUARD, Role.VIEWER):
        headers = await login_as(await make_user(tenant.tenant_id, role))
        assert (await client.get("/api/v1/users", headers=headers)).status_code == 403
        response = await client.post(
            "/api/v1/users", json={"login": f"new-{role}", "display_name": "新", "role": "viewer"}, headers=headers
        )
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"


async def test_change_role_deactivate_and_reset(client, make_tenant, make_user, login_as) -> None:
    tenant = await make_tenant()
    admin = await login_as(tenant.admin_login)
    login = await make_user(tenant.tenant_id, Role.VIEWER)
    users = (await client.get("/api/v1/users", headers=admin)).json()
    user_id = next(u["id"] for u in users if u["login"] == login)

    changed = await client.patch(f"/api/v1/users/{user_id}", json={"role": "manager"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "manager"
    me = (await client.get("/api/v1/auth/me", headers=await login_as(login))).json()
    assert me["role"] == "manager"

    reset = await client.post(f"/api/v1/users/{user_id}/password-reset", headers=admin)
    assert reset.status_code == 200
    temporary = reset.json()["temporary_password"]
    assert reset.json()["user"]["must_change_password"] is True
    old = await client.post("/api/v1/auth/login", json={"login": login, "password": "Passw0rd!2024"})
    assert old.status_code == 401
    session = await login_as(login, temporary)

    off = await client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=admin)
    assert off.json()["is_active"] is False
    # A deactivated account is refused at once, even with a token issued before.
    assert (await client.get("/api/v1/auth/me", headers=session)).status_code == 401
    refused = await client.post("/api/v1/auth/login", json={"login": login, "password": temporary})
    assert refused.status_code == 401

    actions = [a["action"] for a in (await client.get("/api/v1/audit-log", headers=admin)).json()["items"]]
    assert [a for a in actions if a.startswith("user.")][:3] == ["user.updated", "user.password_reset", "user.updated"]
    assert "auth.login_failed" in actions  # the old password, then the deactivated account (issue 17)


async def test_admin_cannot_lock_the_tenant_out(client, make_tenant, make_user, login_as) -> None:
    tenant = await make_tenant()
    admin = await login_as(tenant.admin_login)
    users = (await client.get("/api/v1/users", headers=admin)).json()
    self_id = users[0]["id"]
    for body in ({"role": "viewer"}, {"is_active": False}):
        response = await client.patch(f"/api/v1/users/{self_id}", json=body, headers=admin)
        assert response.status_code == 409
        assert response.json()["code"] == "self_change"
    assert (await client.post(f"/api/v1/users/{self_id}/password-reset", headers=admin)).status_code == 409
    # A second administrator may be demoted; the only remaining one may not be (self-change rule above).
    second = await make_user(tenant.tenant_id, Role.TENANT_ADMIN)
    users = (await client.get("/api/v1/users", headers=admin)).json()
    second_id = next(u["id"] for u in users if u["login"] == second)
    ok = await client.patch(f"/api/v1/users/{second_id}", json={"role": "viewer"}, headers=admin)
    assert ok.status_code == 200


async def test_other_tenants_users_are_invisible(client, make_tenant, login_as) -> None:
    a, b = await make_tenant(), await make_tenant()
    ha, hb = await login_as(a.admin_login), await login_as(b.admin_login)
    a_id = (await client.get("/api/v1/users", headers=ha)).json()[0]["id"]
    assert a.admin_login not in (await client.get("/api/v1/users", headers=hb)).text
    assert (await client.patch(f"/api/v1/users/{a_id}", json={"role": "viewer"}, headers=hb)).status_code == 404
    assert (await client.post(f"/api/v1/users/{a_id}/password-reset", headers=hb)).status_code == 404
    me = (await client.get("/api/v1/auth/me", headers=ha)).json()
    assert me["role"] == "tenant_admin"


def _tenant_body(uscc: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "江岸水泥有限公司",
        "uscc": uscc,
        "industry": "水泥",
        "region_code": "420102",
        "grade": "B",
        "admin_login": f"cement-admin-{next(_serial)}",
    }
    body.update(overrides)
    return body


async def test_platform_admin_onboards_a_tenant(client, make_staff, login_as, make_uscc) -> None:
    platform = await login_as(await make_staff("platform_admin"))
    body = _tenant_body(make_uscc(next(_serial)), grade="引领性", industry="cement", region_code="420100")
    response = await client.post("/api/v1/admin/tenants", json=body, headers=platform)
    assert response.status_code == 201, response.text
    tenant = response.json()
    assert tenant["industry"] == "cement"
    assert tenant["grade"] == "引领性"
    assert tenant["region_code"] == "4201"
    admin = await login_as(body["admin_login"], tenant["temporary_password"])
    me = (await client.get("/api/v1/auth/me", headers=admin)).json()
    assert me["tenant_id"] == tenant["id"]
    # The one-time password opens nothing but the password change (issue 17).
    pending = await client.get("/api/v1/audit-log", headers=admin)
    assert (pending.status_code, pending.json()["code"]) == (403, "password_change_required")
    changed = await client.post(
        "/api/v1/auth/password",
        json={"old_password": tenant["temporary_password"], "new_password": "NewPassw0rd!2024"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    log = (await client.get("/api/v1/audit-log", headers=admin)).json()
    assert [a["action"] for a in log["items"]] == ["user.password_changed", "tenant.onboarded"]
    assert log["items"][1]["actor_role"] == "platform_admin"
    assert (await client.get("/api/v1/users", headers=admin)).json()[0]["must_change_password"] is False


async def test_onboarding_validation_and_conflicts(client, make_staff, make_tenant, login_as, make_uscc, row_counts):
    platform = await login_as(await make_staff("platform_admin"))
    before = await row_counts("tenant", "user_account", "audit_log")
    good = make_uscc(next(_serial))
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    response = await client.post(
        "/api/v1/admin/tenants",
        json=_tenant_body(bad_check, region_code="999999", industry="木星采矿", grade="E"),
        headers=platform,
    )
    assert response.status_code == 422
    problem = response.json()
    assert {e["field"]: e["code"] for e in problem["errors"]} == {
        "uscc": "uscc.check_char",
        "region_code": "region.unknown",
        "industry": "industry.unknown",
        "grade": "performance_grade.unknown",
    }
    oversize = await client.post("/api/v1/admin/tenants", json=_tenant_body(good, name="厂" * 101), headers=platform)
    assert oversize.status_code == 400
    assert await row_counts("tenant", "user_account", "audit_log") == before

    assert (await client.post("/api/v1/admin/tenants", json=_tenant_body(good), headers=platform)).status_code == 201
    again = await client.post("/api/v1/admin/tenants", json=_tenant_body(good), headers=platform)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "uscc"
    other = make_uscc(next(_serial))
    taken = _tenant_body(other, admin_login=(await make_tenant()).admin_login)
    clash = await client.post("/api/v1/admin/tenants", json=taken, headers=platform)
    assert clash.status_code == 409
    assert clash.json()["code"] == "login_taken"

    tenant_admin = await login_as((await make_tenant()).admin_login)
    refused = await client.post("/api/v1/admin/tenants", json=_tenant_body(other), headers=tenant_admin)
    assert refused.status_code == 403


async def test_regions(client, make_tenant, make_staff, login_as) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    provinces = (await client.get("/api/v1/regions", headers=headers)).json()
    assert {"code": "42", "name": "湖北省"}.items() <= next(p for p in provinces if p["code"] == "42").items()
    assert len(provinces) >= 31
    wuhan = (await client.get("/api/v1/regions?parent=420100", headers=headers)).json()
    jiangan = next(r for r in wuhan if r["code"] == "420102")
    assert jiangan["full_name"] == "湖北省武汉市江岸区"
    assert jiangan["level"] == "district"
    bad = await client.get("/api/v1/regions?parent=42x", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "parent"
    regulator = await login_as(await make_staff("regulator", "4201"))
    assert (await client.get("/api/v1/regions?parent=42", headers=regulator)).status_code == 200
    assert (await client.get("/api/v1/regions")).status_code == 401
