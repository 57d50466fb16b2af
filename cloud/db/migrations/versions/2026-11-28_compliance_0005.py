"""Compliance (issue 6): policies, region alerts, emergency responses, blacklist, reviews, check flags,
inventories, audit samples, the per-tenant cloud chain and chain anchors.

Tenant tables get forced row-level security through tenants.policies; records are append-only for the
application except the working documents (check watermark, inventory sheets and lines).
``region_alert`` is platform-level: readable by every role, written only through the two
SECURITY DEFINER functions below, which the platform-admin path calls (docs/adr/0005).

Revision ID: 0005_compliance
Revises: 0004_agent_lookup
Create Date: 2026-11-28 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies
from tenants.roles import APP_ROLE

revision: str = "0005_compliance"
down_revision: str | None = "0004_agent_lookup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = (
    "policy_version",
    "emergency_response",
    "blacklist_entry",
    "blacklist_revocation",
    "vehicle_review",
    "check_flag",
    "check_resolution",
    "audit_sample",
    "cloud_chain",
    "chain_anchor",
)
MUTABLE = ("check_state", "inventory_sheet", "inventory_line")

_DECLARE = """
CREATE FUNCTION declare_region_alert(
    p_id uuid, p_region text, p_level text, p_starts timestamptz, p_ends timestamptz, p_reason text, p_source text
) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO region_alert (id, region_code, level, starts_at, ends_at, reason, source, declared_by, declared_at)
    VALUES (p_id, p_region, p_level, p_starts, p_ends, p_reason, p_source,
            NULLIF(current_setting('app.user_id', true), '')::uuid, now())
