"""The Stripe REST calls billing makes, through the ``stripe`` library only (docs/billing.md lists them).

One :class:`Gateway` per process wraps a ``stripe.StripeClient`` (async httpx transport); its base URL
points at Stripe, or at the local fake (``infra/stripe_fake.py``) for offline runs and tests. Webhook
payloads are verified with the library's own ``stripe.Webhook.construct_event``.
"""

from __future__ import annotations

from typing import Any

import stripe

from cloud.billing.config import BillingConfig
from cloud.lib.problems import ProblemError

#: The API version the code is written against (stripe-python 16.1.0's default; docs/billing.md).
API_VERSION = stripe.api_version


class NotConfiguredError(ProblemError):
    """Online payment is not configured on this installation."""

    def __init__(self) -> None:
        super().__init__(409, "billing_not_configured", "在线支付未开通", "在线支付未配置，请联系平台通过对公转账付款")


class Gateway:
    """Stripe customers, Checkout, the customer portal, subscriptions, invoices, coupons, webhooks."""

    def __init__(self, config: BillingConfig) -> None:
        self.config = config
        self._client: stripe.StripeClient | None = None
        if config.secret_key:
            bases: Any = {"api": config.api_base} if config.api_base else None
            self._client = stripe.StripeClient(
                config.secret_key,
                base_addresses=bases,
                # 10 s, not the library's 80: a webhook answers Stripe within its own timeout, and a
                # checkout or a bank-transfer marking holds the tenant's account row meanwhile.
                http_client=stripe.HTTPXClient(timeout=10),
                max_network_retries=2,
            )

    @property
    def online(self) -> bool:
        """Whether Stripe calls can be made."""
        return self._client is not None

    def _v1(self) -> Any:
        if self._client is None:
            raise NotConfiguredError
        return self._client.v1

    async def create_customer(self, tenant_id: str, name: str, email: str) -> str:
        """``POST /v1/customers``: the tenant's customer (its id in metadata); returns ``cus_…``."""
        params: dict[str, Any] = {"name": name, "metadata": {"tenant_id": tenant_id}}
        if email:
            params["email"] = email
        customer = await self._v1().customers.create_async(params, {"idempotency_key": f"customer-{tenant_id}"})
        return str(customer.id)

    async def retrieve_customer(self, customer_id: str) -> Any:
        """``GET /v1/customers/{id}``."""
        return await self._v1().customers.retrieve_async(customer_id)

    async def stripe_price(
        self, key: str, currency: str, amount: int, interval: str, name: str, metadata: dict[str, str]
    ) -> str:
        """The Stripe Price of a catalogue price, found by its lookup key, (re)created when the amount changed.

        ``GET /v1/prices?lookup_keys[]=…`` then, if missing or repriced, ``POST /v1/prices`` with
        ``transfer_lookup_key`` — so a plan switch in the customer portal names a price we know.
        """
        found = await self._v1().prices.list_async({"lookup_keys": [key], "active": True, "limit": 1})
        for price in found.data:
            if int(price.unit_amount or 0) == amount and price.currency == currency:
                return str(price.id)
        created = await self._v1().prices.create_async(
            {
                "currency": currency,
                "unit_amount": amount,
                "recurring": {"interval": interval},
                "product_data": {"name": name},
                "lookup_key": key,
                "transfer_lookup_key": True,
                "metadata": metadata,
            }
        )
        return str(created.id)

    async def create_checkout(self, params: dict[str, Any]) -> Any:
        """``POST /v1/checkout/sessions`` (mode subscription)."""
        return await self._v1().checkout.sessions.create_async(params)

    async def create_portal_session(self, customer_id: str, return_url: str) -> str:
        """``POST /v1/billing_portal/sessions``: the customer portal for card and plan changes; its URL."""
        session = await self._v1().billing_portal.sessions.create_async(
            {"customer": customer_id, "return_url": return_url}
        )
        return str(session.url)

    async def retrieve_subscription(self, subscription_id: str) -> Any:
        """``GET /v1/subscriptions/{id}?expand[]=latest_invoice``: the state webhooks take."""
        return await self._v1().subscriptions.retrieve_async(subscription_id, {"expand": ["latest_invoice"]})

    async def pay_out_of_band(self, invoice_id: str) -> Any:
        """``POST /v1/invoices/{id}/pay`` with ``paid_out_of_band``: a bank transfer settles the invoice."""
        return await self._v1().invoices.pay_async(invoice_id, {"paid_out_of_band": True})

    async def create_coupon(self, code: str, name: str, percent_off: int, months: int | None) -> None:
        """``POST /v1/coupons``: a coupon whose id is our code."""
        params: dict[str, Any] = {"id": code, "name": name, "percent_off": percent_off}
        if months:
            params.update(duration="repeating", duration_in_months=months)
        else:
            params["duration"] = "forever"
        await self._v1().coupons.create_async(params)

    def construct_event(self, payload: bytes, signature: str) -> Any:
        """Verify a webhook delivery with the library's own check; raise 400 when it fails."""
        if not self.config.webhook_secret:  # an empty secret would accept anyone's signature
            raise ProblemError(400, "bad_signature", "签名无效", "未配置 Webhook 签名密钥，拒绝处理")
        try:
            return stripe.Webhook.construct_event(payload, signature, self.config.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError):
            raise ProblemError(400, "bad_signature", "签名无效", "Webhook 签名校验失败，未做任何处理") from None
