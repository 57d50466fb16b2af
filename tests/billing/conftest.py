"""Billing test fixtures (issue 22): the cloud fixtures of tests/cloud, the Stripe fake wired to the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from cloud.billing.config import BillingConfig
from cloud.billing.gateway import Gateway
from infra.stripe_fake import StripeFake
from tests.cloud.conftest import (
    PASSWORD,
    fx_app,
    fx_client,
    fx_login_as,
    fx_make_staff,
    fx_make_tenant,
    fx_make_user,
    fx_settings,
)


@dataclass
class Billing:
    """The fake Stripe the app talks to, and the gateway the app uses."""

    fake: StripeFake
    gateway: Gateway
    url: str


@pytest.fixture(name="billing")
async def fx_billing(app: Litestar, client: AsyncTestClient[Litestar]) -> AsyncIterator[Billing]:
    """A Stripe fake on a real TCP port; its webhooks are delivered to the app's endpoint."""

    async def deliver(payload: bytes, header: str) -> int:
        answer = await client.post(
            "/api/v1/billing/webhooks",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        return answer.status_code

    fake = StripeFake(api_key="sk_test_billing", webhook_secret="whsec_billing_test", deliver=deliver)
    url = fake.start_in_thread()  # the test client blocks this loop while the app calls Stripe
    gateway = Gateway(BillingConfig(secret_key=fake.api_key, api_base=url, webhook_secret=fake.webhook_secret))
    app.state.billing_gateway = gateway
    try:
        yield Billing(fake, gateway, url)
    finally:
        fake.stop_thread()


__all__ = [
    "PASSWORD",
    "Billing",
    "fx_app",
    "fx_billing",
    "fx_client",
    "fx_login_as",
    "fx_make_staff",
    "fx_make_tenant",
    "fx_make_user",
    "fx_settings",
]
