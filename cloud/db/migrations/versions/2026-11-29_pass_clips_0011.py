"""Late clips of pass events (issue 4, ADR 0020): ``pass_clip``, append-only, one row per attachment.

The agent cuts the full clip [pass − clip_before_s, pass + clip_after_s] after the barrier command
and sends it as an ``evidence_attach`` message once its event is stored; the sealed event is never
changed (its canonical bytes and hash stay as they were).

Revision ID: 0011_pass_clips
Revises: 0010_uplink_schedules
Create Date: 2026-11-29 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0011_pass_clips"
down_revision: str | None = "0010_uplink_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "pass_clip"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pass_event_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mime", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_pass_clip_sha256_hex")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_pass_clip_size")),
        sa.CheckConstraint('"start" <= "end"', name=op.f("ck_pass_clip_span")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_pass_clip_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "pass_event_id"],
            ["pass_event.tenant_id", "pass_event.id"],
            name=op.f("fk_pass_clip_tenant_id_pass_event"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "agent_id"], ["agent.tenant_id", "agent.id"], name=op.f("fk_pass_clip_tenant_id_agent")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_pass_clip")),
    )
    op.create_index("ix_pass_clip_tenant_pass", TABLE, ["tenant_id", "pass_event_id"])
    policies.tenant_table(op, TABLE, append_only=True)


def downgrade() -> None:
    policies.drop_policies(op, TABLE)
    op.drop_table(TABLE)
