"""Issue 17 finding 7: guard and viewer write nothing (docs/api.md "Roles"), so they may not start export jobs."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.context import Role

pytestmark = pytest.mark.anyio

BODY = {"report": "transport_passes", "format": "csv", "period": "month", "date": "2026-09"}


@pytest.mark.parametrize("role", [Role.GUARD, Role.VIEWER])
async def test_guard_and_viewer_cannot_start_an_export_job(
    client: Any, make_tenant: Any, make_user: Any, login_as: Any, role: Role
) -> None:
    tenant = await make_tenant()
    headers = await login_as(await make_user(tenant.tenant_id, role))
    url = f"/api/v1/enterprises/{tenant.tenant_id}/reports/exports"
    response = await client.post(url, json=BODY, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    listed = await client.get(url, headers=headers)  # reading stays allowed, and nothing was started
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []


async def test_a_manager_still_can(client: Any, make_tenant: Any, make_user: Any, login_as: Any) -> None:
    tenant = await make_tenant()
    headers = await login_as(await make_user(tenant.tenant_id, Role.MANAGER))
    url = f"/api/v1/enterprises/{tenant.tenant_id}/reports/exports"
    response = await client.post(url, json=BODY, headers=headers)
    assert response.status_code == 202, response.text
