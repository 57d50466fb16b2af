"""Billing (issue 22): plans, prices, coupons, each tenant's billing account, invoices, webhook events, notices.

* ``billing_plan`` / ``billing_price`` / ``billing_coupon``: the platform's catalogue (no tenant). Readable
  by every role, written only through the SECURITY DEFINER functions below, which the platform-admin path
  of ``cloud.billing`` calls (the ``region_alert`` pattern, ADR 0005). Seeded with the three plans the
  onboarding form already named (标准版/专业版/旗舰版).
* ``billing_account``: one row per tenant (Stripe customer and subscription, plan, quantity, state,
  trial end, past-due start, 发票抬头 and 税号 for 增值税发票).
* ``billing_invoice``: invoices mirrored from Stripe (card) or marked paid by bank transfer (对公转账).
* ``billing_event``: every Stripe webhook event applied, by its id (unique: a replay inserts nothing).
* ``billing_notice``: the outbox of dunning notices (emails to be sent).
* ``billing_overview()``: the platform admin's one cross-tenant read (MRR, past-due list, trial ends).

Every state change is audited in ``audit_log`` (``billing.*`` actions). Billing never gates the ledger
(ADR 0033).

Revision ID: 0019_billing
Revises: 0018_background_jobs
Create Date: 2026-12-07 17:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies
from tenants.roles import APP_ROLE, OWNER_ROLE

revision: str = "0019_billing"
down_revision: str | None = "0018_background_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = {
    "billing_put_plan(text, text, integer, jsonb, boolean, integer)": """
CREATE FUNCTION billing_put_plan(
    p_code text, p_name text, p_trial_days integer, p_entitlements jsonb, p_active boolean, p_sort integer
) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO billing_plan (code, name, trial_days, entitlements, active, sort, updated_at)
    VALUES (p_code, p_name, p_trial_days, p_entitlements, p_active, p_sort, now())
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, trial_days = EXCLUDED.trial_days,
        entitlements = EXCLUDED.entitlements, active = EXCLUDED.active, sort = EXCLUDED.sort, updated_at = now()
$$""",
    "billing_put_price(uuid, text, text, text, bigint, boolean)": """
CREATE FUNCTION billing_put_price(
    p_id uuid, p_plan text, p_unit text, p_interval text, p_amount bigint, p_active boolean
) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO billing_price (id, plan_code, unit, interval, amount_fen, currency, active, updated_at)
    VALUES (p_id, p_plan, p_unit, p_interval, p_amount, 'cny', p_active, now())
    ON CONFLICT (id) DO UPDATE SET amount_fen = EXCLUDED.amount_fen, active = EXCLUDED.active, updated_at = now()
$$""",
    "billing_put_coupon(text, text, integer, integer, boolean)": """
CREATE FUNCTION billing_put_coupon(
    p_code text, p_name text, p_percent integer, p_months integer, p_active boolean
) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO billing_coupon (code, name, percent_off, duration_months, active, updated_at)
    VALUES (p_code, p_name, p_percent, p_months, p_active, now())
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, percent_off = EXCLUDED.percent_off,
        duration_months = EXCLUDED.duration_months, active = EXCLUDED.active, updated_at = now()
$$""",
    "billing_overview()": """
