"""Issue 17 finding 5: sessions end when they should, one-time passwords open nothing else, browsers are guarded.

* A token stops working after logout, after a password change (the other sessions), a role change, a
  deactivation, a reset and an administrator's "end sessions".
* A one-time password's session may only read who it is, change the password and log out (API and
  portal).
* Cookies are HttpOnly + SameSite, and Secure outside development mode.
* A cookie-only cross-origin ``text/plain`` POST is refused; JSON endpoints demand ``application/json``.
* Security headers on every response (pages, API, errors, 404), with a CSP nonce the page's scripts carry.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from cloud.app import create_app
from cloud.settings import Settings
from tenants.context import Role
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "NewPassw0rd!2024"


async def _token(client: Any, login: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def _me(client: Any, headers: dict[str, str]) -> int:
    return int((await client.get("/api/v1/auth/me", headers=headers)).status_code)


async def _user_id(client: Any, admin: dict[str, str], login: str) -> str:
    users = (await client.get("/api/v1/users", headers=admin)).json()
    return str(next(u["id"] for u in users if u["login"] == login))


async def test_logout_and_password_change_end_sessions(client, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    login = await make_user(tenant.tenant_id, Role.MANAGER)
    first, second, third = [await _token(client, login) for _ in range(3)]
    out = await client.post("/api/v1/auth/logout", headers=first)
    assert out.status_code == 200
    problem = (await client.get("/api/v1/auth/me", headers=first)).json()
    assert (problem["status"], problem["code"]) == (401, "unauthorized")
    assert await _me(client, second) == 200

    changed = await client.post(
        "/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=second
    )
    assert changed.status_code == 200, changed.text
    assert await _me(client, second) == 200  # the session that changed it goes on
    assert await _me(client, third) == 401  # every other one ended
    assert await _me(client, await _token(client, login, NEW_PASSWORD)) == 200


async def test_admin_actions_end_the_members_sessions(client, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await _token(client, tenant.admin_login)
    login = await make_user(tenant.tenant_id, Role.VIEWER)
    user_id = await _user_id(client, admin, login)

    session = await _token(client, login)
    assert (await client.patch(f"/api/v1/users/{user_id}", json={"role": "guard"}, headers=admin)).status_code == 200
    assert await _me(client, session) == 401  # role change

    session = await _token(client, login)
    ended = await client.delete(f"/api/v1/users/{user_id}/sessions", headers=admin)
    assert (ended.status_code, ended.json()) == (200, {"sessions_ended": 1})
    assert await _me(client, session) == 401  # "end sessions"

    session = await _token(client, login)
    reset = await client.post(f"/api/v1/users/{user_id}/password-reset", headers=admin)
    assert await _me(client, session) == 401  # reset
    temporary = reset.json()["temporary_password"]

    session = await _token(client, login, temporary)
    await client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=admin)
    assert await _me(client, session) == 401  # deactivation
    actions = [a["action"] for a in (await client.get("/api/v1/audit-log", headers=admin)).json()["items"]]
    assert "user.sessions_ended" in actions


async def test_a_one_time_password_opens_only_the_password_change(client, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await _token(client, tenant.admin_login)
    invited = await client.post(
        "/api/v1/users", json={"login": "new-guard-1", "display_name": "新门岗", "role": "guard"}, headers=admin
    )
    temporary = invited.json()["temporary_password"]
    login = await client.post("/api/v1/auth/login", json={"login": "new-guard-1", "password": temporary})
    assert login.json()["must_change_password"] is True
    client.cookies.clear()
    pending = {"Authorization": f"Bearer {login.json()['token']}"}
    assert await _me(client, pending) == 200
    for method, path, body in (
        ("GET", "/api/v1/sites", None),
        ("POST", "/api/v1/sites", {"name": "偷偷建的厂区"}),
        ("GET", "/api/v1/passes", None),
    ):
        refused = await client.request(method, path, json=body, headers=pending)
        assert (refused.status_code, refused.json()["code"]) == (403, "password_change_required"), path
    changed = await client.post(
        "/api/v1/auth/password", json={"old_password": temporary, "new_password": NEW_PASSWORD}, headers=pending
    )
    assert changed.status_code == 200
    assert (await client.get("/api/v1/passes", headers=pending)).status_code == 200

    # The portal: every page sends the one-time password's holder to the password page.
    reset = await client.post(
        f"/api/v1/users/{await _user_id(client, admin, 'new-guard-1')}/password-reset", headers=admin
    )
    signed = await client.post(
        "/login",
        data={"login": "new-guard-1", "password": reset.json()["temporary_password"]},
        follow_redirects=False,
    )
    assert (signed.status_code, signed.headers["location"]) == (303, "/portal/account")
    for page in ("/portal", "/portal/ledger", "/portal/vehicles"):
        sent = await client.get(page, follow_redirects=False)
        assert (sent.status_code, sent.headers["location"]) == (303, "/portal/account"), page
    assert (await client.get("/portal/account")).status_code == 200


async def test_portal_logout_ends_the_server_side_session(client, make_tenant) -> None:
    tenant = await make_tenant()
    signed = await client.post(
        "/login", data={"login": tenant.admin_login, "password": PASSWORD}, follow_redirects=False
    )
    assert signed.status_code == 303
    cookie = client.cookies.get("ecogate_session")
    assert (await client.get("/portal")).status_code == 200
    await client.get("/logout", follow_redirects=False)
    client.cookies.set("ecogate_session", cookie)  # a copy of the cookie kept by an attacker
    assert (await client.get("/portal", follow_redirects=False)).status_code == 303
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_cookies_are_http_only_same_site_and_secure_outside_development(
    settings: Settings, make_tenant, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    monkeypatch.setenv("ECOGATE_UPLINK_KEY", "zE3d8bW0k7Qp1sV9yA2xL5nR4tU6mC8fH0jK3gD7eBw")
    production = dataclasses.replace(
        settings,
        environment="production",
        auth=dataclasses.replace(
            settings.auth, session_secret="Yk3-pX9qLm2Zt7VbN4sR8wE1hJ6cF0aUdG5yTiOo", secure_cookies=True
        ),
    )
    for app_settings, secure in ((settings, False), (production, True)):
        async with AsyncTestClient(app=create_app(app_settings)) as client:
            response = await client.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})
            cookie = response.headers["set-cookie"].lower()
            assert "httponly" in cookie
            assert "samesite=lax" in cookie
            assert ("secure" in cookie.split(";")[-1] or "; secure" in cookie) is secure, cookie
            hsts = response.headers.get("strict-transport-security")
            assert (hsts is not None) is secure


async def test_cross_site_writes_with_the_cookie_are_refused(client, make_tenant) -> None:
    tenant = await make_tenant()
    signed = await client.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})
    assert signed.status_code == 200  # the client now holds the session cookie only
    forged = await client.post(
        "/api/v1/sites",
        content='{"name": "跨站伪造的厂区"}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert (forged.status_code, forged.json()["code"]) == (403, "csrf_failed")
    # Without an Origin (not a browser's cross-site form) the JSON endpoint still wants JSON.
    plain = await client.post("/api/v1/sites", content='{"name": "纯文本"}', headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()["code"]) == (415, "unsupported_media_type")
    # A cross-site form against a portal page and against the login are refused as well.
    portal = await client.post("/portal/users", data={"login": "x"}, headers={"Origin": "https://evil.example"})
    assert portal.status_code == 403
    login = await client.post("/login", data={"login": "a", "password": "b"}, headers={"Origin": "null"})
    assert login.status_code == 403
    # The same request from the site itself goes through.
    own = await client.post("/api/v1/sites", json={"name": "本站的厂区"}, headers={"Origin": "http://testserver.local"})
    assert own.status_code == 201, own.text


@pytest.mark.parametrize("path", ["/health", "/api/v1/auth/me", "/no/such/page", "/login", "/portal"])
async def test_security_headers_on_every_response(client, path: str) -> None:
    response = await client.get(path)
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


async def test_the_pages_scripts_carry_the_responses_csp_nonce(client, make_tenant) -> None:
    tenant = await make_tenant()
    await client.post("/login", data={"login": tenant.admin_login, "password": PASSWORD})
    page = await client.get("/portal")
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
    assert scripts
    assert all(f'nonce="{nonce.group(1)}"' in attrs for attrs in scripts if "application/json" not in attrs)
    assert " onsubmit=" not in page.text
    assert " onclick=" not in page.text
