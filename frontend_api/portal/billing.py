"""Billing pages (issue 22): 账单与发票 for the enterprise, 订阅与收费 for the platform admin.

* ``/portal/billing`` — plan, state (trial, active, past due, grace, restricted) with its banner, limits and
  usage, invoices; 发票抬头 and 税号 (tenant admins); 选择套餐并支付 (Stripe Checkout) and 管理付款方式与套餐
  (the Stripe customer portal).
* ``/admin/billing`` — MRR, the past-due list, trials ending, every tenant; ``/admin/billing/tenants/{id}``
  — a tenant's invoices with 标记对公转账已到账 (reference, audited) and its billing audit trail;
  ``/admin/billing/catalogue`` — plans with entitlements, prices, coupons.

Every write goes through :mod:`cloud.billing.service`; the gate, the ledger and the uplink never depend on
what these pages show (ADR 0033).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from cloud.billing import service, stages
from cloud.lib.problems import ProblemError
from frontend_api.api.billing import gateway_of
from frontend_api.portal.toolkit import STALE, Me, csrf_ok, field_errors, page_get, page_post, read_form, render
from tenants.context import Principal, Role

__all__ = ["ADMINS", "READERS", "routes"]

log = structlog.get_logger(__name__)

BASE: Final = service.BILLING_PAGE
ADMIN_BASE: Final = "/admin/billing"
READERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
PAYERS: Final = frozenset({Role.TENANT_ADMIN})
ADMINS: Final = frozenset({Role.PLATFORM_ADMIN})
_DENIED: Final = "当前账号（{role}）无权查看账单与发票。请联系本企业的企业管理员。"
_DONE: Final = {
    "checkout": "支付已完成，订阅状态已更新。",
    "cancelled": "已取消支付，订阅未变更。",
    "details": "发票信息已保存。",
    "transfer": "已登记对公转账，账单已标记为已支付。",
}
_STAGE_CLASS: Final = {"past_due": "orange", "grace": "orange", "restricted": "red"}
_INVOICE_STATUS: Final = {
    "draft": "草稿",
    "open": "待支付",
    "paid": "已支付",
    "void": "已作废",
    "uncollectible": "无法收款",
}
_METHODS: Final = {"card": "银行卡", "bank_transfer": "对公转账", "": "—"}


_ACTIONS: Final = {
    "billing.trial_started": "开始试用",
    "billing.trial_ended": "试用结束未付款",
    "billing.invoice_details": "更新发票信息",
    "billing.customer_created": "开通在线支付",
    "billing.checkout_started": "发起在线支付",
    "billing.subscription_status": "订阅状态变更",
    "billing.stage_changed": "账户状态变更",
    "billing.paid_by_transfer": "对公转账到账登记",
    "billing.invoice_draft": "生成账单",
    "billing.invoice_open": "账单待支付",
    "billing.invoice_paid": "账单已支付",
    "billing.invoice_void": "账单作废",
    "billing.invoice_uncollectible": "账单无法收款",
}


def _state_label(value: object) -> str:
    code = str(value or "")
    return stages.LABELS.get(code) or stages.STATUS_LABELS.get(code) or _INVOICE_STATUS.get(code) or "—"


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{fen / 100:,.2f}"


def _labels() -> dict[str, Any]:
    return {
        "yuan": _yuan,
        "invoice_status": _INVOICE_STATUS,
        "methods": _METHODS,
        "units": service.UNIT_LABELS,
        "intervals": service.INTERVAL_LABELS,
        "stage_labels": stages.LABELS,
        "status_labels": stages.STATUS_LABELS,
        "stage_class": _STAGE_CLASS,
        "actions": _ACTIONS,
        "stage_or_status": _state_label,
    }


# ------------------------------------------------------------------------------------ enterprise


@page_get(BASE, roles=READERS, denied=_DENIED)
async def billing_page(request: Request[Any, Any, Any], principal: Me, done: FromQuery[str] = "") -> Response[Any]:
    """The tenant's plan, state, limits, usage and invoices; invoice details; Checkout and the customer portal."""
    return await _page(request, principal, notice=_DONE.get(done, ""))


async def _page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    async with request.app.state.database.session(principal) as session, session.begin():
        summary = await service.summary(session, principal)
        plans, prices, _ = await service.catalogue(session)
    a = summary.account
    order = {p.code: (p.code != a.plan_code, p.sort) for p in plans if p.active}
    return render(
        request,
        "billing/enterprise.html",
        status_code=status_code,
        principal=principal,
        s=summary,
        plans={p.code: p for p in plans},
        prices=sorted(
            (p for p in prices if p.active and p.plan_code in order),
            key=lambda p: (order[p.plan_code], p.interval != "month", p.unit),
        ),
        chosen=(form or {}).get("price_id", ""),
        grace_ends=stages.grace_ends(a.past_due_since),
        can_pay=principal.role in PAYERS,
        online=gateway_of(request.app.state).online,
        notice=notice,
        form=form or {"invoice_title": a.invoice_title, "tax_id": a.tax_id, "email": a.billing_email},
        errors=errors or {},
        **_labels(),
    )


