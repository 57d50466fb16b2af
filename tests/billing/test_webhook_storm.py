"""Issue 22 acceptance: an event storm — 1,000 webhook deliveries with duplicates, reordering and 5 % bad
signatures, sent concurrently to a real cloud process over TCP, converge to Stripe's state for every tenant;
bad signatures are refused with 400 and change nothing.

The fake Stripe (infra/stripe_fake.py) plays each tenant's life first (checkout, renewals paid or declined,
out-of-band payments) and holds the events; the storm then delivers them signed with Stripe's scheme.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from cloud.billing import stages
from cloud.db import models as m
from cloud.db.engine import Database
from infra.stripe_fake import StripeFake
from tests.cloud.conftest import PASSWORD
from tests.sync.conftest import CloudProcess

pytestmark = pytest.mark.anyio
DELIVERIES = 1000
BAD_SHARE = 0.05
TENANTS = 8
STANDARD_LANE_MONTH = "01930000-0000-7000-8000-000000000101"


async def _login(http: httpx.AsyncClient, login: str) -> dict[str, str]:
    answer = await http.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def _snapshot(database: Database, tenant_ids: list[uuid.UUID]) -> dict[str, Any]:
    from tenants.context import Principal, Role  # noqa: PLC0415

    seen: dict[str, Any] = {}
    for tenant_id in tenant_ids:
        actor = Principal(user_id=uuid.UUID(int=9), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="t")
        async with database.session(actor) as session, session.begin():
            account = await session.scalar(select(m.BillingAccount))
            invoices = sorted((i.stripe_invoice_id, i.status) for i in await session.scalars(select(m.BillingInvoice)))
            events = set(await session.scalars(select(m.BillingEvent.stripe_event_id)))
            audits = await session.scalar(
                select(func.count()).select_from(m.AuditLog).where(m.AuditLog.action.startswith("billing."))
            )
        seen[str(tenant_id)] = {
            "state": (account.status, account.dunning_stage, account.quantity) if account else None,
            "invoices": invoices,
            "events": events,
            "audits": audits,
        }
    return seen


def _bad(fake: StripeFake, event: dict[str, Any], kind: int) -> tuple[bytes, str]:
    """A delivery whose signature must not verify: tampered, wrong secret, forged, or stale."""
    if kind == 0:  # payload changed after signing (a canceled subscription smuggled in)
        payload, header = fake.signed(event)
        forged = json.loads(payload)
        forged["data"]["object"]["status"] = "canceled"
        return json.dumps(forged).encode(), header
    if kind == 1:  # signed with another secret
        return fake.signed(event, secret="whsec_attacker")
    if kind == 2:  # a forged event with a new id, signed with another secret
        forged = copy.deepcopy(event)
        forged["id"] = f"evt_forged_{uuid.uuid4().hex[:16]}"
        forged["type"] = "customer.subscription.deleted"
        return fake.signed(forged, secret="whsec_attacker")
    payload = json.dumps(event).encode()  # a signature from outside the tolerance (replayed header)
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), fake.webhook_secret, timestamp=1)
    return payload, header


async def _play(fake: StripeFake, session_id: str, scenario: int) -> None:
    """Tenant lives: the checkout, then renewals declined or paid, out-of-band payments."""
    sub = await fake.complete_checkout(session_id)
    if scenario == 1:
        await fake.renew(sub["id"], fail=True)
    elif scenario == 2:
        failed = await fake.renew(sub["id"], fail=True)
        await fake.pay_invoice(failed["id"], out_of_band=True)
    elif scenario == 3:
        await fake.renew(sub["id"])
        await fake.renew(sub["id"], fail=True)
    elif scenario == 4:
        await fake.renew(sub["id"], fail=True)
        await fake.renew(sub["id"], fail=True)
    elif scenario == 5:
        await fake.renew(sub["id"])


@pytest.mark.slow
async def test_a_storm_of_webhooks_converges(db_urls, database, make_tenant, tmp_path: Path) -> None:
    rng = random.Random(22)
    fake = StripeFake(api_key="sk_test_storm", webhook_secret="whsec_storm_test", auto_deliver=False)
    fake_url = fake.start_in_thread()
    cloud = CloudProcess(db_urls, tmp_path / "cloud" / "blobs", tmp_path / "cloud.log")
    cloud.blob_root.mkdir(parents=True)
    cloud.env.update(
        ECOGATE_STRIPE_SECRET_KEY=fake.api_key,
        ECOGATE_STRIPE_API_BASE=fake_url,
        ECOGATE_STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
    )
    cloud.start()
    base = f"http://127.0.0.1:{cloud.port}"
    fake.webhook_url = f"{base}/api/v1/billing/webhooks"
    try:
        tenants = [await make_tenant(region_code="330102") for _ in range(TENANTS)]
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for n, tenant in enumerate(tenants):
                headers = await _login(http, tenant.admin_login)
                answer = await http.post(
                    "/api/v1/billing/checkout", json={"price_id": STANDARD_LANE_MONTH, "quantity": 2}, headers=headers
                )
                assert answer.status_code == 201, answer.text
                await _play(fake, answer.json()["url"].rsplit("/", 1)[1], n % 6)
            events = list(fake.events)
            fake.pending.clear()
            ids = [t.tenant_id for t in tenants]
            before = await _snapshot(database, ids)

            bad_count = int(DELIVERIES * BAD_SHARE)
            bad = [_bad(fake, rng.choice(events), k % 4) for k in range(bad_count)]
            good = [fake.signed(e) for e in events]  # every event at least once
            good += [fake.signed(rng.choice(events)) for _ in range(DELIVERIES - bad_count - len(good))]

            async def send(payload: bytes, header: str) -> int:
                answer = await http.post(
                    "/api/v1/billing/webhooks",
                    content=payload,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
                return answer.status_code

            # The bad ones alone first: refused, and nothing changed.
            assert {await send(p, h) for p, h in bad} == {400}
            assert await _snapshot(database, ids) == before

            storm = [(p, h, True) for p, h in good] + [(p, h, False) for p, h in bad]
            rng.shuffle(storm)
            assert len(storm) == DELIVERIES
            gate = asyncio.Semaphore(8)

            async def one(payload: bytes, header: str, valid: bool) -> tuple[bool, int]:
                async with gate:
                    return valid, await send(payload, header)

            started = time.monotonic()
            results = await asyncio.gather(*(one(p, h, v) for p, h, v in storm))
            took = time.monotonic() - started
        print(f"storm: {DELIVERIES} deliveries of {len(events)} events in {took:.1f} s ({DELIVERIES / took:.0f}/s)")  # noqa: T201
        assert {status for valid, status in results if valid} == {200}
        assert {status for valid, status in results if not valid} == {400}

        after = await _snapshot(database, ids)
        event_ids = {str(e["id"]) for e in events}
        stored = set().union(*(v["events"] for v in after.values()))
        assert stored == event_ids, "each event applied once, no forged id stored"
        for tenant in tenants:
            state = after[str(tenant.tenant_id)]
            customer = next(c for c in fake.customers.values() if c["metadata"]["tenant_id"] == str(tenant.tenant_id))
            sub = next(s for s in fake.subscriptions.values() if s["customer"] == customer["id"])
            expected_status = stages.status_of_subscription(sub["status"])
            assert state["state"] == (expected_status, expected_status, 2), (tenant.name, state, sub["status"])
            invoices = sorted((i["id"], i["status"]) for i in fake.invoices.values() if i["customer"] == customer["id"])
            assert state["invoices"] == invoices
    finally:
        cloud.stop()
        fake.stop_thread()
