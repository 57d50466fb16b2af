"""Every operation of the OpenAPI document, attempted across tenants and by a regulator.

Path parameters are filled by name from another tenant's objects, and so are list filters. Tenant B
gets 404 (or 403, or an empty list) and never a byte that identifies tenant A; a regulator gets 403
on every write and sees only the tenants of its region. A superuser snapshot taken before and after
proves that nothing changed. A new endpoint needs nothing here unless it takes a new path parameter
or a request body: then this test fails and asks for a sample.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.openapi.spec import Operation
from litestar.routes import HTTPRoute

from tenants.context import Role

pytestmark = pytest.mark.anyio
PASSWORD = "Passw0rd!2024"
_n = itertools.count(1)
PNG = b"\x89PNG\r\n\x1a\n" + b"attack" * 8
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _body(method: str, path: str, login: str) -> dict[str, Any]:
    """A valid request body for each operation that takes one (keyed by method and path)."""
    n = next(_n)
    samples: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/v1/auth/login"): {"json": {"login": login, "password": PASSWORD}},
        ("POST", "/api/v1/auth/password"): {"json": {"old_password": "wrong-old", "new_password": "NewPassw0rd!"}},
        ("POST", "/api/v1/sites"): {"json": {"name": f"攻击厂区{n}"}},
        ("PATCH", "/api/v1/sites/{site_id}"): {"json": {"name": "被篡改", "address": "x"}},
        ("POST", "/api/v1/sites/{site_id}/gates"): {"json": {"code": f"X{n}", "name": "被篡改"}},
        ("PATCH", "/api/v1/gates/{gate_id}"): {"json": {"name": "被篡改"}},
        ("POST", "/api/v1/gates/{gate_id}/lanes"): {"json": {"code": f"X{n}", "name": "被篡改", "direction": "out"}},
        ("PATCH", "/api/v1/lanes/{lane_id}"): {"json": {"name": "被篡改", "direction": "out"}},
        ("POST", "/api/v1/users"): {"json": {"login": f"attacker-{n}-{login}", "display_name": "x", "role": "viewer"}},
        ("PATCH", "/api/v1/users/{user_id}"): {"json": {"role": "tenant_admin", "is_active": False}},
        ("POST", "/api/v1/admin/tenants"): {
            "json": {
                "name": "冒名企业",
                "uscc": "91420102MA0000000U",
                "industry": "cement",
                "region_code": "420102",
                "grade": "A",
                "admin_login": f"attacker-admin-{n}-{login}",
            }
        },
        ("POST", "/api/v1/vehicles"): {
            "json": {
                "category": "nrmm",
                "env_reg_code": f"ATTACK{n}",
                "pin": f"PIN{n}",
                "emission_stage": "国四",
                "fuel_type": "柴油",
            }
        },
        ("POST", "/api/v1/vehicles/{vehicle_id}/corrections"): {
            "json": {"reason": "篡改", "changes": {"fleet_name": "被篡改"}, "clear": ["owner_name"]}
        },
        ("POST", "/api/v1/vehicles/{vehicle_id}/retire"): {"json": {"reason": "篡改"}},
        ("POST", "/api/v1/passes/{pass_id}/corrections"): {"json": {"reason": "篡改", "void": True}},
        ("POST", "/api/v1/agents/{agent_id}/lanes/{lane_id}/roi"): {"json": {"x1": 1, "y1": 1, "x2": 50, "y2": 50}},
        ("PUT", "/api/v1/uplink/platform"): {
            "json": {"base_url": "http://127.0.0.1:9", "enterprise_code": "X", "username": "u", "password": "p"}
        },
        ("POST", "/api/v1/uplink/resend"): {"json": {"from": "2026-11-01", "to": "2026-11-02"}},
        ("PUT", "/api/v1/enterprises/{tenant_id}/reports/settings"): {"json": {"clean_modes": ["rail"]}},
        ("POST", "/api/v1/enterprises/{tenant_id}/non-road-transport"): {
            "json": {"day": "2026-11-01", "mode": "rail", "direction": "in", "cargo_name": "煤炭", "tonnage_t": "100"}
        },
        ("POST", "/api/v1/enterprises/{tenant_id}/reports/exports"): {"json": {"report": "nrmm", "format": "csv"}},
        # Compliance (issue 6)
        ("POST", "/api/v1/compliance/flags/{flag_id}/resolutions"): {
            "json": {"outcome": "dismissed", "reason": "篡改"}
        },
        ("POST", "/api/v1/vehicles/{vehicle_id}/reviews"): {
            "json": {"version": 2, "decision": "verified", "reason": "篡改"}
        },
        ("POST", "/api/v1/compliance/policy"): {"json": {"control": {}, "reason": "篡改"}},
        ("POST", "/api/v1/admin/region-alerts"): {
            "json": {"region_code": "4201", "level": "red", "ends_at": "2099-01-01T00:00:00Z", "reason": "篡改"}
        },
        ("POST", "/api/v1/admin/region-alerts/{alert_id}/cancel"): {"json": {"reason": "篡改"}},
        ("POST", "/api/v1/enterprises/{tenant_id}/ledger/verify"): {"json": {"anchors": []}},
        ("POST", "/api/v1/compliance/blacklist"): {"json": {"plate": f"鄂C{n:05d}"}},
        ("POST", "/api/v1/compliance/blacklist/{entry_id}/revoke"): {"json": {"reason": "篡改"}},
        ("POST", "/api/v1/compliance/blacklist/import"): {
            "data": {"source": "regulator"},
            "files": {"file": ("b.csv", f"车牌号码\n鄂D{n:05d}\n".encode(), "text/csv")},
        },
        ("POST", "/api/v1/vehicles/import"): {
            "data": {"category": "nrmm"},
            "files": {
                "file": ("v.csv", f"环保登记编码,PIN,排放阶段,燃料类型\nATK{n},P{n},国四,柴油\n".encode(), "text/csv")
            },
        },
        ("POST", "/api/v1/vehicles/qr"): {"data": {"payload": "排放阶段:国五|发动机型号:WP10"}},
        ("POST", "/api/v1/vehicles/{vehicle_id}/qr"): {"json": {"payload": "排放阶段:国五"}},
        ("POST", "/api/v1/compliance/inventories"): {"json": {"title": f"攻击盘点{n}"}},
        ("POST", "/api/v1/compliance/inventories/{inventory_id}/counts"): {
            "json": {"items": [{"identifier": "X1", "present": True}]}
        },
        ("POST", "/api/v1/compliance/inventories/{inventory_id}/close"): {"json": {"follow_ups": {}}},
        ("POST", "/api/v1/compliance/audit-samples"): {"json": {"quarter": "2026Q4"}},
        # Agents (issue 5)
        ("POST", "/api/v1/agents/enrollment-codes"): {
            "json": {"site_id": "00000000-0000-7000-8000-000000000000", "name": "攻击"}
        },
        ("POST", "/api/v1/agent-enrollment"): {"json": {"code": "AAAA-BBBB-CCCC-DDDD"}},
        ("POST", "/api/v1/agents/{agent_id}/revoke"): {"json": {"reason": "篡改"}},
        ("POST", "/api/v1/agents/{agent_id}/commands"): {"json": {"name": "reload_config"}},
        ("POST", "/api/v1/vehicles/{vehicle_id}/documents"): {
            "data": {"kind": "other"},
            "files": {"file": ("x.png", PNG, "image/png")},
        },
        # Billing (issue 22)
        ("PUT", "/api/v1/billing/invoice-details"): {
            "json": {"invoice_title": "攻击企业", "tax_id": "91420100MA4K1234X5"}
        },
        ("POST", "/api/v1/billing/checkout"): {"json": {"price_id": "01930000-0000-7000-8000-000000000101"}},
        ("PUT", "/api/v1/platform/billing/plans/{code}"): {
            "json": {"name": "篡改", "trial_days": 90, "entitlements": {"sites": 1000}}
        },
        ("PUT", "/api/v1/platform/billing/prices"): {
            "json": {"plan_code": "standard", "unit": "lane", "interval": "month", "amount_fen": 1}
        },
        ("PUT", "/api/v1/platform/billing/coupons/{code}"): {"json": {"name": "篡改", "percent_off": 100}},
        ("POST", "/api/v1/platform/billing/tenants/{tenant_id}/invoices"): {
            "json": {"price_id": "01930000-0000-7000-8000-000000000101"}
        },
        ("POST", "/api/v1/platform/billing/tenants/{tenant_id}/invoices/{invoice_id}/bank-transfer"): {
            "json": {"reference": "ATTACK-0001"}
        },
        # Weighbridge software (issue 15)
        ("POST", "/api/v1/weighbridge/records"): {
            "json": {"records": [{"ticket_no": f"ATK-{n}", "plate": "鄂A00001", "weighed_at": "2026-11-28 10:00:00"}]}
        },
        ("POST", "/api/v1/weighbridge/imports"): {
            "files": {
                "file": (
                    "w.csv",
                    f"磅单号,车牌号码,称重时间,净重\nATK-{n},鄂A00001,2026-11-28 10:00:00,1000\n".encode(),
                    "text/csv",
                )
            }
        },
        ("POST", "/api/v1/weighbridge/unattributed/{weighing_id}/assign"): {
            "json": {"pass_event_id": "00000000-0000-7000-8000-000000000000"}
        },
    }
    return samples.get((method, path), {})


def _operations(app: Litestar) -> Iterator[tuple[str, str, Operation]]:
    for path, item in (app.openapi_schema.paths or {}).items():
        for method in ("get", "put", "post", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is not None:
                yield method.upper(), path, operation


def _opts(app: Litestar) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    out[(method, route.path_format)] = handler.opt
    return out


def _needs_body(operation: Operation) -> bool:
    return operation.request_body is not None


def _request(path: str, operation: Operation, params: dict[str, str]) -> tuple[str, dict[str, str], bool]:
    """The URL with path parameters filled from ``params``, the query filters, and whether it names objects."""
    path_values: dict[str, str] = {}
    query: dict[str, str] = {}
    for parameter in operation.parameters or []:
        name = parameter.name  # type: ignore[union-attr]
        where = str(parameter.param_in.value)  # type: ignore[union-attr]
        if where == "path":
            assert name in params, f"{path}: no sample object for path parameter {name!r}; add it to World.params"
            path_values[name] = params[name]
        elif where == "query" and name in params:
            query[name] = params[name]
    return path.format(**path_values), query, bool(path_values)


def _visible_text(response: Any) -> str:
    """The response as text, without the Problem ``instance`` (it echoes the requested path)."""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        body = response.json()
        body.pop("instance", None)
        return json.dumps(body, ensure_ascii=False)
    if response.headers.get("content-type", "").startswith("application/json"):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.text if response.headers.get("content-type", "").startswith("text/") else repr(response.content)


def _is_empty(response: Any) -> bool:
    if response.status_code != 200:
        return False
    body = response.json()
    return body == [] or (isinstance(body, dict) and body.get("items") == [] and body.get("total") == 0)


async def test_tenant_b_cannot_touch_tenant_a(app, client, make_world, snapshot) -> None:
    a = await make_world()
    b = await make_world()
    before_a, before_b = await snapshot(a.tenant_id), await snapshot(b.tenant_id)
    attempted = 0
    for method, path, operation in _operations(app):
        if path == "/api/v1/auth/logout":
            continue  # it ends B's own session (issue 17: sessions are revocable; tests/security)
        url, query, names_objects = _request(path, operation, a.params)
        body = _body(method, path, b.admin_login)
        assert body or not _needs_body(operation), f"{method} {path}: add a sample body to _body()"
        response = await client.request(method, url, params=query, headers=b.headers, **body)
        client.cookies.clear()
        attempted += 1
        where = f"{method} {url} {query} → {response.status_code} {response.text[:300]}"
        assert response.status_code < 500, where
        assert not a.leaks(_visible_text(response)), f"{where}: leaks {a.leaks(_visible_text(response))}"
        if names_objects:
            allowed = response.status_code in {403, 404} or (method == "GET" and _is_empty(response))
            assert allowed, where
    assert attempted >= 35
    assert await snapshot(a.tenant_id) == before_a
    # B's own attempts went to B's tenant or nowhere; A's tables are untouched either way.
    assert await snapshot(b.tenant_id) != before_b


async def test_regulator_reads_its_region_only_and_writes_nothing(
    app, client, make_world, make_staff, login_as, snapshot
) -> None:
    jiangan = await make_world("420102")  # 武汉市江岸区
    yichang = await make_world("420502")  # 宜昌市
    beijing = await make_world("110101")  # 北京市东城区
    outside = (yichang, beijing)
    before = {w.tenant_id: await snapshot(w.tenant_id) for w in (jiangan, yichang, beijing)}
    regulator_login = await make_staff("regulator", "4201")
    headers = await login_as(regulator_login)
    opts = _opts(app)
    writes = reads = 0
    for method, path, operation in _operations(app):
        opt = opts[(method, path)]
        if opt.get("public") or opt.get("self_service"):
            continue  # login, logout and one's own password concern the regulator's account only
        roles = opt.get("roles")
        readable = roles is None or Role.REGULATOR in roles
        if method in WRITE_METHODS:
            url, query, _ = _request(path, operation, jiangan.params)
            response = await client.request(method, url, params=query, headers=headers, **_body(method, path, "r"))
            assert response.status_code == 403, f"{method} {url} → {response.status_code} {response.text[:200]}"
            assert response.json()["code"] == "forbidden"
            writes += 1
            continue
        reads += 1
        url, query, names_objects = _request(path, operation, jiangan.params)
        response = await client.get(url, params=query if names_objects else {}, headers=headers)
        where = f"GET {url} → {response.status_code} {response.text[:200]}"
        if not readable:
            assert response.status_code == 403, where
            continue
        assert response.status_code == 200, where
        for other in outside:
            assert not other.leaks(_visible_text(response)), where
            url, query, names_objects = _request(path, operation, other.params)
            response = await client.get(url, params=query, headers=headers)
            where = f"GET {url} {query} → {response.status_code} {response.text[:200]}"
            assert response.status_code in {403, 404} or _is_empty(response) or not names_objects, where
            assert not other.leaks(_visible_text(response)), where
            assert response.status_code < 500, where
    assert writes >= 15
    assert reads >= 15
    # It does see the tenant of its own region.
    for url, key in (
        ("/api/v1/sites", "site_id"),
        ("/api/v1/vehicles", "vehicle_id"),
        ("/api/v1/passes", "pass_id"),
    ):
        assert jiangan.params[key] in (await client.get(url, headers=headers)).text, url
    blob = await client.get(f"/api/v1/blobs/{jiangan.params['sha256']}", headers=headers)
    assert blob.status_code == 200
    for world in (jiangan, yichang, beijing):
        assert await snapshot(world.tenant_id) == before[world.tenant_id]
