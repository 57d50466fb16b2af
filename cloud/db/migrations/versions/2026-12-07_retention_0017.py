"""Retention of evidence (issue 21): settings, legal holds and a record of every purge.

REGULATION.md: ledgers, pass details and photos are kept at least 24 months, video at least 12. The
records themselves (pass rows, their hashes) are kept; what the retention job removes past a tenant's
period is the bytes of photos and clips, each removal recorded in ``retention_purge`` (append-only), so
the ledger stays complete and every chain still verifies (hashes cover the digests, not the bytes).

* ``retention_setting``: a tenant's periods (months, never below the floors), newest row wins;
* ``legal_hold``: start/end events; while the newest is a start nothing of the tenant is purged;
* ``retention_purge``: one row per purged object of a tenant (digest, kind, the pass, the cutoff, why);
* ``blob_unpurged_holders(sha)``: the one cross-tenant read (SECURITY DEFINER): how many tenants stored
  the object and have not purged it. Blob files are content-addressed and shared, so a file is deleted
  only when that count is 0.

Revision ID: 0017_retention
Revises: 0016_registry_completeness
Create Date: 2026-12-07 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies
from tenants.roles import APP_ROLE, OWNER_ROLE

revision: str = "0017_retention"
down_revision: str | None = "0016_registry_completeness"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLDERS = """
CREATE FUNCTION blob_unpurged_holders(digest text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*)::integer FROM blob b
    WHERE b.sha256 = digest
      AND NOT EXISTS (SELECT 1 FROM retention_purge p WHERE p.tenant_id = b.tenant_id AND p.sha256 = digest)
$$
"""


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
    now = sa.text("now()")
    op.create_table(
        "retention_setting",
        *_keys("retention_setting"),
        sa.Column("photo_months", sa.Integer(), nullable=False),
        sa.Column("video_months", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint("photo_months >= 24 AND photo_months <= 240", name=op.f("ck_retention_setting_photo")),
        sa.CheckConstraint("video_months >= 12 AND video_months <= 240", name=op.f("ck_retention_setting_video")),
    )
    op.create_table(
        "legal_hold",
        *_keys("legal_hold"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
    )
    op.create_table(
        "retention_purge",
        *_keys("retention_purge"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pass_event_id", sa.Uuid(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.CheckConstraint("kind IN ('photo', 'video')", name=op.f("ck_retention_purge_kind")),
        sa.UniqueConstraint("tenant_id", "sha256", name=op.f("uq_retention_purge_tenant_id_sha256")),
    )
    for table in ("retention_setting", "legal_hold", "retention_purge"):
        policies.tenant_table(op, table, append_only=True)
    # The owner may see which tenants stored and purged an object (through the function below only).
    op.execute(f"CREATE POLICY retention_blob_scan ON blob FOR SELECT TO {OWNER_ROLE} USING (true)")
    op.execute(f"CREATE POLICY retention_purge_scan ON retention_purge FOR SELECT TO {OWNER_ROLE} USING (true)")
    op.execute(_HOLDERS)
    op.execute("REVOKE ALL ON FUNCTION blob_unpurged_holders(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION blob_unpurged_holders(text) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS blob_unpurged_holders(text)")
    op.execute("DROP POLICY IF EXISTS retention_purge_scan ON retention_purge")
    op.execute("DROP POLICY IF EXISTS retention_blob_scan ON blob")
    for table in ("retention_purge", "legal_hold", "retention_setting"):
        policies.drop_policies(op, table)
        op.drop_table(table)
