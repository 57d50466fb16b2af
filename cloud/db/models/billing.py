"""Billing (issue 22, migration 0019): the platform's catalogue and each tenant's account, invoices, events.

The catalogue tables (plans, prices, coupons) have no tenant: readable by every role, written only through
SECURITY DEFINER functions the platform-admin path of ``cloud.billing`` calls. The rest are tenant tables
under row-level security. Billing never gates the ledger (ADR 0033).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column


class BillingPlan(Base):
    """A plan (套餐): name, trial length and its entitlements as data."""

    __tablename__ = "billing_plan"
    __table_args__ = (CheckConstraint("trial_days >= 0 AND trial_days <= 90", name="trial_days"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    trial_days: Mapped[int] = mapped_column(Integer)
    entitlements: Mapped[dict[str, object]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean)
    sort: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[dt.datetime] = utcnow_column()


class BillingPrice(Base):
    """A price of a plan: per site or per lane, monthly or annual, in fen (CNY)."""

    __tablename__ = "billing_price"
    __table_args__ = (
        CheckConstraint("unit IN ('site', 'lane')", name="unit"),
        CheckConstraint("interval IN ('month', 'year')", name="interval"),
        CheckConstraint("amount_fen >= 0", name="amount"),
        UniqueConstraint("plan_code", "unit", "interval"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    plan_code: Mapped[str] = mapped_column(ForeignKey("billing_plan.code"))
    unit: Mapped[str] = mapped_column(String(8))
    interval: Mapped[str] = mapped_column(String(8))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = utcnow_column()


class BillingCoupon(Base):
    """A coupon (优惠券): percent off, for a number of months or forever (None)."""

    __tablename__ = "billing_coupon"
    __table_args__ = (CheckConstraint("percent_off > 0 AND percent_off <= 100", name="percent"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    percent_off: Mapped[int] = mapped_column(Integer)
    duration_months: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = utcnow_column()


class BillingAccount(TenantOwned, Base):
    """A tenant's billing: Stripe customer and subscription, plan, quantity, state, invoice title and tax id.

    ``status`` mirrors the subscription (trialing/active/past_due/canceled); ``dunning_stage`` is the last
    stage recorded (audited, noticed) by :func:`cloud.billing.service.settle_stage`.
    """

    __tablename__ = "billing_account"
    __table_args__ = (
        CheckConstraint("status IN ('trialing', 'active', 'past_due', 'canceled')", name="status"),
        CheckConstraint("dunning_stage IN ('trialing', 'active', 'past_due', 'grace', 'restricted')", name="stage"),
        CheckConstraint("quantity >= 1 AND quantity <= 1000", name="quantity"),
        UniqueConstraint("tenant_id"),
        UniqueConstraint("stripe_customer_id"),
    )

    plan_code: Mapped[str] = mapped_column(ForeignKey("billing_plan.code"))
    price_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_price.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    dunning_stage: Mapped[str] = mapped_column(String(16))
    trial_ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    past_due_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    invoice_title: Mapped[str] = mapped_column(String(100), server_default="")
    tax_id: Mapped[str] = mapped_column(String(20), server_default="")
    billing_email: Mapped[str] = mapped_column(String(120), server_default="")
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()


class BillingInvoice(TenantOwned, Base):
    """An invoice: mirrored from Stripe, paid by card or marked paid by bank transfer (对公转账)."""

    __tablename__ = "billing_invoice"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'paid', 'void', 'uncollectible')", name="status"),
        UniqueConstraint("stripe_invoice_id"),
    )

    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    hosted_url: Mapped[str] = mapped_column(String(500), server_default="")
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    paid_method: Mapped[str] = mapped_column(String(16), server_default="")
    paid_reference: Mapped[str] = mapped_column(String(100), server_default="")
    paid_by: Mapped[str] = mapped_column(String(64), server_default="")
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()


class BillingEvent(TenantOwned, Base):
    """A Stripe webhook event applied (append-only; the unique event id makes a replay a no-op)."""

    __tablename__ = "billing_event"
    __table_args__ = (UniqueConstraint("stripe_event_id"),)

    stripe_event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = utcnow_column()


class BillingNotice(TenantOwned, Base):
    """A dunning notice to be emailed (the outbox; ``sent_at`` is set by whatever sends it)."""

    __tablename__ = "billing_notice"

    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = utcnow_column()
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