@page_post(f"{BASE}/details", roles=PAYERS, denied=_DENIED)
async def save_details(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """发票抬头, 税号 and the billing e-mail."""
    form = await read_form(request, "invoice_title", "tax_id", "email")
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    try:
        async with request.app.state.database.session(principal) as session, session.begin():
            await service.set_invoice_details(session, principal, form["invoice_title"], form["tax_id"], form["email"])
    except ProblemError as exc:
        return await _page(request, principal, form=form, errors=field_errors(exc), status_code=exc.status)
    return Redirect(f"{BASE}?done=details", status_code=303)


def _base_url(request: Request[Any, Any, Any]) -> str:
    public = getattr(request.app.state.settings.server, "public_url", "") or ""
    return (public or str(request.base_url)).rstrip("/")


@page_post(f"{BASE}/checkout", roles=PAYERS, denied=_DENIED)
async def checkout(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Go to Stripe Checkout for the chosen price and quantity."""
    form = await read_form(request, "price_id", "quantity", "coupon")
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    try:
        price_id = uuid.UUID(form["price_id"])
    except ValueError:
        return await _page(request, principal, form=form, errors={"price_id": "请选择套餐价格"}, status_code=422)
    quantity = int(form["quantity"]) if form["quantity"].isdigit() else 0
    base = _base_url(request)
    try:
        async with request.app.state.database.session(principal) as session, session.begin():
            url = await service.start_checkout(
                session, principal, gateway_of(request.app.state), price_id, quantity, form["coupon"].lower(),
                f"{base}{BASE}?done=checkout", f"{base}{BASE}?done=cancelled",
            )  # fmt: skip
    except ProblemError as exc:
        return await _page(request, principal, form=form, errors=field_errors(exc), status_code=exc.status)
    log.info("portal.billing_checkout", by=principal.login)
    return _go(request, principal, url, "前往支付")


@page_post(f"{BASE}/portal", roles=PAYERS, denied=_DENIED)
async def customer_portal(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Go to the Stripe customer portal (card and plan changes)."""
    form = await read_form(request)
    if not csrf_ok(request, form):
        return await _page(request, principal, errors=STALE, status_code=400)
    try:
        async with request.app.state.database.session(principal) as session, session.begin():
            url = await service.portal_link(
                session, principal, gateway_of(request.app.state), _base_url(request) + BASE
            )
    except ProblemError as exc:
        return await _page(request, principal, errors=field_errors(exc), status_code=exc.status)
    return _go(request, principal, url, "管理付款方式与套餐")


def _go(request: Request[Any, Any, Any], principal: Principal, url: str, label: str) -> Response[Any]:
    """Leave for Stripe's page: a page that moves on by itself (the CSP's ``form-action 'self'`` forbids a
    form's redirect to another site)."""
    return render(request, "billing/redirect.html", principal=principal, url=url, label=label)


# -------------------------------------------------------------------------------- platform admin


@page_get(ADMIN_BASE, roles=ADMINS)
async def admin_overview(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """MRR, the past-due list, trials ending, every tenant's billing."""
    overview = await service.overview(request.app.state.database, principal)
    return render(request, "billing/admin.html", principal=principal, o=overview, **_labels())


@page_get(f"{ADMIN_BASE}/tenants/{{tenant_id:uuid}}", roles=ADMINS)
async def admin_tenant(
    request: Request[Any, Any, Any], principal: Me, tenant_id: FromPath[uuid.UUID], done: FromQuery[str] = ""
) -> Response[Any]:
    """A tenant's invoices (mark a bank transfer) and its billing audit trail."""
    return await _tenant_page(request, principal, tenant_id, notice=_DONE.get(done, ""))


async def _tenant_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    tenant_id: uuid.UUID,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database = request.app.state.database
    overview = await service.overview(database, principal)
    row = next((r for r in overview.rows if r.tenant_id == tenant_id), None)
    if row is None:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    return render(
        request,
        "billing/admin_tenant.html",
        status_code=status_code,
        principal=principal,
        row=row,
        invoices=await service.tenant_invoices(database, principal, tenant_id),
        history=await service.stage_history(database, principal, tenant_id),
        grace_ends=stages.grace_ends(row.past_due_since),
        notice=notice,
        errors=errors or {},
        **_labels(),
    )


@page_post(f"{ADMIN_BASE}/tenants/{{tenant_id:uuid}}/invoices/{{invoice_id:uuid}}/transfer", roles=ADMINS)
async def admin_transfer(
    request: Request[Any, Any, Any], principal: Me, tenant_id: FromPath[uuid.UUID], invoice_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """对公转账已到账: the invoice is paid with the bank reference (audited), the subscription follows."""
    form = await read_form(request, "reference")
    if not csrf_ok(request, form):
        return await _tenant_page(request, principal, tenant_id, errors=STALE, status_code=400)
    try:
        await service.mark_paid_by_transfer(
            request.app.state.database,
            principal,
            gateway_of(request.app.state),
            tenant_id,
            invoice_id,
            form["reference"],
        )
    except ProblemError as exc:
        errors = {f"reference-{invoice_id}": m for m in field_errors(exc).values()}
        return await _tenant_page(request, principal, tenant_id, errors=errors, status_code=exc.status)
    log.info("portal.billing_transfer", tenant_id=str(tenant_id), by=principal.login)
    return Redirect(f"{ADMIN_BASE}/tenants/{tenant_id}?done=transfer", status_code=303)


@page_get(f"{ADMIN_BASE}/catalogue", roles=ADMINS)
async def admin_catalogue(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Plans with their entitlements, prices per site/lane and month/year, coupons."""
    async with request.app.state.database.session(principal) as session, session.begin():
        plans, prices, coupons = await service.catalogue(session)
    return render(
        request, "billing/catalogue.html", principal=principal, plans=plans, prices=prices, coupons=coupons, **_labels()
    )


def routes() -> list[Any]:
    """Every billing page."""
    return [
        billing_page,
        save_details,
        checkout,
        customer_portal,
        admin_overview,
        admin_tenant,
        admin_transfer,
        admin_catalogue,
    ]