$$
"""
_CANCEL = """
CREATE FUNCTION cancel_region_alert(p_id uuid, p_reason text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH done AS (
        UPDATE region_alert SET cancelled_at = now(), cancel_reason = p_reason,
               cancelled_by = NULLIF(current_setting('app.user_id', true), '')::uuid
        WHERE id = p_id AND cancelled_at IS NULL RETURNING 1
    ) SELECT EXISTS (SELECT 1 FROM done)
$$
"""
_SIGNATURES = (
    "declare_region_alert(uuid, text, text, timestamptz, timestamptz, text, text)",
    "cancel_region_alert(uuid, text)",
)


def upgrade() -> None:
    op.create_table(
        "region_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("declared_by", sa.Uuid(), nullable=True),
        sa.Column("declared_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.Uuid(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint("level IN ('yellow', 'orange', 'red')", name=op.f("ck_region_alert_level")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_region_alert_window")),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"], name=op.f("fk_region_alert_region_code_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_alert")),
    )
    op.create_index("ix_region_alert_region_time", "region_alert", ["region_code", "starts_at"], unique=False)
    op.create_table(
        "audit_sample",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pass_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_audit_sample_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_audit_sample")),
    )
    op.create_table(
        "blacklist_entry",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("plate_colour", sa.String(length=12), nullable=True),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("list_name", sa.String(length=100), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("import_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source IN ('regulator', 'enterprise')", name=op.f("ck_blacklist_entry_source")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_blacklist_entry_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_blacklist_entry")),
    )
    op.create_index("ix_blacklist_entry_tenant_plate", "blacklist_entry", ["tenant_id", "plate"], unique=False)
    op.create_table(
        "chain_anchor",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("heads", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_anchor_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('daily', 'on_demand')", name=op.f("ck_chain_anchor_kind")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_chain_anchor_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_chain_anchor")),
    )
    op.create_index("ix_chain_anchor_tenant_created", "chain_anchor", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "check_state",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("passes_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vehicles_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_check_state_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_check_state")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_check_state_tenant_id")),
    )
    op.create_table(
        "cloud_chain",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_cloud_chain_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_cloud_chain")),
        sa.UniqueConstraint(
            "tenant_id", "record_type", "record_id", name=op.f("uq_cloud_chain_tenant_id_record_type_record_id")
        ),
        sa.UniqueConstraint("tenant_id", "seq", name=op.f("uq_cloud_chain_tenant_id_seq")),
    )
    op.create_table(
        "emergency_response",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("agents_notified", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("event IN ('declared', 'cancelled')", name=op.f("ck_emergency_response_event")),
        sa.CheckConstraint("level IN ('yellow', 'orange', 'red')", name=op.f("ck_emergency_response_level")),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["region_alert.id"], name=op.f("fk_emergency_response_alert_id_region_alert")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_emergency_response_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_emergency_response")),
    )
    op.create_index(
        "ix_emergency_response_tenant_start", "emergency_response", ["tenant_id", "starts_at"], unique=False
    )
    op.create_table(
        "policy_version",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("policy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "effective_until IS NULL OR effective_from IS NULL OR effective_until > effective_from",
            name=op.f("ck_policy_version_window"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_policy_version_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_policy_version")),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_policy_version_tenant_id_version")),
    )
    op.create_table(
        "blacklist_revocation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_id"],
            ["blacklist_entry.tenant_id", "blacklist_entry.id"],
            name=op.f("fk_blacklist_revocation_tenant_id_entry_id_blacklist_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_blacklist_revocation_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_blacklist_revocation")),
        sa.UniqueConstraint("tenant_id", "entry_id", name=op.f("uq_blacklist_revocation_tenant_id_entry_id")),
    )
    op.create_table(
        "inventory_sheet",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('in_plant', 'nrmm', 'all')", name=op.f("ck_inventory_sheet_scope")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_inventory_sheet_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"],
            ["site.tenant_id", "site.id"],
            name=op.f("fk_inventory_sheet_tenant_id_site_id_site"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_inventory_sheet_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_inventory_sheet")),
    )
    op.create_table(
        "inventory_line",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sheet_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("category", sa.String(length=10), nullable=True),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("expected", sa.Boolean(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("follow_up", sa.String(length=200), nullable=True),
        sa.Column("counted_by", sa.Uuid(), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "sheet_id"],
            ["inventory_sheet.tenant_id", "inventory_sheet.id"],
            name=op.f("fk_inventory_line_tenant_id_sheet_id_inventory_sheet"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vehicle_id"],
            ["vehicle.tenant_id", "vehicle.id"],
            name=op.f("fk_inventory_line_tenant_id_vehicle_id_vehicle"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_inventory_line_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_inventory_line")),
        sa.UniqueConstraint(
            "tenant_id", "sheet_id", "identifier", name=op.f("uq_inventory_line_tenant_id_sheet_id_identifier")
        ),
    )
    op.create_table(
        "vehicle_review",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("reviewed_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("decision IN ('verified', 'rejected')", name=op.f("ck_vehicle_review_decision")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vehicle_id"],
            ["vehicle.tenant_id", "vehicle.id"],
            name=op.f("fk_vehicle_review_tenant_id_vehicle_id_vehicle"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "version_id"],
            ["vehicle_version.tenant_id", "vehicle_version.id"],
            name=op.f("fk_vehicle_review_tenant_id_version_id_vehicle_version"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_vehicle_review_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vehicle_review")),
        sa.UniqueConstraint("tenant_id", "version_id", name=op.f("uq_vehicle_review_tenant_id_version_id")),
    )
    op.create_table(
        "check_flag",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("subject_key", sa.String(length=80), nullable=False),
        sa.Column("pass_event_id", sa.Uuid(), nullable=True),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("plate", sa.String(length=10), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message", sa.String(length=400), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "pass_event_id"],
            ["pass_event.tenant_id", "pass_event.id"],
            name=op.f("fk_check_flag_tenant_id_pass_event_id_pass_event"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vehicle_id"],
            ["vehicle.tenant_id", "vehicle.id"],
            name=op.f("fk_check_flag_tenant_id_vehicle_id_vehicle"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_check_flag_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_check_flag")),
        sa.UniqueConstraint("tenant_id", "code", "subject_key", name=op.f("uq_check_flag_tenant_id_code_subject_key")),
    )
    op.create_index("ix_check_flag_tenant_created", "check_flag", ["tenant_id", "created_at"], unique=False)
    op.create_index("ix_check_flag_tenant_pass", "check_flag", ["tenant_id", "pass_event_id"], unique=False)
    op.create_index("ix_check_flag_tenant_vehicle", "check_flag", ["tenant_id", "vehicle_id"], unique=False)
    op.create_table(
        "check_resolution",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flag_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("resolved_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('resolved', 'dismissed', 'reopened')", name=op.f("ck_check_resolution_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "flag_id"],
            ["check_flag.tenant_id", "check_flag.id"],
            name=op.f("fk_check_resolution_tenant_id_flag_id_check_flag"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_check_resolution_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_check_resolution")),
    )
    op.create_index(
        "ix_check_resolution_tenant_flag", "check_resolution", ["tenant_id", "flag_id", "created_at"], unique=False
    )
    for table in MUTABLE:
        policies.tenant_table(op, table)
    for table in APPEND_ONLY:
        policies.tenant_table(op, table, append_only=True)
    policies.reference_table(op, "region_alert")
    op.execute(_DECLARE)
    op.execute(_CANCEL)
    for signature in _SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    for signature in _SIGNATURES:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    for table in (
        "chain_anchor",
        "cloud_chain",
        "audit_sample",
        "inventory_line",
        "inventory_sheet",
        "check_state",
        "check_resolution",
        "check_flag",
        "vehicle_review",
        "blacklist_revocation",
        "blacklist_entry",
        "emergency_response",
        "policy_version",
        "region_alert",
    ):
        op.drop_table(table)
