"""The billing pages in-process (issue 22): who sees what, invoice details with Chinese field errors, the
way to Stripe's Checkout through a page of ours, and the platform admin's overview and catalogue."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tenants.context import Role

pytestmark = pytest.mark.anyio
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def _sign_in(client: Any, login: str, entry: str = "/login") -> None:
    client.cookies.clear()
    data = {"login": login, "password": "Passw0rd!2024"}
    if entry != "/login":
        data["next"] = ""
    answer = await client.post(entry, data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text


async def test_regulators_read_no_billing(make_tenant, database) -> None:
    """Migration 0022: a 生态环境局 reads the ledger of its region, never the plant's billing."""
    import uuid  # noqa: PLC0415

    from sqlalchemy import select  # noqa: PLC0415
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from cloud.billing import service  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from tenants.context import Principal  # noqa: PLC0415

    tenant = await make_tenant(region_code="330109")
    admin = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(admin) as session, session.begin():
        await service.summary(session, admin)  # the account exists
    regulator = Principal(user_id=uuid.uuid4(), role=Role.REGULATOR, region_code="3301", login="r")
    async with database.session(regulator) as session, session.begin():
        assert await session.scalar(select(m.Tenant.name).where(m.Tenant.id == tenant.tenant_id)) == tenant.name
    for model in (m.BillingAccount, m.BillingInvoice, m.BillingEvent, m.BillingNotice):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with database.session(regulator) as session, session.begin():
                await session.scalar(select(model.id))


async def test_the_billing_pages(client, billing, make_tenant, make_user, make_staff) -> None:
    tenant = await make_tenant(region_code="330109")
    await _sign_in(client, tenant.admin_login)
    page = await client.get("/portal/billing")
    assert page.status_code == 200
    assert "试用中" in page.text
    assert "试用期间可体验最高套餐的全部额度" in page.text
    csrf = _CSRF.search(page.text)
    assert csrf is not None
    token = csrf.group(1)
    bad = await client.post("/portal/billing/details", data={"csrf": token, "invoice_title": "某", "tax_id": "12"})
    assert bad.status_code == 422
    assert 'data-field="tax_id"' in bad.text
    assert "税号应为 15–20 位" in bad.text
    good = await client.post(
        "/portal/billing/details",
        data={"csrf": token, "invoice_title": tenant.name, "tax_id": "91330109ma2b1234x7"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    saved = await client.get("/portal/billing?done=details")
    assert "发票信息已保存" in saved.text
    assert "91330109MA2B1234X7" in saved.text  # upper-cased
    forged = await client.post("/portal/billing/details", data={"csrf": "x", "invoice_title": "x", "tax_id": "x"})
    assert forged.status_code == 400

    price = re.search(r'<option value="([0-9a-f-]{36})" selected|<option value="([0-9a-f-]{36})"', page.text)
    assert price is not None
    going = await client.post(
        "/portal/billing/checkout", data={"csrf": token, "price_id": price.group(1) or price.group(2), "quantity": "2"}
    )
    assert going.status_code == 200
    assert "正在前往在线支付服务页面" in going.text
    assert f"{billing.url}/checkout/cs_test_" in going.text  # the fake's hosted page (CSP: no cross-site redirect)

    manager = await make_user(tenant.tenant_id, Role.MANAGER)
    await _sign_in(client, manager)
    seen = await client.get("/portal/billing")
    assert seen.status_code == 200
    assert "保存发票信息" not in seen.text  # tenant admins pay and set invoice details
    guard = await make_user(tenant.tenant_id, Role.GUARD)
    await _sign_in(client, guard)
    assert (await client.get("/portal/billing")).status_code == 403

    admin = await make_staff("platform_admin")
    await _sign_in(client, admin, "/staff/login")
    overview = await client.get("/admin/billing")
    assert overview.status_code == 200
    assert "月经常性收入" in overview.text
    assert tenant.name in overview.text
    one = await client.get(f"/admin/billing/tenants/{tenant.tenant_id}")
    assert one.status_code == 200
    assert "开始试用" in one.text  # the billing audit trail by Chinese names
    catalogue = await client.get("/admin/billing/catalogue")
    assert catalogue.status_code == 200
    for name in ("标准版", "专业版", "旗舰版"):
        assert name in catalogue.text
