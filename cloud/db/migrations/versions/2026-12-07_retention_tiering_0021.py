"""Storage classes in retention (issue 21 item 1, issue 20): a record of every object moved to a colder class.

Past a tenant's hot period the retention run moves the bytes of photos and clips to the blob store's cold
class (S3 ``STANDARD_IA``/``GLACIER_IR``, OSS ``IA``; the filesystem store's ``cold/`` tier) and records each
object here (append-only, like ``retention_purge``), with one audit entry per run. The record is what the
next run skips; the bytes stay readable at once.

Revision ID: 0021_retention_tiering
Revises: 0020_ops_metrics
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0021_retention_tiering"
down_revision: str | None = "0020_ops_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = "retention_move"
    op.create_table(
        table,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pass_event_id", sa.Uuid(), nullable=True),
        sa.Column("storage_class", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
        sa.CheckConstraint("kind IN ('photo', 'video')", name=op.f(f"ck_{table}_kind")),
        sa.UniqueConstraint("tenant_id", "sha256", "storage_class", name=op.f(f"uq_{table}_tenant_id_sha256_class")),
    )
    policies.tenant_table(op, table, append_only=True)


def downgrade() -> None:
    policies.drop_policies(op, "retention_move")
    op.drop_table("retention_move")
