"""Background jobs (exports, imports) as rows any replica can claim, with a lease (issue 20, ADR 0031).

``background_job`` (tenant table, RLS) holds one row per job: its kind and parameters, status and progress,
the claim (``claimed_by``, ``lease_until``, ``heartbeat_at``, ``attempts``) and, when done, the result's
digest in the blob store (``result_sha256``) with its file name and content type. A runner claims a due
row with ``FOR UPDATE SKIP LOCKED`` and commits; while it works it renews the lease (heartbeat); a row
whose lease ran out (its replica died) is due again and another replica takes it over.

``job_due_tenants()`` is the one cross-tenant read (SECURITY DEFINER, tenant ids only), as
``uplink_due_tenants()`` (0007).

Revision ID: 0018_background_jobs
Revises: 0017_retention
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies
from tenants.roles import APP_ROLE, OWNER_ROLE

revision: str = "0018_background_jobs"
down_revision: str | None = "0017_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = """
CREATE FUNCTION job_due_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM background_job
    WHERE status = 'queued' OR (status = 'running' AND lease_until < now())
$$
"""


def upgrade() -> None:
    now = sa.text("now()")
    table = "background_job"
    op.create_table(
        table,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.String(8), nullable=False, server_default="queued"),
        sa.Column("progress", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_sha256", sa.String(64), nullable=True),
        sa.Column("result_filename", sa.String(200), nullable=True),
        sa.Column("result_content_type", sa.String(100), nullable=True),
        sa.Column("result_rows", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f(f"ck_{table}_status")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f(f"ck_{table}_progress")),
        sa.CheckConstraint("attempts >= 0", name=op.f(f"ck_{table}_attempts")),
    )
    op.create_index("ix_background_job_tenant_created", table, ["tenant_id", "created_at"])
    op.create_index(
        "ix_background_job_due",
        table,
        ["tenant_id", "created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    policies.tenant_table(op, table)
    op.execute(
        f"CREATE POLICY job_due_scan ON {table} FOR SELECT TO {OWNER_ROLE} USING (status IN ('queued', 'running'))"
    )
    op.execute(_DUE)
    op.execute("REVOKE ALL ON FUNCTION job_due_tenants() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION job_due_tenants() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS job_due_tenants()")
    op.execute("DROP POLICY IF EXISTS job_due_scan ON background_job")
    policies.drop_policies(op, "background_job")
    op.drop_table("background_job")
