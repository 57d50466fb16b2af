"""Billing (issue 22): the Stripe webhook, the tenant's subscription and invoices, the platform admin's tools.

* ``POST /billing/webhooks`` — public; the body is verified with the ``stripe`` library's own signature
  check (400 and nothing changed when it fails) and applied by :func:`cloud.billing.service.handle_webhook`.
* ``GET /billing`` — the caller's plan, stage, limits, usage and invoices; ``PUT /billing/invoice-details``
  (发票抬头, 税号); ``POST /billing/checkout`` (Stripe Checkout URL); ``POST /billing/portal-session``.
* ``/platform/billing/…`` — platform admin: overview (MRR, past due, trials), plans, prices, coupons, a
  bank transfer (对公转账) marked paid with its reference, a bank-transfer invoice, the dunning sweep.

Every write goes through :mod:`cloud.billing.service`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing import service
from cloud.billing.config import BillingConfig
from cloud.billing.gateway import Gateway
from tenants.context import Principal, Role

TENANT_ADMINS = {"roles": frozenset({Role.TENANT_ADMIN})}
READERS = {"roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER})}
PLATFORM = {"roles": frozenset({Role.PLATFORM_ADMIN})}
Text100 = Annotated[str, msgspec.Meta(max_length=100)]
Code = Annotated[str, msgspec.Meta(max_length=32)]


def gateway_of(state: State) -> Gateway:
    """The process's Stripe gateway (``state.billing_gateway`` when a test or the demo set one)."""
    found = getattr(state, "billing_gateway", None)
    if not isinstance(found, Gateway):
        found = Gateway(BillingConfig.from_env())
        state.billing_gateway = found
    return found


def _database(state: State) -> Any:
    return state.database


class InvoiceOut(msgspec.Struct):
    """An invoice."""

    id: uuid.UUID
    number: str
    status: str
    amount_fen: int
    currency: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    paid_at: dt.datetime | None
    paid_method: str
    paid_reference: str
    hosted_url: str


class BillingOut(msgspec.Struct):
    """The tenant's billing."""

    plan_code: str
    plan_name: str
    status: str
    stage: str
    stage_label: str
    banner: str | None
    trial_ends_at: dt.datetime
    past_due_since: dt.datetime | None
    quantity: int
    price_id: uuid.UUID | None
    invoice_title: str
    tax_id: str
    billing_email: str
    limits: dict[str, Any]
    usage: dict[str, int]
    invoices: list[InvoiceOut]


def _invoice(row: Any) -> InvoiceOut:
    return InvoiceOut(
        row.id, row.number, row.status, row.amount_fen, row.currency, row.period_start, row.period_end,
        row.paid_at, row.paid_method, row.paid_reference, row.hosted_url,
    )  # fmt: skip


@post("/billing/webhooks", operation_id="StripeWebhook", opt={"public": True}, status_code=200)
async def stripe_webhook(request: Request[Any, Any, Any], state: State) -> dict[str, str]:
    """Stripe's webhook deliveries (signature checked by the library; idempotent by event id)."""
    payload = await request.body()
    signature = request.headers.get("stripe-signature", "")
    outcome = await service.handle_webhook(_database(state), gateway_of(state), payload, signature)
    return {"outcome": outcome}


@get("/billing", operation_id="GetBilling", opt=READERS)
async def get_billing(session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]) -> BillingOut:
    """The caller's plan, dunning stage, limits, usage and invoices (the trial starts on first use)."""
    async with session.begin():
        s = await service.summary(session, principal)
    a = s.account
    return BillingOut(
        a.plan_code, s.plan.name, a.status, a.dunning_stage, s.stage_label, s.banner, a.trial_ends_at,
        a.past_due_since, a.quantity, a.price_id, a.invoice_title, a.tax_id, a.billing_email,
        {**msgspec.structs.asdict(_limits(s.limits))}, s.usage, [_invoice(i) for i in s.invoices],
    )  # fmt: skip


class LimitsOut(msgspec.Struct):
    """A plan's limits."""

    sites: int
    lanes: int
    agents: int
    regulator_profiles: int
    export_formats: list[str]
    retention_months: int
    api_access: bool


