"""Every billing write: accounts and trials, Checkout, the customer portal, webhooks, bank transfer, dunning,
the platform catalogue; and the platform admin's overview (docs/billing.md).

Webhooks (:func:`handle_webhook`): the signature is verified by the library; the event id is stored in
the same transaction as its effect (unique, so a replay or a concurrent duplicate inserts nothing and
changes nothing); the tenant's account row is locked, then the subscription is fetched from Stripe and
its state taken from that object, never from the order events arrive in; invoice rows move forward
only (draft → open → paid/void/uncollectible). Unknown event types are logged and ignored.

Every change of subscription status, dunning stage or invoice status is audited (``billing.*`` in
``audit_log``) in the transaction that makes it.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing import stages
from cloud.billing.gateway import Gateway
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit
from cloud.domain.common import FieldErrors
from cloud.lib.problems import ProblemError, forbidden, not_found
from tenants.context import Principal, Role
from tenants.ids import new_id

log = structlog.get_logger(__name__)

BILLING_PAGE: Final = "/portal/billing"
#: Export formats of the tenant's own ledger that no plan and no dunning stage ever takes away.
ALWAYS_EXPORT_FORMATS: Final = frozenset({"csv", "xlsx"})
#: Webhook event types applied; any other type is logged and ignored.
HANDLED: Final = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
    }
)
_INVOICE_RANK: Final = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
_SYSTEM_USER: Final = uuid.UUID(int=0x22)
_TAX_ID = re.compile(r"^[0-9A-Z]{15,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_\-]{1,31}$")
UNIT_LABELS: Final = {"lane": "车道", "site": "厂区"}
INTERVAL_LABELS: Final = {"month": "月", "year": "年"}
ENTITLEMENT_KEYS: Final = ("sites", "lanes", "agents", "regulator_profiles", "retention_months")


def system_actor(tenant_id: uuid.UUID, login: str) -> Principal:
    """The actor of billing work nobody clicked (webhooks, the dunning sweep) for one tenant."""
    return Principal(user_id=_SYSTEM_USER, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=login)


# --------------------------------------------------------------------------------------- catalogue


async def catalogue(session: AsyncSession) -> tuple[list[m.BillingPlan], list[m.BillingPrice], list[m.BillingCoupon]]:
    """Plans, prices and coupons (active and not), in display order."""
    plans = list(await session.scalars(select(m.BillingPlan).order_by(m.BillingPlan.sort, m.BillingPlan.code)))
    prices = list(
        await session.scalars(
            select(m.BillingPrice).order_by(m.BillingPrice.plan_code, m.BillingPrice.unit, m.BillingPrice.interval)
        )
    )
    coupons = list(await session.scalars(select(m.BillingCoupon).order_by(m.BillingCoupon.code)))
    return plans, prices, coupons


def _platform_admin(actor: Principal) -> None:
    if actor.role is not Role.PLATFORM_ADMIN:
        raise forbidden("只有平台管理员可以管理套餐、价格与优惠券")


def _int(errors: FieldErrors, name: str, raw: object, low: int, high: int) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        errors.add(name, "invalid", f"应为 {low}–{high} 的整数")
        return low
    if not low <= value <= high:
        errors.add(name, "out_of_range", f"应为 {low}–{high} 的整数")
    return value


@dataclass(frozen=True)
class PlanSpec:
    """A plan as the platform admin enters it."""

    code: str
    name: str
    trial_days: int
    entitlements: dict[str, Any]
    active: bool = True
    sort: int = 0


async def put_plan(session: AsyncSession, actor: Principal, spec: PlanSpec) -> None:
    """Create or change a plan (platform admin; inside the caller's transaction)."""
    _platform_admin(actor)
    errors = FieldErrors()
    if not _CODE.match(spec.code):
        errors.add("code", "invalid", "代码为 2–32 位小写字母、数字、- 或 _")
    if not 1 <= len(spec.name) <= 64:
        errors.add("name", "invalid", "请填写套餐名称（最多 64 个字）")
    _int(errors, "trial_days", spec.trial_days, 0, 90)
    ent: dict[str, Any] = {}
    for key in ENTITLEMENT_KEYS:
        low = 24 if key == "retention_months" else 1  # legal floors: 24 months, one of each
        ent[key] = _int(errors, key, spec.entitlements.get(key, low), low, 1000)
    raw_formats = spec.entitlements.get("export_formats", [])
    if not isinstance(raw_formats, list):
        errors.add("export_formats", "invalid", "导出格式应为列表（可选 csv、xlsx、pdf）")
        raw_formats = []
    formats = sorted({str(f) for f in raw_formats} | ALWAYS_EXPORT_FORMATS)
    if not set(formats) <= {"csv", "xlsx", "pdf"}:
        errors.add("export_formats", "invalid", "导出格式只能是 csv、xlsx、pdf")
    ent["export_formats"] = formats
    ent["api_access"] = bool(spec.entitlements.get("api_access", False))
    errors.raise_if_any()
    await session.execute(
        text("SELECT billing_put_plan(:code, :name, :trial, CAST(:ent AS jsonb), :active, :sort)"),
        {
            "code": spec.code,
            "name": spec.name,
            "trial": spec.trial_days,
            "ent": _json(ent),
            "active": spec.active,
            "sort": spec.sort,
        },
    )
    log.info("billing.plan_saved", code=spec.code, by=actor.login)


def _json(value: object) -> str:
    import json  # noqa: PLC0415

    return json.dumps(value, ensure_ascii=False)


async def put_price(
    session: AsyncSession, actor: Principal, plan_code: str, unit: str, interval: str, amount_fen: int, *, active: bool
) -> uuid.UUID:
    """Create or reprice the plan's price for a unit (site/lane) and interval (month/year)."""
    _platform_admin(actor)
    errors = FieldErrors()
    if await session.get(m.BillingPlan, plan_code) is None:
        errors.add("plan_code", "unknown", "套餐不存在")
    if unit not in UNIT_LABELS:
        errors.add("unit", "invalid", "计价单位应为 厂区 或 车道")
    if interval not in INTERVAL_LABELS:
        errors.add("interval", "invalid", "计费周期应为 月 或 年")
    _int(errors, "amount_fen", amount_fen, 0, 100_000_000)
    errors.raise_if_any()
    existing = await session.scalar(
        select(m.BillingPrice.id).where(
            m.BillingPrice.plan_code == plan_code, m.BillingPrice.unit == unit, m.BillingPrice.interval == interval
        )
    )
    price_id = existing or new_id()
    await session.execute(
        text("SELECT billing_put_price(:id, :plan, :unit, :interval, :amount, :active)"),
        {"id": price_id, "plan": plan_code, "unit": unit, "interval": interval, "amount": amount_fen, "active": active},
    )
    log.info("billing.price_saved", plan=plan_code, unit=unit, interval=interval, amount_fen=amount_fen, by=actor.login)
    return price_id


async def sync_prices(session: AsyncSession, gateway: Gateway) -> dict[uuid.UUID, str]:
    """Every active catalogue price as a Stripe Price (lookup key ``ecogate-<id>``; repriced ones replaced),
    so the customer portal can offer plan switches that map back to the catalogue. Returns the Stripe ids."""
    plans = {p.code: p for p in (await catalogue(session))[0]}
    found: dict[uuid.UUID, str] = {}
    for price in (await catalogue(session))[1]:
        plan = plans.get(price.plan_code)
        if not price.active or plan is None or not plan.active:
            continue
        found[price.id] = await gateway.stripe_price(
            lookup_key(price.id), price.currency, price.amount_fen, price.interval,
            f"{plan.name}（按{UNIT_LABELS[price.unit]}，每{INTERVAL_LABELS[price.interval]}）",
            {"plan_code": plan.code, "price_id": str(price.id)},
        )  # fmt: skip
    return found


async def put_coupon(
    session: AsyncSession,
    actor: Principal,
    gateway: Gateway,
    code: str,
    name: str,
    percent_off: int,
    months: int | None,
    *,
    active: bool = True,
) -> None:
    """Create or change a coupon; it is created at Stripe too (same id) when online payment is configured."""
    _platform_admin(actor)
    errors = FieldErrors()
    if not _CODE.match(code):
        errors.add("code", "invalid", "优惠码为 2–32 位小写字母、数字、- 或 _")
    if not 1 <= len(name) <= 64:
        errors.add("name", "invalid", "请填写优惠券名称")
    _int(errors, "percent_off", percent_off, 1, 100)
    if months is not None:
        _int(errors, "duration_months", months, 1, 36)
    errors.raise_if_any()
    known = await session.get(m.BillingCoupon, code)
    await session.execute(
        text("SELECT billing_put_coupon(:code, :name, :pct, :months, :active)"),
        {"code": code, "name": name, "pct": percent_off, "months": months, "active": active},
    )
    if known is None and gateway.online:
        await gateway.create_coupon(code, name, percent_off, months)
    log.info("billing.coupon_saved", code=code, by=actor.login)


# ---------------------------------------------------------------------------------------- accounts


async def ensure_account(
    session: AsyncSession, tenant_id: uuid.UUID, actor: Principal, now: dt.datetime | None = None
) -> m.BillingAccount:
    """The tenant's billing account, created on first use with the trial of its plan (audited)."""
    account = await session.scalar(select(m.BillingAccount).where(m.BillingAccount.tenant_id == tenant_id))
    if account is not None:
        return account
    now = now or dt.datetime.now(dt.UTC)
    tenant = await session.get(m.Tenant, tenant_id)
    if tenant is None:
        raise not_found("企业")
    plan = await session.get(m.BillingPlan, tenant.plan)
    if plan is None:
        plan = await session.get(m.BillingPlan, "standard")
    if plan is None:
        raise ProblemError(500, "billing_catalogue_empty", "套餐未配置", "平台尚未配置任何套餐")
    trial_ends = now + dt.timedelta(days=plan.trial_days)
    inserted = await session.scalar(
        insert(m.BillingAccount)
        .values(
            tenant_id=tenant_id,
            id=new_id(),
            plan_code=plan.code,
            quantity=1,
            status="trialing",
            dunning_stage="trialing",
            trial_ends_at=trial_ends,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
        .returning(m.BillingAccount.id)
    )
    if inserted is not None:
        audit.record(
            session,
            actor,
            "billing.trial_started",
            "billing_account",
            inserted,
            {"plan": plan.code, "trial_ends_at": trial_ends.isoformat()},
            tenant_id=tenant_id,
        )
    account = await session.scalar(select(m.BillingAccount).where(m.BillingAccount.tenant_id == tenant_id))
    assert account is not None
    return account


async def _locked_account(session: AsyncSession, tenant_id: uuid.UUID, actor: Principal) -> m.BillingAccount:
    await ensure_account(session, tenant_id, actor)
    account = await session.scalar(
        select(m.BillingAccount)
        .where(m.BillingAccount.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
    return account


@dataclass(frozen=True)
class Limits:
    """What a tenant may have under its plan (and purchased quantity)."""

    sites: int
    lanes: int
    agents: int
    regulator_profiles: int
    export_formats: frozenset[str]
    retention_months: int
    api_access: bool


async def _trial_plan(session: AsyncSession) -> m.BillingPlan:
    """A trial tries everything: the entitlements of the last (richest) active plan of the catalogue."""
    plan = await session.scalar(
        select(m.BillingPlan).where(m.BillingPlan.active).order_by(m.BillingPlan.sort.desc()).limit(1)
    )
    if plan is None:
        raise ProblemError(500, "billing_catalogue_empty", "套餐未配置", "平台尚未配置任何套餐")
    return plan


def limits_of(account: m.BillingAccount, plan: m.BillingPlan, price: m.BillingPrice | None) -> Limits:
    """The plan's entitlements; a per-lane price buys ``quantity`` lanes, a per-site price that many sites.

    During the trial ``plan`` is the richest plan (:func:`_trial_plan`): a tenant tries every feature and
    the limits of what it buys apply from its subscription on.
    """
    ent = plan.entitlements

    def num(key: str, floor: int = 1) -> int:
        raw = ent.get(key, floor)
        return max(floor, int(raw) if isinstance(raw, int | str) else floor)

    sites, lanes, agents = num("sites"), num("lanes"), num("agents")
    if price is not None and account.status != "trialing":
        if price.unit == "lane":
            lanes = account.quantity
        else:
            sites = account.quantity
            lanes, agents = lanes * account.quantity, agents * account.quantity
    raw_formats = ent.get("export_formats", [])
    formats = {str(f) for f in raw_formats} if isinstance(raw_formats, list) else set()
    return Limits(
        sites=sites,
        lanes=lanes,
        agents=agents,
        regulator_profiles=num("regulator_profiles"),
        export_formats=frozenset(formats | ALWAYS_EXPORT_FORMATS),
        retention_months=num("retention_months", 24),
        api_access=bool(ent.get("api_access", False)),
    )


@dataclass
class Summary:
    """A tenant's billing as its portal page shows it."""

    account: m.BillingAccount
    plan: m.BillingPlan
    price: m.BillingPrice | None
    limits: Limits
    usage: dict[str, int]
    invoices: list[m.BillingInvoice]
    banner: str | None
    stage_label: str
    status_label: str
    notices: list[m.BillingNotice] = field(default_factory=list)


def banner_of(account: m.BillingAccount) -> str | None:
    """The portal banner of a dunning stage (None when there is nothing to say)."""
    stage = account.dunning_stage
    if stage == "past_due":
        return (
            "付款失败：最近一期账单未能扣款，系统将自动重试。请更新付款方式，或通过对公转账付款。"
            "门禁、台账与监管上报不受影响。"
        )
    if stage == "grace":
        ends = stages.grace_ends(account.past_due_since)
        day = ends.astimezone(_CHINA).strftime("%Y-%m-%d") if ends else "—"
        return (
            f"账单已逾期，宽限期至 {day}：逾期后新增厂区、车道、注册终端等管理功能将暂停。"
            "门禁、台账与监管上报不受影响。"
        )
    if stage == "restricted":
        return (
            "账户已受限：新增厂区/车道、注册终端、高级导出格式等管理功能已暂停，付款后立即恢复。"
            "门禁放行、电子台账、企业自有台账导出与监管上报照常运行。"
        )
    return None


_CHINA: Final = dt.timezone(dt.timedelta(hours=8))


async def banner(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[str, str] | None:
    """The dunning banner of a tenant as ``(stage, text)`` for any enterprise page (read-only; None when all
    is well or the tenant has no billing yet)."""
    account = await session.scalar(select(m.BillingAccount).where(m.BillingAccount.tenant_id == tenant_id))
    if account is None:
        return None
    text = banner_of(account)
    return (account.dunning_stage, text) if text else None


async def usage_of(session: AsyncSession) -> dict[str, int]:
    """What the tenant has now (under the caller's row-level security)."""
    now = dt.datetime.now(dt.UTC)
    sites = await session.scalar(select(func.count()).select_from(m.Site)) or 0
    lanes = await session.scalar(select(func.count()).select_from(m.Lane)) or 0
    agents = await session.scalar(select(func.count()).select_from(m.Agent).where(m.Agent.status != "revoked")) or 0
    codes = (
        await session.scalar(
            select(func.count())
            .select_from(m.AgentEnrollmentCode)
            .where(m.AgentEnrollmentCode.used_at.is_(None), m.AgentEnrollmentCode.expires_at > now)
        )
        or 0
    )
    profiles = await session.scalar(select(func.count(func.distinct(m.UplinkPlatform.profile)))) or 0
    return {"sites": sites, "lanes": lanes, "agents": agents + codes, "regulator_profiles": profiles}


async def summary(session: AsyncSession, principal: Principal, *, with_notices: bool = False) -> Summary:
    """The caller's tenant's billing (the account is created with its trial on first use)."""
    tenant_id = _tenant(principal)
    account = await ensure_account(session, tenant_id, principal)
    now = dt.datetime.now(dt.UTC)
    if _stage_due(account, now):  # the sweep has not run yet: record the stage now (audited, noticed)
        account = await _locked_account(session, tenant_id, principal)
        await settle(session, system_actor(tenant_id, "billing-check"), account, now)
    plan = await session.get(m.BillingPlan, account.plan_code)
    assert plan is not None
    price = await session.get(m.BillingPrice, account.price_id) if account.price_id else None
    invoices = list(
        await session.scalars(
            select(m.BillingInvoice).order_by(m.BillingInvoice.created_at.desc(), m.BillingInvoice.id.desc()).limit(50)
        )
    )
    notices: list[m.BillingNotice] = []
    if with_notices:
        notices = list(
            await session.scalars(select(m.BillingNotice).order_by(m.BillingNotice.created_at.desc()).limit(20))
        )
    return Summary(
        account=account,
        plan=plan,
        price=price,
        limits=limits_of(account, await _trial_plan(session) if account.status == "trialing" else plan, price),
        usage=await usage_of(session),
        invoices=invoices,
        banner=banner_of(account),
        stage_label=stages.LABELS[account.dunning_stage],
        status_label=stages.STATUS_LABELS[account.status],
        notices=notices,
    )


@dataclass(frozen=True)
class Standing:
    """What the entitlement checks need, read without writing anything."""

    plan_name: str
    stage: str
    limits: Limits
    usage: dict[str, int]


async def standing(session: AsyncSession, tenant_id: uuid.UUID) -> Standing:
    """The tenant's plan, stage, limits and usage (read-only: a tenant without an account is in its trial).

    The stage is the recorded one, moved forward to now when the sweep has not run yet.
    """
    account = await session.scalar(select(m.BillingAccount).where(m.BillingAccount.tenant_id == tenant_id))
    usage = await usage_of(session)
    if account is None or (account.status == "trialing" and dt.datetime.now(dt.UTC) < account.trial_ends_at):
        trial = await _trial_plan(session)
        virtual = m.BillingAccount(status="trialing", quantity=1)
        plan_name = trial.name
        if account is not None:
            current = await session.get(m.BillingPlan, account.plan_code)
            plan_name = current.name if current else plan_name
        return Standing(plan_name, "trialing", limits_of(virtual, trial, None), usage)
    now = dt.datetime.now(dt.UTC)
    stage = account.dunning_stage
    if _stage_due(account, now):
        status = "past_due" if account.status == "trialing" else account.status
        since = account.past_due_since or (account.trial_ends_at if account.status == "trialing" else None)
        stage = stages.next_stage(stage, stages.stage_of(status, since, account.trial_ends_at, now))
    plan = await session.get(m.BillingPlan, account.plan_code)
    assert plan is not None
    price = await session.get(m.BillingPrice, account.price_id) if account.price_id else None
    return Standing(plan.name, stage, limits_of(account, plan, price), usage)


def _tenant(principal: Principal) -> uuid.UUID:
    if principal.tenant_id is None:
        raise ProblemError(400, "tenant_required", "需要企业身份", "账单与发票需要以企业身份登录")
    return principal.tenant_id


async def set_invoice_details(
    session: AsyncSession, principal: Principal, invoice_title: str, tax_id: str, email: str
) -> m.BillingAccount:
    """发票抬头, 税号 (for 增值税发票) and the billing e-mail (audited)."""
    errors = FieldErrors()
    title, tax, mail = invoice_title.strip(), tax_id.strip().upper(), email.strip()
    if not 2 <= len(title) <= 100:
        errors.add("invoice_title", "invalid", "请填写发票抬头（单位全称，2–100 个字）")
    if not _TAX_ID.match(tax):
        errors.add("tax_id", "invalid", "税号应为 15–20 位数字或大写字母（统一社会信用代码为 18 位）")
    if mail and (len(mail) > 120 or not _EMAIL.match(mail)):
        errors.add("email", "invalid", "请填写有效的邮箱地址")
    errors.raise_if_any()
    account = await _locked_account(session, _tenant(principal), principal)
    account.invoice_title, account.tax_id, account.billing_email = title, tax, mail
    account.updated_at = dt.datetime.now(dt.UTC)
    audit.record(
        session,
        principal,
        "billing.invoice_details",
        "billing_account",
        account.id,
        {"invoice_title": title, "tax_id": tax},
    )
    return account


async def start_checkout(
    session: AsyncSession,
    principal: Principal,
    gateway: Gateway,
    price_id: uuid.UUID,
    quantity: int,
    coupon_code: str,
    success_url: str,
    cancel_url: str,
) -> str:
    """A Stripe Checkout session for the first subscription; returns its URL (audited)."""
    tenant_id = _tenant(principal)
    errors = FieldErrors()
    price = await session.get(m.BillingPrice, price_id)
    if price is None or not price.active:
        errors.add("price_id", "unknown", "请选择有效的套餐价格")
    if not 1 <= quantity <= 1000:
        errors.add("quantity", "out_of_range", "数量应为 1–1000")
    coupon = await session.get(m.BillingCoupon, coupon_code) if coupon_code else None
    if coupon_code and (coupon is None or not coupon.active):
        errors.add("coupon", "unknown", "优惠码无效或已停用")
    errors.raise_if_any()
    assert price is not None
    account = await _locked_account(session, tenant_id, principal)
    if account.status in {"active", "past_due"} and account.stripe_subscription_id:
        raise ProblemError(409, "already_subscribed", "已有订阅", "已有订阅，请在“管理付款方式与套餐”中变更")
    plan = await session.get(m.BillingPlan, price.plan_code)
    assert plan is not None
    if account.stripe_customer_id is None:
        tenant = await session.get(m.Tenant, tenant_id)
        name = account.invoice_title or (tenant.name if tenant else str(tenant_id))
        account.stripe_customer_id = await gateway.create_customer(str(tenant_id), name, account.billing_email)
        audit.record(
            session, principal, "billing.customer_created", "billing_account", account.id,
            {"customer": account.stripe_customer_id},
        )  # fmt: skip
    metadata = {"tenant_id": str(tenant_id), "plan_code": plan.code, "price_id": str(price.id)}
    stripe_price = await gateway.stripe_price(
        lookup_key(price.id), price.currency, price.amount_fen, price.interval,
        f"{plan.name}（按{UNIT_LABELS[price.unit]}，每{INTERVAL_LABELS[price.interval]}）",
        {"plan_code": plan.code, "price_id": str(price.id)},
    )  # fmt: skip
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": account.stripe_customer_id,
        "client_reference_id": str(tenant_id),
        "line_items": [{"quantity": quantity, "price": stripe_price}],
        "subscription_data": {"metadata": metadata},
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if coupon is not None:
        params["discounts"] = [{"coupon": coupon.code}]
    checkout = await gateway.create_checkout(params)
    account.coupon_code = coupon.code if coupon else None
    account.updated_at = dt.datetime.now(dt.UTC)
    audit.record(
        session, principal, "billing.checkout_started", "billing_account", account.id,
        {"plan": plan.code, "price_id": str(price.id), "quantity": quantity, "coupon": coupon_code,
         "session": checkout.id},
    )  # fmt: skip
    return str(checkout.url)


async def portal_link(session: AsyncSession, principal: Principal, gateway: Gateway, return_url: str) -> str:
    """The Stripe customer portal (card and plan changes) for the caller's tenant."""
    account = await ensure_account(session, _tenant(principal), principal)
    if account.stripe_customer_id is None:
        raise ProblemError(409, "no_customer", "尚未订阅", "尚未通过在线支付订阅，请先选择套餐")
    return await gateway.create_portal_session(account.stripe_customer_id, return_url)


# ---------------------------------------------------------------------------------------- webhooks


def lookup_key(price_id: uuid.UUID) -> str:
    """The Stripe Price lookup key of a catalogue price (its id survives repricing)."""
    return f"ecogate-{price_id}"


def _catalogue_price(item: Any) -> uuid.UUID | None:
    """Our price id from a subscription item's Stripe Price (lookup key or metadata), if it is one of ours."""
    key = str(_get(item, "price", "lookup_key") or "")
    raw = key.removeprefix("ecogate-") if key.startswith("ecogate-") else _get(item, "price", "metadata", "price_id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def _get(obj: Any, *path: str | int) -> Any:
    """``obj[a][b]…`` over Stripe objects and dicts; None when any step is missing."""
    for key in path:
        if obj is None:
            return None
        try:
            obj = obj[key]
        except (KeyError, TypeError, IndexError):
            return None
    return obj


def _id(value: Any) -> str | None:
    """An id field that may be expanded into its object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    found = _get(value, "id")
    return str(found) if found else None


def _ts(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value), dt.UTC) if value else None


def _subscription_of(obj: Any) -> str | None:
    kind = _get(obj, "object")
    if kind == "subscription":
        return _id(_get(obj, "id"))
    return _id(_get(obj, "subscription")) or _id(_get(obj, "parent", "subscription_details", "subscription"))


async def handle_webhook(
    database: Database, gateway: Gateway, payload: bytes, signature: str, now: dt.datetime | None = None
) -> str:
    """Apply one webhook delivery; returns ``applied``, ``duplicate`` or ``ignored``.

    Raises:
        ProblemError: 400 when the signature does not verify (nothing is read or written).
    """
    event = gateway.construct_event(payload, signature)
    event_id, event_type = str(event["id"]), str(event["type"])
    obj = event["data"]["object"]
    if event_type not in HANDLED:
        log.info("billing.webhook_ignored", event_id=event_id, type=event_type)
        return "ignored"
    customer_id = _id(_get(obj, "customer"))
    raw_tenant = _get(obj, "metadata", "tenant_id")
    if not raw_tenant and customer_id:
        raw_tenant = _get(await gateway.retrieve_customer(customer_id), "metadata", "tenant_id")
    try:
        tenant_id = uuid.UUID(str(raw_tenant))
    except ValueError:
        log.warning("billing.webhook_without_tenant", event_id=event_id, type=event_type, customer=customer_id)
        return "ignored"
    actor = system_actor(tenant_id, "stripe-webhook")
    now = now or dt.datetime.now(dt.UTC)
    async with database.session(actor) as session, session.begin():
        inserted = await session.scalar(
            insert(m.BillingEvent)
            .values(
                tenant_id=tenant_id,
                id=new_id(),
                stripe_event_id=event_id,
                type=event_type,
                object_id=_id(_get(obj, "id")) or "",
                outcome="applied",
            )
            .on_conflict_do_nothing(index_elements=["stripe_event_id"])
            .returning(m.BillingEvent.id)
        )
        if inserted is None:
            return "duplicate"
        account = await _locked_account(session, tenant_id, actor)
        if customer_id and account.stripe_customer_id not in {None, customer_id}:
            log.error("billing.webhook_customer_mismatch", event_id=event_id, tenant_id=str(tenant_id))
            event_row = await session.get(m.BillingEvent, (tenant_id, inserted))
            if event_row is not None:
                event_row.outcome = "customer_mismatch"
            return "ignored"
        if customer_id:
            account.stripe_customer_id = customer_id
        if _get(obj, "object") == "invoice":
            await _mirror_invoice(session, actor, obj)
        subscription_id = _subscription_of(obj)
        if subscription_id:
            subscription = await gateway.retrieve_subscription(subscription_id)
            await _apply_subscription(session, actor, account, subscription)
        await settle(session, actor, account, now)
    return "applied"


async def _mirror_invoice(session: AsyncSession, actor: Principal, obj: Any) -> m.BillingInvoice:
    """Insert or move forward the invoice row from the Stripe invoice object (never backwards)."""
    stripe_id = str(_get(obj, "id"))
    status = str(_get(obj, "status") or "draft")
    row = await session.scalar(select(m.BillingInvoice).where(m.BillingInvoice.stripe_invoice_id == stripe_id))
    now = dt.datetime.now(dt.UTC)
    if row is None:
        row = m.BillingInvoice(
            tenant_id=actor.tenant_id,
            stripe_invoice_id=stripe_id,
            number=str(_get(obj, "number") or stripe_id)[:64],
            status=status,
            amount_fen=int(_get(obj, "amount_due") or 0),
            currency=str(_get(obj, "currency") or "cny"),
            period_start=_ts(_get(obj, "period_start")),
            period_end=_ts(_get(obj, "period_end")),
            hosted_url=str(_get(obj, "hosted_invoice_url") or "")[:500],
        )
        session.add(row)
        await session.flush()
        old = None
    else:
        old = row.status
        if _INVOICE_RANK.get(status, 0) < _INVOICE_RANK.get(old, 0) or status == old:
            return row  # an older state of the invoice, delivered late: nothing to do
        row.status = status
        row.number = str(_get(obj, "number") or row.number)[:64]
        row.updated_at = now
    if status == "paid" and row.paid_at is None:
        row.paid_at = _ts(_get(obj, "status_transitions", "paid_at")) or now
        row.paid_method = row.paid_method or ("bank_transfer" if _get(obj, "paid_out_of_band") else "card")
    if old != status:
        audit.record(
            session, actor, f"billing.invoice_{status}", "billing_invoice", row.id,
            {"invoice": stripe_id, "from": old, "amount_fen": row.amount_fen},
        )  # fmt: skip
    return row


async def _price_of(session: AsyncSession, metadata: Any, item: Any) -> m.BillingPrice | None:
    """The catalogue price subscribed: the item's Stripe Price (a portal plan switch changes the item, not the
    metadata), else the price Checkout put in the metadata."""
    candidates: list[object] = [_catalogue_price(item), _get(metadata, "price_id")]
    for raw in candidates:
        try:
            price_id = uuid.UUID(str(raw)) if raw else None
        except ValueError:
            price_id = None
        if price_id is not None and (price := await session.get(m.BillingPrice, price_id)) is not None:
            return price
    return None


def _past_due_since(account: m.BillingAccount, subscription: Any) -> dt.datetime | None:
    """When the unpaid period began: the latest invoice's finalisation (the earliest seen wins)."""
    latest = _get(subscription, "latest_invoice")
    finalized = _ts(_get(latest, "status_transitions", "finalized_at"))
    since = finalized or _ts(_get(latest, "created")) or account.past_due_since
    if account.past_due_since is not None and since is not None:
        since = min(account.past_due_since, since)
    return since


async def _apply_subscription(
    session: AsyncSession, actor: Principal, account: m.BillingAccount, subscription: Any
) -> None:
    """Take the account's state from the subscription object as Stripe has it now."""
    sub_id = str(_get(subscription, "id"))
    stripe_status = str(_get(subscription, "status"))
    if account.stripe_subscription_id not in {None, sub_id} and stripe_status in {"canceled", "incomplete_expired"}:
        return  # an older subscription ended; the current one decides
    status = stages.status_of_subscription(stripe_status)
    item = _get(subscription, "items", "data", 0)
    price = await _price_of(session, _get(subscription, "metadata") or {}, item)
    old, old_price = account.status, account.price_id
    account.stripe_subscription_id = sub_id
    account.status = status
    account.past_due_since = _past_due_since(account, subscription) if status == "past_due" else None
    if price is not None:
        account.plan_code, account.price_id = price.plan_code, price.id
    quantity = _get(item, "quantity")
    if isinstance(quantity, int) and 1 <= quantity <= 1000:
        account.quantity = quantity
    account.current_period_end = _ts(_get(item, "current_period_end")) or account.current_period_end
    account.updated_at = dt.datetime.now(dt.UTC)
    if old != status:
        audit.record(
            session, actor, "billing.subscription_status", "billing_account", account.id,
            {"from": old, "to": status, "subscription": sub_id, "stripe_status": stripe_status},
        )  # fmt: skip
    if price is not None and old_price is not None and old_price != price.id:
        audit.record(
            session, actor, "billing.plan_changed", "billing_account", account.id,
            {"from_price": str(old_price), "to_price": str(price.id), "plan": price.plan_code},
        )  # fmt: skip


# ----------------------------------------------------------------------------------------- dunning

_NOTICES: Final = {
    "past_due": (
        "付款失败提醒",
        ("贵单位 EcoGate 订阅的最近一期账单扣款失败，系统将自动重试。请登录平台“账单与发票”更新付款方式，"
        "或通过对公转账付款。门禁、台账与监管上报不受影响。"),
    ),
    "grace": (
        "账单逾期：宽限期开始",
        ("贵单位 EcoGate 订阅账单已逾期，宽限期至 {grace_ends}。逾期后新增厂区、车道、注册终端等管理功能将暂停；"
        "门禁、台账与监管上报不受影响。"),
    ),
    "restricted": (
        "账户已受限",
        ("贵单位 EcoGate 订阅账单逾期未付，管理功能已暂停（门禁放行、电子台账、自有台账导出与监管上报照常运行）。"
        "付款后立即恢复。"),
    ),
    "active": ("付款已确认", "已收到贵单位的付款，EcoGate 订阅已恢复正常。感谢您的支持。"),
}  # fmt: skip


def _stage_due(account: m.BillingAccount, now: dt.datetime) -> bool:
    """Whether :func:`settle` would change the account at ``now``."""
    if account.status == "trialing" and account.stripe_subscription_id is None and now >= account.trial_ends_at:
        return True
    computed = stages.stage_of(account.status, account.past_due_since, account.trial_ends_at, now)
    return stages.next_stage(account.dunning_stage, computed) != account.dunning_stage


_TRIAL_ENDED: Final = (
    "试用已结束",
    (
        "贵单位的 EcoGate 试用期已结束，请登录平台“账单与发票”选择套餐并付款，或联系平台通过对公转账付款。"
        "门禁、台账与监管上报不受影响。"
    ),
)


async def settle(session: AsyncSession, actor: Principal, account: m.BillingAccount, now: dt.datetime) -> str | None:
    """Record the account's dunning stage as of ``now``: audited, with a notice; returns the new stage."""
    if account.status == "trialing" and account.stripe_subscription_id is None and now >= account.trial_ends_at:
        account.status, account.past_due_since = "past_due", account.trial_ends_at
        audit.record(
            session, actor, "billing.trial_ended", "billing_account", account.id,
            {"trial_ends_at": account.trial_ends_at.isoformat()},
        )  # fmt: skip
    computed = stages.stage_of(account.status, account.past_due_since, account.trial_ends_at, now)
    new = stages.next_stage(account.dunning_stage, computed)
    if new == account.dunning_stage:
        return None
    old = account.dunning_stage
    account.dunning_stage = new
    account.updated_at = now
    audit.record(session, actor, "billing.stage_changed", "billing_account", account.id, {"from": old, "to": new})
    if new in _NOTICES and not (new == "active" and old == "trialing"):
        ends = stages.grace_ends(account.past_due_since)
        subject, body = _TRIAL_ENDED if old == "trialing" and account.stripe_subscription_id is None else _NOTICES[new]
        session.add(
            m.BillingNotice(
                tenant_id=account.tenant_id,
                kind=new,
                recipient=account.billing_email,
                subject=subject,
                body=body.format(grace_ends=ends.astimezone(_CHINA).strftime("%Y-%m-%d") if ends else "—"),
            )
        )
    log.info("billing.stage_changed", tenant_id=str(account.tenant_id), old=old, new=new)
    return new


async def _tenants(database: Database) -> list[uuid.UUID]:
    async with database.system_session("billing overview") as session, session.begin():
        return list((await session.scalars(text("SELECT tenant_id FROM billing_overview()"))).all())


async def sweep(database: Database, now: dt.datetime | None = None) -> list[tuple[uuid.UUID, str]]:
    """Advance every account's dunning stage to ``now`` (run periodically; returns the changes)."""
    now = now or dt.datetime.now(dt.UTC)
    changed: list[tuple[uuid.UUID, str]] = []
    for tenant_id in await _tenants(database):
        actor = system_actor(tenant_id, "billing-sweep")
        async with database.session(actor) as session, session.begin():
            account = await _locked_account(session, tenant_id, actor)
            stage = await settle(session, actor, account, now)
        if stage is not None:
            changed.append((tenant_id, stage))
    return changed


# ------------------------------------------------------------------------------ bank transfer, admin


async def mark_paid_by_transfer(
    database: Database,
    actor: Principal,
    gateway: Gateway,
    tenant_id: uuid.UUID,
    invoice_id: uuid.UUID,
    reference: str,
    now: dt.datetime | None = None,
) -> m.BillingInvoice:
    """The platform admin records a bank transfer (对公转账) for an open invoice, with its reference.

    The invoice is paid out of band at Stripe too (when it is a Stripe invoice), and the account takes the
    subscription's state from Stripe afterwards: the same path as a card payment (audited).
    """
    _platform_admin(actor)
    reference = reference.strip()
    if not 4 <= len(reference) <= 100:
        errors = FieldErrors()
        errors.add("reference", "invalid", "请填写银行流水号或汇款凭证号（4–100 个字符）")
        errors.raise_if_any()
    now = now or dt.datetime.now(dt.UTC)
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with database.session(scope) as session, session.begin():
        account = await _locked_account(session, tenant_id, scope)
        invoice = await session.get(m.BillingInvoice, (tenant_id, invoice_id))
        if invoice is None:
            raise not_found("账单")
        if invoice.status not in {"open", "uncollectible"}:
            raise ProblemError(409, "invoice_not_open", "账单不可标记", "只有待支付的账单可以标记为已转账")
        if invoice.stripe_invoice_id and gateway.online:
            paid = await gateway.pay_out_of_band(invoice.stripe_invoice_id)
            await _mirror_invoice(session, scope, paid)
        else:
            invoice.status, invoice.paid_at = "paid", now
        invoice.paid_method, invoice.paid_reference, invoice.paid_by = "bank_transfer", reference, actor.login
        invoice.paid_at = invoice.paid_at or now
        invoice.updated_at = now
        audit.record(
            session, scope, "billing.paid_by_transfer", "billing_invoice", invoice.id,
            {"reference": reference, "number": invoice.number, "amount_fen": invoice.amount_fen},
        )  # fmt: skip
        if account.stripe_subscription_id and gateway.online:
            await _apply_subscription(
                session, scope, account, await gateway.retrieve_subscription(account.stripe_subscription_id)
            )
        else:
            await session.flush()
            unpaid = await session.scalar(
                select(func.count())
                .select_from(m.BillingInvoice)
                .where(m.BillingInvoice.status.in_(("open", "uncollectible")))
            )
            if not unpaid and account.status in {"past_due", "trialing"}:
                old, account.status, account.past_due_since = account.status, "active", None
                audit.record(
                    session, scope, "billing.subscription_status", "billing_account", account.id,
                    {"from": old, "to": "active", "by": "bank_transfer"},
                )  # fmt: skip
        await settle(session, scope, account, now)
    return invoice


async def issue_transfer_invoice(
    database: Database, actor: Principal, tenant_id: uuid.UUID, price_id: uuid.UUID, quantity: int
) -> m.BillingInvoice:
    """An invoice for a tenant that pays by bank transfer only (no card): open until marked paid."""
    _platform_admin(actor)
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with database.session(scope) as session, session.begin():
        account = await _locked_account(session, tenant_id, scope)
        price = await session.get(m.BillingPrice, price_id)
        if price is None or not 1 <= quantity <= 1000:
            raise ProblemError(422, "validation_failed", "数据校验未通过", "请选择有效的价格与数量")
        now = dt.datetime.now(dt.UTC)
        invoice = m.BillingInvoice(
            tenant_id=tenant_id,
            number=f"BT-{now.astimezone(_CHINA):%Y%m%d}-{new_id().hex[-6:].upper()}",
            status="open",
            amount_fen=price.amount_fen * quantity,
            currency=price.currency,
            period_start=now,
            period_end=now + dt.timedelta(days=365 if price.interval == "year" else 30),
        )
        session.add(invoice)
        account.plan_code, account.price_id, account.quantity = price.plan_code, price.id, quantity
        await session.flush()
        audit.record(
            session, scope, "billing.invoice_open", "billing_invoice", invoice.id,
            {"number": invoice.number, "amount_fen": invoice.amount_fen, "method": "bank_transfer"},
        )  # fmt: skip
    return invoice


@dataclass(frozen=True)
class OverviewRow:
    """One tenant in the platform admin's billing overview."""

    tenant_id: uuid.UUID
    tenant_name: str
    plan_code: str
    status: str
    stage: str
    quantity: int
    unit: str | None
    interval: str | None
    amount_fen: int | None
    trial_ends_at: dt.datetime
    past_due_since: dt.datetime | None

    @property
    def monthly_fen(self) -> int:
        """This tenant's contribution to MRR (active subscriptions only; annual prices over 12)."""
        if self.status != "active" or self.amount_fen is None:
            return 0
        total = self.amount_fen * self.quantity
        return total // 12 if self.interval == "year" else total


@dataclass(frozen=True)
class Overview:
    """MRR, the past-due list and the trials ending, across tenants."""

    rows: list[OverviewRow]
    mrr_fen: int
    past_due: list[OverviewRow]
    trials: list[OverviewRow]


async def overview(database: Database, actor: Principal) -> Overview:
    """The platform admin's view (the one cross-tenant read: ``billing_overview()``)."""
    _platform_admin(actor)
    async with database.system_session("billing overview") as session, session.begin():
        result = await session.execute(text("SELECT * FROM billing_overview()"))
        rows = [
            OverviewRow(
                r.tenant_id, r.tenant_name, r.plan_code, r.status, r.dunning_stage, r.quantity, r.unit,
                r.billing_interval, r.amount_fen, r.trial_ends_at, r.past_due_since,
            )
            for r in result
        ]  # fmt: skip
    return Overview(
        rows=rows,
        mrr_fen=sum(r.monthly_fen for r in rows),
        past_due=[r for r in rows if r.stage in {"past_due", "grace", "restricted"}],
        trials=sorted((r for r in rows if r.stage == "trialing"), key=lambda r: r.trial_ends_at),
    )


async def tenant_invoices(database: Database, actor: Principal, tenant_id: uuid.UUID) -> list[m.BillingInvoice]:
    """A tenant's invoices, for the platform admin (bank-transfer marking)."""
    _platform_admin(actor)
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with database.session(scope) as session, session.begin():
        return list(
            await session.scalars(
                select(m.BillingInvoice).order_by(m.BillingInvoice.created_at.desc(), m.BillingInvoice.id.desc())
            )
        )


async def stage_history(database: Database, actor: Principal, tenant_id: uuid.UUID) -> list[m.AuditLog]:
    """A tenant's billing audit trail (``billing.*``), newest first, for the platform admin."""
    _platform_admin(actor)
    scope = Principal(user_id=actor.user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id, login=actor.login)
    async with database.session(scope) as session, session.begin():
        return list(
            await session.scalars(
                select(m.AuditLog)
                .where(m.AuditLog.action.startswith("billing."))
                .order_by(m.AuditLog.at.desc(), m.AuditLog.id.desc())
                .limit(100)
            )
        )
