"""Pass corrections (issue 7): append-only rows that correct a pass event, with who and why.

The ledger figures take the newest correction of each pass (cloud/reports/facts.py); the event
itself is never updated (ARCHITECTURE.md "Data model": corrections are new rows).

Revision ID: 0009_pass_corrections
Revises: 0008_portal
Create Date: 2026-11-28 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0009_pass_corrections"
down_revision: str | None = "0008_portal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "pass_correction"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pass_event_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(10), nullable=True),
        sa.Column("plate_colour", sa.String(12), nullable=True),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("direction", sa.String(3), nullable=True),
        sa.Column("cargo_name", sa.String(64), nullable=True),
        sa.Column("net_kg", sa.Numeric(10, 1), nullable=True),
        sa.Column("void", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_by_login", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "direction IS NULL OR direction IN ('in', 'out')", name=op.f("ck_pass_correction_direction")
        ),
        sa.CheckConstraint(
            "net_kg IS NULL OR (net_kg >= 0 AND net_kg <= 200000)", name=op.f("ck_pass_correction_net_range")
        ),
        sa.CheckConstraint("btrim(reason) <> ''", name=op.f("ck_pass_correction_reason")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_pass_correction_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "pass_event_id"],
            ["pass_event.tenant_id", "pass_event.id"],
            name=op.f("fk_pass_correction_tenant_id_pass_event"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vehicle_id"],
            ["vehicle.tenant_id", "vehicle.id"],
            name=op.f("fk_pass_correction_tenant_id_vehicle"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_pass_correction")),
    )
    op.create_index("ix_pass_correction_tenant_pass", TABLE, ["tenant_id", "pass_event_id", "created_at"])
    op.create_index("ix_pass_correction_tenant_created", TABLE, ["tenant_id", "created_at"])
    policies.tenant_table(op, TABLE, append_only=True)


def downgrade() -> None:
    policies.drop_policies(op, TABLE)
    op.drop_table(TABLE)
