"""A local fake of exactly the Stripe REST endpoints EcoGate calls (issue 22; docs/billing.md lists them).

The cloud reaches it through the real ``stripe`` library with its base URL changed
(``ECOGATE_STRIPE_API_BASE``); it answers form-encoded requests the way Stripe does (objects as JSON,
``expand[]``, errors as ``{"error": {...}}``), keeps its state in memory, and delivers webhook events
signed with Stripe's real scheme (``stripe.WebhookSignature.generate_signature_header``: the
``t=…,v1=HMAC-SHA256`` header the library's ``construct_event`` verifies).

API endpoints (``Authorization: Bearer <key>`` required):

* ``POST /v1/customers``, ``GET /v1/customers/{id}``
* ``GET /v1/prices`` (``lookup_keys[]``, ``active``), ``POST /v1/prices`` (``lookup_key``, ``transfer_lookup_key``)
* ``POST /v1/checkout/sessions`` (mode ``subscription``, ``line_items[].price`` or ``.price_data``,
  ``discounts[].coupon``)
* ``POST /v1/billing_portal/sessions``
* ``GET /v1/subscriptions/{id}`` (``expand[]=latest_invoice``)
* ``POST /v1/invoices/{id}/pay`` (``paid_out_of_band``)
* ``POST /v1/coupons``

Test/demo drivers (not Stripe's API): the hosted Checkout page ``GET /checkout/{id}`` with its 支付 button
(``POST /checkout/{id}/pay``), the customer portal page ``GET /portal/{customer}`` (a plan switch among the prices:
``POST /portal/{customer}/switch``), and
``POST /_fake/subscriptions/{id}/renew?fail=1`` (the next period's invoice; ``fail=1``: the card is
declined, the subscription goes past due). The same drivers are methods of :class:`StripeFake`.

Run alone (for ``make demo``)::

    python -m infra.stripe_fake --port 12111 --api-key sk_test_demo --webhook-secret whsec_demo \\
        --webhook-url http://127.0.0.1:8000/api/v1/billing/webhooks
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import copy
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import stripe
from aiohttp import ClientSession, web

API_VERSION = stripe.api_version
Deliver = Callable[[bytes, str], Awaitable[int]]
_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = [a or b for a, b in _KEY.findall(key)]
        node: dict[str, Any] = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)  # type: ignore[no-any-return]


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


class StripeFake:
    """In-memory Stripe: customers, Checkout, portal sessions, subscriptions, invoices, coupons, events."""

    def __init__(
        self,
        *,
        api_key: str = "sk_test_fake",
        webhook_secret: str = "whsec_fake",  # noqa: S107 - the fake's own test secret
        public_url: str = "",
        deliver: Deliver | None = None,
        webhook_url: str = "",
        auto_deliver: bool = True,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.public_url = public_url
        self.webhook_url = webhook_url
        self.auto_deliver = auto_deliver
        self._deliver = deliver
        self.customers: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.coupons: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        #: Every request to the Stripe API: (method, path), for the docs' endpoint list and tests.
        self.calls: list[tuple[str, str]] = []
        self.deliveries: list[tuple[str, int]] = []
        #: Events not delivered yet (see :meth:`flush`).
        self.pending: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._numbers = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[list[int]]] = set()
        #: The loop a ``deliver`` callback belongs to (set by :meth:`start_in_thread`'s caller).
        self._caller_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------------------- lifecycle

    def app(self) -> web.Application:
        """The aiohttp application (API and drivers)."""
        app = web.Application()
        app.add_routes(
            [
                web.post("/v1/customers", self._create_customer),
                web.get("/v1/customers/{id}", self._get_customer),
                web.post("/v1/checkout/sessions", self._create_checkout),
                web.post("/v1/billing_portal/sessions", self._create_portal),
                web.get("/v1/subscriptions/{id}", self._get_subscription),
                web.post("/v1/invoices/{id}/pay", self._pay_invoice),
                web.post("/v1/coupons", self._create_coupon),
                web.get("/v1/prices", self._list_prices),
                web.post("/v1/prices", self._create_price),
                web.post("/portal/{id}/switch", self._portal_switch),
                web.get("/checkout/{id}", self._checkout_page),
                web.post("/checkout/{id}/pay", self._checkout_pay),
                web.get("/portal/{id}", self._portal_page),
                web.post("/_fake/subscriptions/{id}/renew", self._renew),
            ]
        )
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); returns the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        bound = int(addresses[0][1]) if addresses else port
        self.public_url = self.public_url or f"http://{host}:{bound}"
        return f"http://{host}:{bound}"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve from a thread of its own (its own event loop); returns the base URL.

        For callers whose event loop blocks while the cloud calls the fake (Litestar's test client runs
        the app in a portal thread and blocks the test's loop meanwhile).
        """
        try:
            self._caller_loop = asyncio.get_running_loop()
        except RuntimeError:
            self._caller_loop = None
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[str] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                started.set_result(loop.run_until_complete(self.start(host, port)))
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                started.set_exception(exc)
                return
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="stripe-fake", daemon=True)
        self._thread.start()
        return started.result(timeout=30)

    def stop_thread(self) -> None:
        """Stop the thread :meth:`start_in_thread` started."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = None

    # ---------------------------------------------------------------------------------- helpers

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.api_key}"

    @staticmethod
    def _error(status: int, message: str, code: str = "resource_missing") -> web.Response:
        body = {"error": {"type": "invalid_request_error", "code": code, "message": message}}
        return web.json_response(body, status=status)

    async def _form(self, request: web.Request) -> dict[str, Any] | web.Response:
        self.calls.append(
            (
                request.method,
                request.match_info.route.resource.canonical if request.match_info.route.resource else request.path,
            )
        )
        if not self._authorized(request):
            return self._error(401, "Invalid API Key provided", "api_key_invalid")
        if request.method == "GET":
            return decode_form(request.query_string)
        return decode_form(await request.text())

    def signed(self, event: dict[str, Any], *, secret: str | None = None) -> tuple[bytes, str]:
        """The payload and ``Stripe-Signature`` header of an event, as Stripe would send it."""
        payload = json.dumps(event, ensure_ascii=False).encode()
        header = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret or self.webhook_secret)
        return payload, header

    async def deliver(self, event: dict[str, Any]) -> int:
        """Send one event to the webhook endpoint (signed); returns the HTTP status."""
        payload, header = self.signed(event)
        if self._deliver is not None:
            status = await self._deliver(payload, header)
        else:
            async with (
                ClientSession() as http,
                http.post(
                    self.webhook_url,
                    data=payload,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                ) as answer,
            ):
                status = answer.status
        self.deliveries.append((str(event["id"]), status))
        return status

    async def flush(self) -> list[int]:
        """Deliver the pending events in the order they happened; returns their HTTP statuses."""
        batch, self.pending = self.pending, []
        return [await self.deliver(event) for event in batch]

    async def _flush_here(self) -> None:
        """Deliver now, from the fake's own loop (a person's click: the redirect follows the delivery).

        With a ``deliver`` callback bound to another loop, hand the events to that loop instead.
        """
        if self._deliver is None:
            await self.flush()
        elif self._caller_loop is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.flush(), self._caller_loop))

    def _after_request(self) -> None:
        """Events raised by an API call go out after the answer, as Stripe's do (HTTP delivery mode);
        with a ``deliver`` callback the caller flushes them from its own loop."""
        if self.auto_deliver and self._deliver is None and self.pending:
            task = asyncio.get_running_loop().create_task(self.flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": copy.deepcopy(obj)},
        }
        self.events.append(event)
        self.pending.append(event)
        return event

    def _line_price(self, line: dict[str, Any]) -> dict[str, Any]:
        """The Stripe Price of a Checkout line: a stored price by id, or one made from ``price_data``."""
        if line.get("price"):
            return copy.deepcopy(self.prices[line["price"]])
        data = line["price_data"]
        return {
            "id": self._new_id("price"),
            "object": "price",
            "currency": data["currency"],
            "unit_amount": int(data["unit_amount"]),
            "recurring": {"interval": data["recurring"]["interval"]},
            "lookup_key": None,
            "metadata": {},
            "nickname": data.get("product_data", {}).get("name"),
        }

    async def switch_price(self, subscription_id: str, price_id: str, quantity: int | None = None) -> dict[str, Any]:
        """A plan switch in the customer portal: the item's price (and quantity) change."""
        self._switch(subscription_id, price_id, quantity)
        if self.auto_deliver:
            await self.flush()
        return self.subscriptions[subscription_id]

    def _switch(self, subscription_id: str, price_id: str, quantity: int | None) -> None:
        sub = self.subscriptions[subscription_id]
        item = sub["items"]["data"][0]
        item["price"] = copy.deepcopy(self.prices[price_id])
        if quantity:
            item["quantity"] = quantity
        self._emit("customer.subscription.updated", self._public(sub))

    def _subscription_view(self, sub: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        view = copy.deepcopy(sub)
        if "latest_invoice" in expand and view.get("latest_invoice"):
            view["latest_invoice"] = copy.deepcopy(self.invoices[view["latest_invoice"]])
        return view

    def _invoice(self, sub: dict[str, Any], *, paid: bool, reason: str) -> dict[str, Any]:
        now = int(time.time())
        item = sub["items"]["data"][0]
        amount = int(item["price"]["unit_amount"]) * int(item["quantity"])
        coupon = self.coupons.get(sub.get("_coupon") or "")
        if coupon:
            amount = amount * (100 - int(coupon["percent_off"])) // 100
        invoice_id = self._new_id("in")
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": sub["customer"],
            "number": f"FAKE-{next(self._numbers):06d}",
            "status": "paid" if paid else "open",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "currency": item["price"]["currency"],
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "hosted_invoice_url": f"{self.public_url}/invoices/{invoice_id}",
            "paid_out_of_band": False,
            "metadata": {},
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub["id"], "metadata": dict(sub["metadata"])},
            },
            "status_transitions": {"finalized_at": now, "paid_at": now if paid else None},
            "created": now,
        }
        self.invoices[invoice_id] = invoice
        sub["latest_invoice"] = invoice_id
        return invoice

    # ----------------------------------------------------------------------- drivers, from Python

    async def complete_checkout(self, session_id: str, *, card_ok: bool = True) -> dict[str, Any]:
        """The customer pays on the Checkout page: a subscription, its first invoice and their events."""
        sub = self._complete_checkout(session_id, card_ok=card_ok)
        if self.auto_deliver:
            await self.flush()
        return sub

    async def renew(self, subscription_id: str, *, fail: bool = False) -> dict[str, Any]:
        """The next period's invoice: charged (``fail``: the card is declined and the subscription goes past due)."""
        invoice = self._renew_state(subscription_id, fail=fail)
        if self.auto_deliver:
            await self.flush()
        return invoice

    async def pay_invoice(self, invoice_id: str, *, out_of_band: bool) -> dict[str, Any]:
        """An open invoice paid (card retry or out of band); the subscription recovers when nothing is owed."""
        invoice = self._pay(invoice_id, out_of_band=out_of_band)
        if self.auto_deliver:
            await self.flush()
        return invoice

    def _complete_checkout(self, session_id: str, *, card_ok: bool) -> dict[str, Any]:
        cs = self.sessions[session_id]
        if cs["status"] == "complete":
            return self.subscriptions[cs["subscription"]]
        line = cs["line_items"][0]
        price = self._line_price(line)
        now = int(time.time())
        period = 365 if price["recurring"]["interval"] == "year" else 30
        sub_id = self._new_id("sub")
        sub: dict[str, Any] = {
            "id": sub_id,
            "object": "subscription",
            "customer": cs["customer"],
            "status": "active" if card_ok else "incomplete",
            "metadata": dict(cs.get("subscription_data", {}).get("metadata", {})),
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._new_id("si"),
                        "object": "subscription_item",
                        "quantity": int(line.get("quantity", 1)),
                        "current_period_start": now,
                        "current_period_end": now + period * 86400,
                        "price": price,
                    }
                ],
            },
            "latest_invoice": None,
            "created": now,
            "_coupon": (cs.get("discounts") or [{}])[0].get("coupon"),
        }
        self.subscriptions[sub_id] = sub
        invoice = self._invoice(sub, paid=card_ok, reason="subscription_create")
        cs.update(status="complete", subscription=sub_id, payment_status="paid" if card_ok else "unpaid")
        self._emit("customer.subscription.created", self._public(sub))
        self._emit("invoice.created", invoice)
        self._emit("invoice.finalized", invoice)
        self._emit("invoice.paid" if card_ok else "invoice.payment_failed", invoice)
        self._emit("checkout.session.completed", cs)
        return sub

    def _renew_state(self, subscription_id: str, *, fail: bool) -> dict[str, Any]:
        sub = self.subscriptions[subscription_id]
        item = sub["items"]["data"][0]
        length = item["current_period_end"] - item["current_period_start"]
        item["current_period_start"] = item["current_period_end"]
        item["current_period_end"] = item["current_period_start"] + length
        invoice = self._invoice(sub, paid=not fail, reason="subscription_cycle")
        sub["status"] = "past_due" if fail else "active"
        self._emit("invoice.created", invoice)
        self._emit("invoice.finalized", invoice)
        self._emit("invoice.payment_failed" if fail else "invoice.paid", invoice)
        self._emit("customer.subscription.updated", self._public(sub))
        return invoice

    def _pay(self, invoice_id: str, *, out_of_band: bool) -> dict[str, Any]:
        invoice = self.invoices[invoice_id]
        if invoice["status"] == "paid":
            return invoice
        invoice.update(status="paid", amount_paid=invoice["amount_due"], paid_out_of_band=out_of_band)
        invoice["status_transitions"]["paid_at"] = int(time.time())
        sub_id = invoice["parent"]["subscription_details"]["subscription"]
        sub = self.subscriptions[sub_id]
        owed = [i for i in self.invoices.values() if i["customer"] == sub["customer"] and i["status"] == "open"]
        if not owed and sub["status"] in {"past_due", "unpaid", "incomplete"}:
            sub["status"] = "active"
        self._emit("invoice.paid", invoice)
        self._emit("customer.subscription.updated", self._public(sub))
        return invoice

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # ----------------------------------------------------------------------------- API handlers

    async def _create_customer(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        customer = {
            "id": self._new_id("cus"),
            "object": "customer",
            "name": form.get("name", ""),
            "email": form.get("email"),
            "metadata": form.get("metadata", {}),
            "created": int(time.time()),
        }
        self.customers[customer["id"]] = customer
        return web.json_response(customer)

    async def _get_customer(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        customer = self.customers.get(request.match_info["id"])
        if customer is None:
            return self._error(404, f"No such customer: '{request.match_info['id']}'")
        return web.json_response(customer)

    async def _create_checkout(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        if form.get("mode") != "subscription" or form.get("customer") not in self.customers:
            return self._error(400, "mode must be subscription with an existing customer", "parameter_invalid")
        for line in form.get("line_items", []):
            if line.get("price") and line["price"] not in self.prices:
                return self._error(400, f"No such price: '{line['price']}'")
        for discount in form.get("discounts", []):
            if discount.get("coupon") not in self.coupons:
                return self._error(400, f"No such coupon: '{discount.get('coupon')}'")
        session_id = self._new_id("cs_test")
        checkout = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "customer": form["customer"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": form.get("metadata", {}),
            "subscription": None,
            "success_url": form.get("success_url", ""),
            "cancel_url": form.get("cancel_url", ""),
            "url": f"{self.public_url}/checkout/{session_id}",
        }
        self.sessions[session_id] = {
            **checkout,
            "line_items": form.get("line_items", []),
            "subscription_data": form.get("subscription_data", {}),
            "discounts": form.get("discounts", []),
        }
        return web.json_response(checkout)

    async def _create_portal(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        customer = form.get("customer", "")
        if customer not in self.customers:
            return self._error(404, f"No such customer: '{customer}'")
        self.customers[customer]["_return_url"] = form.get("return_url", "")
        return web.json_response(
            {
                "id": self._new_id("bps"),
                "object": "billing_portal.session",
                "customer": customer,
                "return_url": form.get("return_url", ""),
                "url": f"{self.public_url}/portal/{customer}",
            }
        )

    async def _get_subscription(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        sub = self.subscriptions.get(request.match_info["id"])
        if sub is None:
            return self._error(404, f"No such subscription: '{request.match_info['id']}'")
        expand = form.get("expand", [])
        return web.json_response(self._public(self._subscription_view(sub, expand if isinstance(expand, list) else [])))

    async def _pay_invoice(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        invoice = self.invoices.get(request.match_info["id"])
        if invoice is None:
            return self._error(404, f"No such invoice: '{request.match_info['id']}'")
        if invoice["status"] == "paid":
            return self._error(400, "Invoice is already paid", "invoice_already_paid")
        paid = self._pay(invoice["id"], out_of_band=form.get("paid_out_of_band") == "true")
        self._after_request()
        return web.json_response(paid)

    async def _create_coupon(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        code = form.get("id") or self._new_id("co")
        if code in self.coupons:
            return self._error(400, "Coupon already exists", "resource_already_exists")
        coupon = {
            "id": code,
            "object": "coupon",
            "name": form.get("name"),
            "percent_off": float(form.get("percent_off", 0)),
            "duration": form.get("duration", "once"),
            "duration_in_months": int(form["duration_in_months"]) if form.get("duration_in_months") else None,
            "valid": True,
        }
        self.coupons[code] = coupon
        return web.json_response(coupon)

    async def _list_prices(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        keys = form.get("lookup_keys", [])
        keys = keys if isinstance(keys, list) else [keys]
        rows = [
            p
            for p in self.prices.values()
            if (not keys or p.get("lookup_key") in keys) and (form.get("active") != "true" or p["active"])
        ]
        return web.json_response({"object": "list", "url": "/v1/prices", "has_more": False, "data": rows})

    async def _create_price(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        key = form.get("lookup_key")
        holders = [p for p in self.prices.values() if key and p.get("lookup_key") == key]
        if holders and form.get("transfer_lookup_key") != "true":
            return self._error(400, "A price with this lookup key exists", "lookup_key_exists")
        for holder in holders:
            holder["lookup_key"] = None
        price = {
            "id": self._new_id("price"),
            "object": "price",
            "active": True,
            "currency": form.get("currency", "cny"),
            "unit_amount": int(form.get("unit_amount", 0)),
            "recurring": {"interval": form.get("recurring", {}).get("interval", "month")},
            "lookup_key": key,
            "metadata": form.get("metadata", {}),
            "nickname": form.get("product_data", {}).get("name"),
        }
        self.prices[price["id"]] = price
        return web.json_response(price)

    async def _portal_switch(self, request: web.Request) -> web.Response:
        customer = self.customers.get(request.match_info["id"])
        form = decode_form(await request.text())
        sub = next((x for x in self.subscriptions.values() if customer and x["customer"] == customer["id"]), None)
        if customer is None or sub is None or form.get("price") not in self.prices:
            return web.Response(status=404, text="订阅或价格不存在")
        self._switch(sub["id"], form["price"], int(form["quantity"]) if form.get("quantity", "").isdigit() else None)
        if self.auto_deliver and self.pending:
            await self._flush_here()
        raise web.HTTPSeeOther(str(customer.get("_return_url") or "/"))

    # ---------------------------------------------------------------------------- driver pages

    async def _checkout_page(self, request: web.Request) -> web.Response:
        cs = self.sessions.get(request.match_info["id"])
        if cs is None:
            return web.Response(status=404, text="结账会话不存在")
        line = cs["line_items"][0]
        price = self._line_price(line)
        amount = int(price["unit_amount"]) * int(line.get("quantity", 1)) / 100
        name = html.escape(str(price.get("nickname") or "订阅"))
        page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>在线支付测试页</title></head>
<body><h1>在线支付测试页（本地模拟）</h1><p>{name} × {line.get("quantity", 1)}：¥{amount:,.2f}</p>
<form method="post" action="/checkout/{cs["id"]}/pay"><label>卡号 <input name="card" value="4242424242424242"></label>
<button type="submit">支付</button></form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _checkout_pay(self, request: web.Request) -> web.Response:
        cs = self.sessions.get(request.match_info["id"])
        if cs is None:
            return web.Response(status=404, text="结账会话不存在")
        form = decode_form(await request.text())
        self._complete_checkout(cs["id"], card_ok=form.get("card", "4242424242424242") != "4000000000000002")
        if self.auto_deliver and self.pending:
            await self._flush_here()
        raise web.HTTPSeeOther(cs["success_url"] or "/")

    async def _portal_page(self, request: web.Request) -> web.Response:
        customer = self.customers.get(request.match_info["id"])
        if customer is None:
            return web.Response(status=404, text="客户不存在")
        back = html.escape(str(customer.get("_return_url", "/")))
        options = "".join(
            f'<option value="{p["id"]}">{html.escape(str(p.get("nickname") or p["id"]))}</option>'
            for p in self.prices.values()
            if p.get("lookup_key")
        )
        page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>客户门户</title></head>
<body><h1>客户门户（本地模拟）</h1><p>{html.escape(str(customer["name"]))}</p>
<form method="post" action="/portal/{customer["id"]}/switch">
<label>更换套餐 <select name="price">{options}</select></label>
<label>数量 <input name="quantity" value=""></label><button type="submit">确认更换</button></form>
<a href="{back}">返回平台</a></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _renew(self, request: web.Request) -> web.Response:
        sub = self.subscriptions.get(request.match_info["id"])
        if sub is None:
            return self._error(404, "No such subscription")
        invoice = self._renew_state(sub["id"], fail=request.query.get("fail") == "1")
        if self.auto_deliver and self.pending:
            await self._flush_here()
        return web.json_response(invoice)


async def _serve(args: argparse.Namespace) -> None:
    fake = StripeFake(
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url,
        public_url=args.public_url,
    )
    url = await fake.start(args.host, args.port)
    print(f"stripe fake on {url} (API version {API_VERSION}); webhooks to {args.webhook_url}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m infra.stripe_fake``: serve the fake until interrupted."""
    parser = argparse.ArgumentParser(description="Local fake of the Stripe endpoints EcoGate calls")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default="sk_test_demo")
    parser.add_argument("--webhook-secret", default="whsec_demo")
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/api/v1/billing/webhooks")
    parser.add_argument("--public-url", default="")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
