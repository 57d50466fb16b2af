"""Reports: daily aggregates, refresh watermark, non-road transport records, export jobs (issue 7).

Also indexes ``pass_event (tenant_id, received_at)`` so the report refresh finds the days whose
events arrived since its watermark without scanning the ledger.

Revision ID: 0002_reports
Revises: 0001
Create Date: 2026-11-28 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies

revision: str = "0002_reports"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "report_daily",
        *_keys("report_daily"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("decision", sa.String(6), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("category", sa.String(10), nullable=True),
        sa.Column("fuel", sa.String(12), nullable=True),
        sa.Column("stage", sa.String(12), nullable=True),
        sa.Column("heavy", sa.Boolean(), nullable=True),
        sa.Column("carrier", sa.String(100), nullable=True),
        sa.Column("emergency_level", sa.String(16), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("weighed", sa.Integer(), nullable=False),
        sa.Column("net_kg", sa.Numeric(16, 1), nullable=False),
        sa.Column("complete", sa.Integer(), nullable=False),
        sa.Column("timely", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("cargo_unweighed", sa.Integer(), nullable=False),
        sa.Column("manual_with_reason", sa.Integer(), nullable=False),
    )
    op.create_index("ix_report_daily_tenant_day", "report_daily", ["tenant_id", "day"])
    op.create_table(
        "report_daily_reason",
        *_keys("report_daily_reason"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
    )
    op.create_index("ix_report_daily_reason_tenant_day", "report_daily_reason", ["tenant_id", "day"])
    op.create_table(
        "report_refresh_state",
        *_keys("report_refresh_state"),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_report_refresh_state_tenant_id")),
    )
    op.create_table(
        "non_road_transport",
        *_keys("non_road_transport"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("cargo_name", sa.String(64), nullable=False),
        sa.Column("tonnage_t", sa.Numeric(14, 3), nullable=False),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "supersedes_id"],
            ["non_road_transport.tenant_id", "non_road_transport.id"],
            name=op.f("fk_non_road_transport_tenant_id_supersedes_id_non_road_transport"),
        ),
        sa.CheckConstraint(
            "mode IN ('rail', 'water', 'pipeline', 'tubular_belt', 'belt_gallery')",
            name=op.f("ck_non_road_transport_mode"),
        ),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_non_road_transport_direction")),
        sa.CheckConstraint("tonnage_t >= 0 AND trips >= 0", name=op.f("ck_non_road_transport_non_negative")),
    )
    op.create_index("ix_non_road_transport_tenant_day", "non_road_transport", ["tenant_id", "day"])
    op.create_table(
        "report_export_job",
        *_keys("report_export_job"),
        sa.Column("report", sa.String(32), nullable=False),
        sa.Column("format", sa.String(4), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("filename", sa.String(200), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_report_export_job_status")
        ),
        sa.CheckConstraint("format IN ('xlsx', 'pdf', 'csv')", name=op.f("ck_report_export_job_format")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_report_export_job_progress")),
    )
    op.create_index("ix_report_export_job_tenant_created", "report_export_job", ["tenant_id", "created_at"])
    op.create_index("ix_pass_event_tenant_received", "pass_event", ["tenant_id", "received_at"])
    for table in ("report_daily", "report_daily_reason", "report_refresh_state", "report_export_job"):
        policies.tenant_table(op, table)
    policies.tenant_table(op, "non_road_transport", append_only=True)


def downgrade() -> None:
    op.drop_index("ix_pass_event_tenant_received", table_name="pass_event")
    for table in ("report_export_job", "non_road_transport", "report_refresh_state", "report_daily_reason"):
        op.drop_table(table)
    op.drop_table("report_daily")