CREATE FUNCTION billing_overview() RETURNS TABLE (
    tenant_id uuid, tenant_name text, plan_code text, status text, dunning_stage text, quantity integer,
    unit text, billing_interval text, amount_fen bigint, trial_ends_at timestamptz, past_due_since timestamptz,
    updated_at timestamptz
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.tenant_id, t.name::text, a.plan_code::text, a.status::text, a.dunning_stage::text, a.quantity,
           p.unit::text, p.interval::text, p.amount_fen, a.trial_ends_at, a.past_due_since, a.updated_at
    FROM billing_account a
    JOIN tenant t ON t.id = a.tenant_id
    LEFT JOIN billing_price p ON p.id = a.price_id
    ORDER BY t.name
$$""",
}

_SEED_PLANS = """
INSERT INTO billing_plan (code, name, trial_days, entitlements, active, sort) VALUES
 ('standard', '标准版', 14,
  '{"sites": 1, "lanes": 2, "agents": 1, "regulator_profiles": 1, "export_formats": ["csv", "xlsx"],
    "retention_months": 24, "api_access": false}', true, 1),
 ('professional', '专业版', 14,
  '{"sites": 3, "lanes": 8, "agents": 3, "regulator_profiles": 2, "export_formats": ["csv", "xlsx", "pdf"],
    "retention_months": 36, "api_access": true}', true, 2),
 ('enterprise', '旗舰版', 30,
  '{"sites": 20, "lanes": 80, "agents": 20, "regulator_profiles": 5, "export_formats": ["csv", "xlsx", "pdf"],
    "retention_months": 60, "api_access": true}', true, 3)
"""
_SEED_PRICES = """
INSERT INTO billing_price (id, plan_code, unit, interval, amount_fen, currency, active) VALUES
 ('01930000-0000-7000-8000-000000000101', 'standard', 'lane', 'month', 30000, 'cny', true),
 ('01930000-0000-7000-8000-000000000102', 'standard', 'lane', 'year', 300000, 'cny', true),
 ('01930000-0000-7000-8000-000000000201', 'professional', 'lane', 'month', 50000, 'cny', true),
 ('01930000-0000-7000-8000-000000000202', 'professional', 'lane', 'year', 500000, 'cny', true),
 ('01930000-0000-7000-8000-000000000301', 'enterprise', 'site', 'month', 300000, 'cny', true),
 ('01930000-0000-7000-8000-000000000302', 'enterprise', 'site', 'year', 3000000, 'cny', true)
"""

_TENANT_TABLES = ("billing_account", "billing_invoice", "billing_event", "billing_notice")


def _keys(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def _catalogue() -> None:
    now = sa.text("now()")
    op.create_table(
        "billing_plan",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("entitlements", postgresql.JSONB(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint("trial_days >= 0 AND trial_days <= 90", name=op.f("ck_billing_plan_trial_days")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_billing_plan")),
    )
    op.create_table(
        "billing_price",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_code", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint("unit IN ('site', 'lane')", name=op.f("ck_billing_price_unit")),
        sa.CheckConstraint("interval IN ('month', 'year')", name=op.f("ck_billing_price_interval")),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_billing_price_amount")),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["billing_plan.code"], name=op.f("fk_billing_price_plan_code_billing_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_price")),
        sa.UniqueConstraint("plan_code", "unit", "interval", name=op.f("uq_billing_price_plan_code_unit_interval")),
    )
    op.create_table(
        "billing_coupon",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("duration_months", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint("percent_off > 0 AND percent_off <= 100", name=op.f("ck_billing_coupon_percent")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_billing_coupon")),
    )
    for table in ("billing_plan", "billing_price", "billing_coupon"):
        policies.reference_table(op, table)


def upgrade() -> None:
    now = sa.text("now()")
    _catalogue()
    op.create_table(
        "billing_account",
        *_keys("billing_account"),
        sa.Column("plan_code", sa.String(32), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dunning_stage", sa.String(16), nullable=False),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stripe_customer_id", sa.String(255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(255), nullable=True),
        sa.Column("coupon_code", sa.String(32), nullable=True),
        sa.Column("invoice_title", sa.String(100), server_default="", nullable=False),
        sa.Column("tax_id", sa.String(20), server_default="", nullable=False),
        sa.Column("billing_email", sa.String(120), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint(
            "status IN ('trialing', 'active', 'past_due', 'canceled')", name=op.f("ck_billing_account_status")
        ),
        sa.CheckConstraint(
            "dunning_stage IN ('trialing', 'active', 'past_due', 'grace', 'restricted')",
            name=op.f("ck_billing_account_stage"),
        ),
        sa.CheckConstraint("quantity >= 1 AND quantity <= 1000", name=op.f("ck_billing_account_quantity")),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["billing_plan.code"], name=op.f("fk_billing_account_plan_code_billing_plan")
        ),
        sa.ForeignKeyConstraint(
            ["price_id"], ["billing_price.id"], name=op.f("fk_billing_account_price_id_billing_price")
        ),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_account_tenant_id")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_billing_account_stripe_customer_id")),
    )
    op.create_table(
        "billing_invoice",
        *_keys("billing_invoice"),
        sa.Column("stripe_invoice_id", sa.String(255), nullable=True),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hosted_url", sa.String(500), server_default="", nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_method", sa.String(16), server_default="", nullable=False),
        sa.Column("paid_reference", sa.String(100), server_default="", nullable=False),
        sa.Column("paid_by", sa.String(64), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')", name=op.f("ck_billing_invoice_status")
        ),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_billing_invoice_stripe_invoice_id")),
    )
    op.create_table(
        "billing_event",
        *_keys("billing_event"),
        sa.Column("stripe_event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_billing_event_stripe_event_id")),
    )
    op.create_table(
        "billing_notice",
        *_keys("billing_notice"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    for table in _TENANT_TABLES:
        policies.tenant_table(op, table, append_only=table == "billing_event")
    op.execute(_SEED_PLANS)
    op.execute(_SEED_PRICES)
    # The overview function (owner) reads every account and tenant name; nothing else of a tenant.
    op.execute(f"CREATE POLICY billing_overview_scan ON billing_account FOR SELECT TO {OWNER_ROLE} USING (true)")
    op.execute(f"CREATE POLICY billing_overview_names ON tenant FOR SELECT TO {OWNER_ROLE} USING (true)")
    for signature, body in _FUNCTIONS.items():
        op.execute(body)
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP POLICY IF EXISTS billing_overview_names ON tenant")
    op.execute("DROP POLICY IF EXISTS billing_overview_scan ON billing_account")
    for table in reversed(_TENANT_TABLES):
        policies.drop_policies(op, table)
        op.drop_table(table)
    for table in ("billing_coupon", "billing_price", "billing_plan"):
        op.drop_table(table)
