"""Portal (issue 9): lane ROIs set over a camera snapshot, and the blob a command result names.

* ``lane_roi`` — every ROI saved for a lane from the portal's agent page (append-only: the newest
  row per lane is in force; who and when on each row), with the snapshot it was drawn on and the
  ``set_lane_roi`` command that carries it to the agent.
* ``agent_command_result.blob_sha256`` — the blob an answer names (``camera_snapshot``: the JPEG).

Revision ID: 0008_portal
Revises: 0007_uplink
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0008_portal"
down_revision: str | None = "0007_uplink"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``lane_roi`` (RLS, append-only) and add ``agent_command_result.blob_sha256``."""
    op.add_column("agent_command_result", sa.Column("blob_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "lane_roi",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lane_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("x1", sa.Integer(), nullable=False),
        sa.Column("y1", sa.Integer(), nullable=False),
        sa.Column("x2", sa.Integer(), nullable=False),
        sa.Column("y2", sa.Integer(), nullable=False),
        sa.Column("image_width", sa.Integer(), nullable=False),
        sa.Column("image_height", sa.Integer(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(length=64), nullable=True),
        sa.Column("command_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_by_login", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("x1 >= 0 AND y1 >= 0 AND x2 > x1 AND y2 > y1", name=op.f("ck_lane_roi_box")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_lane_roi_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lane_id"], ["lane.tenant_id", "lane.id"], name=op.f("fk_lane_roi_tenant_id_lane_id_lane")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "agent_id"],
            ["agent.tenant_id", "agent.id"],
            name=op.f("fk_lane_roi_tenant_id_agent_id_agent"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_lane_roi")),
    )
    op.create_index("ix_lane_roi_tenant_lane_created", "lane_roi", ["tenant_id", "lane_id", "created_at"])
    policies.tenant_table(op, "lane_roi", append_only=True)


def downgrade() -> None:
    """Drop ``lane_roi`` and the result's blob column."""
    op.drop_table("lane_roi")
    op.drop_column("agent_command_result", "blob_sha256")
