"""Registry completeness for the regulator platforms, and the pre-pass check's platform serial (issue 15).

* ``vehicle_version.plate_type`` (号牌种类, GA/T 16 code, REGULATION.md §3.6) and
  ``vehicle_version.owner_address`` (车辆所有人地址; Sanmenxia requires it, §2.6): fields platform
  families ask for that the vehicle register did not hold.
* ``precheck_serial``: the serial a platform issued in answer to a pre-pass check (``/transport/check``,
  §2.5), kept so the pass record is later sent under that serial instead of a second check
  (docs/uplink.md "One check per vehicle"). Append-only.

Revision ID: 0016_registry_completeness
Revises: 0015_auth_security
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0016_registry_completeness"
down_revision: str | None = "0015_auth_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "precheck_serial"


def upgrade() -> None:
    op.add_column("vehicle_version", sa.Column("plate_type", sa.String(2), nullable=True))
    op.add_column("vehicle_version", sa.Column("owner_address", sa.String(200), nullable=True))
    op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lane_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(10), nullable=False),
        sa.Column("platform_serial", sa.String(64), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_precheck_serial_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"], name=op.f("fk_precheck_serial_tenant_id_lane")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_precheck_serial")),
    )
    op.create_index("ix_precheck_serial_lane_plate", TABLE, ["tenant_id", "lane_id", "plate", "issued_at"])
    policies.tenant_table(op, TABLE, append_only=True)
    # A pre-pass serial is used by one record only: the claim looks it up among the outbox's serials.
    op.create_index(
        "ix_uplink_outbox_platform_serial",
        "uplink_outbox",
        ["tenant_id", "platform_serial"],
        postgresql_where=sa.text("platform_serial IS NOT NULL"),
    )

    # Reports re-read the days whose passes got a weight since their watermark (cloud/reports/facts.py).
    op.create_index("ix_weighing_tenant_received", "weighing", ["tenant_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_weighing_tenant_received", table_name="weighing")
    op.drop_index("ix_uplink_outbox_platform_serial", table_name="uplink_outbox")
    policies.drop_policies(op, TABLE)
    op.drop_table(TABLE)
    op.drop_column("vehicle_version", "owner_address")
    op.drop_column("vehicle_version", "plate_type")
