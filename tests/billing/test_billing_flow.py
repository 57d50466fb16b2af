"""Issue 22 over the JSON API: trial → Checkout → active → card failure → past due → grace → restricted →
bank transfer → active, with every step audited, notices in the outbox and the platform admin's overview."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from cloud.billing import service
from cloud.db import models as m
from cloud.db.engine import Database
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
STANDARD_LANE_MONTH = "01930000-0000-7000-8000-000000000101"


async def _billing(client: AsyncTestClient[Litestar], headers: dict[str, str]) -> dict[str, Any]:
    answer = await client.get("/api/v1/billing", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _audit(database: Database, tenant_id: uuid.UUID) -> list[str]:
    actor = Principal(user_id=uuid.UUID(int=9), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        rows = await session.scalars(
            select(m.AuditLog.action).where(m.AuditLog.action.startswith("billing.")).order_by(m.AuditLog.at)
        )
        return list(rows)


async def test_a_tenant_walks_the_whole_billing_life(
    client, billing, make_tenant, make_staff, login_as, database
) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    first = await _billing(client, headers)
    assert first["status"] == "trialing"
    assert first["stage"] == "trialing"
    assert first["limits"]["export_formats"] == ["csv", "pdf", "xlsx"]  # a trial tries the richest plan

    answer = await client.put(
        "/api/v1/billing/invoice-details",
        json={"invoice_title": tenant.name, "tax_id": "91420100MA4K1234X5", "email": "cw@example.cn"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    bad = await client.put(
        "/api/v1/billing/invoice-details", json={"invoice_title": "x", "tax_id": "abc"}, headers=headers
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"invoice_title", "tax_id"}

    answer = await client.post(
        "/api/v1/billing/checkout", json={"price_id": STANDARD_LANE_MONTH, "quantity": 3}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    session_id = answer.json()["url"].rsplit("/", 1)[1]
    sub = await billing.fake.complete_checkout(session_id)
    assert all(status == 200 for _, status in billing.fake.deliveries), billing.fake.deliveries
    active = await _billing(client, headers)
    assert (active["status"], active["stage"]) == ("active", "active"), active
    assert active["quantity"] == 3
    assert active["limits"]["lanes"] == 3
    assert [i["status"] for i in active["invoices"]] == ["paid"]

    # A plan switch in the customer portal (to 专业版 by lane, 4 lanes) maps back to the catalogue.
    admin = await login_as(await make_staff("platform_admin"))
    repriced = await client.put(
        "/api/v1/platform/billing/prices",
        json={"plan_code": "professional", "unit": "lane", "interval": "month", "amount_fen": 50000},
        headers=admin,
    )
    assert repriced.status_code == 200, repriced.text
    professional = next(
        p["id"] for p in billing.fake.prices.values() if p["lookup_key"] == f"ecogate-{repriced.json()['id']}"
    )
    await billing.fake.switch_price(sub["id"], professional, quantity=4)
    switched = await _billing(client, headers)
    assert (switched["plan_code"], switched["quantity"], switched["limits"]["lanes"]) == ("professional", 4, 4)
    assert "pdf" in switched["limits"]["export_formats"]
    portal = await client.post("/api/v1/billing/portal-session", headers=headers)
    assert portal.status_code == 201
    assert "/portal/cus_" in portal.json()["url"]

    failed = await billing.fake.renew(sub["id"], fail=True)
    past_due = await _billing(client, headers)
    assert past_due["status"] == "past_due"
    assert past_due["stage"] == "past_due"
    assert "付款失败" in past_due["banner"]

    now = dt.datetime.now(dt.UTC)
    await service.sweep(database, now + dt.timedelta(days=4))
    grace = await _billing(client, headers)
    assert grace["stage"] == "grace"
    assert "宽限期至" in grace["banner"]
    await service.sweep(database, now + dt.timedelta(days=20))
    restricted = await _billing(client, headers)
    assert restricted["stage"] == "restricted"

    # A replay of the failure does not take the restricted tenant back to past due.
    for event in billing.fake.events[-4:]:
        await billing.fake.deliver(event)
    assert (await _billing(client, headers))["stage"] == "restricted"

    site = await client.post("/api/v1/sites", json={"name": "二厂"}, headers=headers)
    assert site.status_code == 402, site.text
    problem = site.json()
    assert problem["code"] == "billing_restricted"
    assert "/portal/billing" in problem["detail"]
    assert site.headers["link"].startswith("</portal/billing>")

    admin = await login_as(await make_staff("platform_admin"))  # a fresh token (the bearer's session)
    overview = await client.get("/api/v1/platform/billing/overview", headers=admin)
    assert overview.status_code == 200
    assert str(tenant.tenant_id) in {r["tenant_id"] for r in overview.json()["past_due"]}
    invoice_id = next(i["id"] for i in restricted["invoices"] if i["status"] == "open")
    answer = await client.post(
        f"/api/v1/platform/billing/tenants/{tenant.tenant_id}/invoices/{invoice_id}/bank-transfer",
        json={"reference": "ICBC-20261207-0001"},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["paid_method"] == "bank_transfer"
    assert billing.fake.invoices[failed["id"]]["paid_out_of_band"] is True
    assert set(await billing.fake.flush()) == {200}  # Stripe's events of the payment: applied or duplicates
    back = await _billing(client, headers)
    assert back["status"] == "active"
    assert back["stage"] == "active"
    assert back["banner"] is None
    assert (await client.post("/api/v1/sites", json={"name": "二厂"}, headers=headers)).status_code == 201
    again = await client.post(
        f"/api/v1/platform/billing/tenants/{tenant.tenant_id}/invoices/{invoice_id}/bank-transfer",
        json={"reference": "ICBC-20261207-0001"},
        headers=admin,
    )
    assert again.status_code == 409

    actions = await _audit(database, tenant.tenant_id)
    for expected in (
        "billing.trial_started",
        "billing.invoice_details",
        "billing.customer_created",
        "billing.checkout_started",
        "billing.subscription_status",
        "billing.stage_changed",
        "billing.paid_by_transfer",
        "billing.plan_changed",
    ):
        assert expected in actions, (expected, actions)
    actor = Principal(user_id=uuid.UUID(int=9), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="t")
    async with database.session(actor) as session, session.begin():
        kinds = list(await session.scalars(select(m.BillingNotice.kind).order_by(m.BillingNotice.created_at)))
    assert kinds == ["past_due", "grace", "restricted", "active"], kinds


async def test_an_annual_price_with_a_coupon(client, billing, make_tenant, make_staff, login_as) -> None:
    """Coupons and annual prices: the platform admin's coupon reaches Stripe; the invoice is discounted; MRR
    counts the annual list price over 12."""
    admin = await login_as(await make_staff("platform_admin"))
    code = f"open{uuid.uuid4().hex[:6]}"
    answer = await client.put(
        f"/api/v1/platform/billing/coupons/{code}",
        json={"name": "开业优惠", "percent_off": 20, "duration_months": 12},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert billing.fake.coupons[code]["percent_off"] == 20
    tenant = await make_tenant(region_code="330110")
    headers = await login_as(tenant.admin_login)
    annual = "01930000-0000-7000-8000-000000000102"  # 标准版, by lane, per year: ¥3,000.00
    unknown = await client.post(
        "/api/v1/billing/checkout", json={"price_id": annual, "quantity": 2, "coupon": "nope"}, headers=headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "coupon"
    answer = await client.post(
        "/api/v1/billing/checkout", json={"price_id": annual, "quantity": 2, "coupon": code}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    await billing.fake.complete_checkout(answer.json()["url"].rsplit("/", 1)[1])
    paid = await _billing(client, headers)
    assert paid["status"] == "active"
    assert [i["amount_fen"] for i in paid["invoices"]] == [300000 * 2 * 80 // 100]
    overview = (await client.get("/api/v1/platform/billing/overview", headers=admin)).json()
    row = next(r for r in overview["tenants"] if r["tenant_id"] == str(tenant.tenant_id))
    assert row["monthly_fen"] == 300000 * 2 // 12