def _limits(limits: service.Limits) -> LimitsOut:
    return LimitsOut(
        limits.sites, limits.lanes, limits.agents, limits.regulator_profiles, sorted(limits.export_formats),
        limits.retention_months, limits.api_access,
    )  # fmt: skip


class InvoiceDetailsIn(msgspec.Struct, forbid_unknown_fields=True):
    """发票抬头, 税号 and the billing e-mail."""

    invoice_title: Text100
    tax_id: Annotated[str, msgspec.Meta(max_length=20)]
    email: Annotated[str, msgspec.Meta(max_length=120)] = ""


@put("/billing/invoice-details", operation_id="SetInvoiceDetails", opt=TENANT_ADMINS)
async def set_invoice_details(
    data: JSONBody[InvoiceDetailsIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> dict[str, str]:
    """Set the invoice title and tax id for 增值税发票 (audited)."""
    async with session.begin():
        account = await service.set_invoice_details(session, principal, data.invoice_title, data.tax_id, data.email)
    return {"invoice_title": account.invoice_title, "tax_id": account.tax_id, "email": account.billing_email}


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    """The price chosen, how many units, a coupon."""

    price_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    coupon: Code = ""


def _base(request: Request[Any, Any, Any]) -> str:
    public = getattr(request.app.state.settings.server, "public_url", "") or ""
    return (public or str(request.base_url)).rstrip("/")


@post("/billing/checkout", operation_id="StartCheckout", opt=TENANT_ADMINS, status_code=201)
async def start_checkout(
    request: Request[Any, Any, Any],
    data: JSONBody[CheckoutIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
) -> dict[str, str]:
    """A Stripe Checkout session for the first subscription; open its ``url``."""
    base = _base(request)
    async with session.begin():
        url = await service.start_checkout(
            session, principal, gateway_of(state), data.price_id, data.quantity, data.coupon,
            f"{base}{service.BILLING_PAGE}?done=checkout", f"{base}{service.BILLING_PAGE}?done=cancelled",
        )  # fmt: skip
    return {"url": url}


@post("/billing/portal-session", operation_id="CustomerPortal", opt=TENANT_ADMINS, status_code=201)
async def customer_portal(
    request: Request[Any, Any, Any],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
) -> dict[str, str]:
    """The Stripe customer portal (card and plan changes); open its ``url``."""
    async with session.begin():
        url = await service.portal_link(
            session, principal, gateway_of(state), f"{_base(request)}{service.BILLING_PAGE}"
        )
    return {"url": url}


# ------------------------------------------------------------------------------------- platform admin


class OverviewRowOut(msgspec.Struct):
    """One tenant's billing in the overview."""

    tenant_id: uuid.UUID
    tenant_name: str
    plan_code: str
    status: str
    stage: str
    quantity: int
    monthly_fen: int
    trial_ends_at: dt.datetime
    past_due_since: dt.datetime | None


class OverviewOut(msgspec.Struct):
    """MRR, the past-due list, trials ending, every tenant."""

    mrr_fen: int
    past_due: list[OverviewRowOut]
    trials: list[OverviewRowOut]
    tenants: list[OverviewRowOut]


def _row(r: service.OverviewRow) -> OverviewRowOut:
    return OverviewRowOut(
        r.tenant_id, r.tenant_name, r.plan_code, r.status, r.stage, r.quantity, r.monthly_fen, r.trial_ends_at,
        r.past_due_since,
    )  # fmt: skip


@get("/platform/billing/overview", operation_id="BillingOverview", opt=PLATFORM)
async def billing_overview(principal: NamedDependency[Principal], state: State) -> OverviewOut:
    """Across tenants: MRR, who is past due, whose trial ends when."""
    o = await service.overview(_database(state), principal)
    return OverviewOut(o.mrr_fen, [_row(r) for r in o.past_due], [_row(r) for r in o.trials], [_row(r) for r in o.rows])


class TransferIn(msgspec.Struct, forbid_unknown_fields=True):
    """The bank transfer's reference (银行流水号)."""

    reference: Text100


@post(
    "/platform/billing/tenants/{tenant_id:uuid}/invoices/{invoice_id:uuid}/bank-transfer",
    operation_id="MarkPaidByTransfer",
    opt=PLATFORM,
    status_code=200,
)
async def mark_paid(
    tenant_id: FromPath[uuid.UUID],
    invoice_id: FromPath[uuid.UUID],
    data: JSONBody[TransferIn],
    principal: NamedDependency[Principal],
    state: State,
) -> InvoiceOut:
    """Mark an open invoice paid by 对公转账 with its reference (audited; drives the subscription state)."""
    row = await service.mark_paid_by_transfer(
        _database(state), principal, gateway_of(state), tenant_id, invoice_id, data.reference
    )
    return _invoice(row)


class TransferInvoiceIn(msgspec.Struct, forbid_unknown_fields=True):
    """A bank-transfer invoice: price and quantity."""

    price_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1


@post(
    "/platform/billing/tenants/{tenant_id:uuid}/invoices",
    operation_id="IssueTransferInvoice",
    opt=PLATFORM,
    status_code=201,
)
async def issue_invoice(
    tenant_id: FromPath[uuid.UUID],
    data: JSONBody[TransferInvoiceIn],
    principal: NamedDependency[Principal],
    state: State,
) -> InvoiceOut:
    """Issue an invoice to be paid by bank transfer (tenants without a card)."""
    row = await service.issue_transfer_invoice(_database(state), principal, tenant_id, data.price_id, data.quantity)
    return _invoice(row)


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    """A plan and its entitlements."""

    name: Annotated[str, msgspec.Meta(max_length=64)]
    trial_days: Annotated[int, msgspec.Meta(ge=0, le=90)]
    entitlements: dict[str, Any]
    active: bool = True
    sort: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0


@put("/platform/billing/plans/{code:str}", operation_id="PutPlan", opt=PLATFORM)
async def put_plan(
    code: FromPath[str],
    data: JSONBody[PlanIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> dict[str, str]:
    """Create or change a plan."""
    async with session.begin():
        spec = service.PlanSpec(code, data.name, data.trial_days, data.entitlements, data.active, data.sort)
        await service.put_plan(session, principal, spec)
    return {"code": code}


class PriceIn(msgspec.Struct, forbid_unknown_fields=True):
    """A price of a plan."""

    plan_code: Code
    unit: Annotated[str, msgspec.Meta(max_length=8)]
    interval: Annotated[str, msgspec.Meta(max_length=8)]
    amount_fen: Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
    active: bool = True


@put("/platform/billing/prices", operation_id="PutPrice", opt=PLATFORM)
async def put_price(
    data: JSONBody[PriceIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], state: State
) -> dict[str, str]:
    """Create or reprice a plan's price (per site/lane, monthly/annual); Stripe's Prices follow when online."""
    gateway = gateway_of(state)
    async with session.begin():
        price_id = await service.put_price(
            session, principal, data.plan_code, data.unit, data.interval, data.amount_fen, active=data.active
        )
        if gateway.online:
            await service.sync_prices(session, gateway)
    return {"id": str(price_id)}


class CouponIn(msgspec.Struct, forbid_unknown_fields=True):
    """A coupon."""

    name: Annotated[str, msgspec.Meta(max_length=64)]
    percent_off: Annotated[int, msgspec.Meta(ge=1, le=100)]
    duration_months: Annotated[int, msgspec.Meta(ge=1, le=36)] | None = None
    active: bool = True


@put("/platform/billing/coupons/{code:str}", operation_id="PutCoupon", opt=PLATFORM)
async def put_coupon(
    code: FromPath[str],
    data: JSONBody[CouponIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
) -> dict[str, str]:
    """Create or change a coupon (created at Stripe too when online payment is configured)."""
    async with session.begin():
        await service.put_coupon(
            session, principal, gateway_of(state), code, data.name, data.percent_off, data.duration_months,
            active=data.active,
        )  # fmt: skip
    return {"code": code}


@post("/platform/billing/sweep", operation_id="BillingSweep", opt=PLATFORM, status_code=200)
async def sweep(state: State) -> dict[str, list[str]]:
    """Advance every account's dunning stage to now (normally run on a schedule)."""
    changed = await service.sweep(_database(state))
    return {"changed": [f"{tenant}:{stage}" for tenant, stage in changed]}


HANDLERS = [
    stripe_webhook,
    get_billing,
    set_invoice_details,
    start_checkout,
    customer_portal,
    billing_overview,
    mark_paid,
    issue_invoice,
    put_plan,
    put_price,
    put_coupon,
    sweep,
]
