"""Agent sync (issue 5): enrollment codes, credential rotation, agent commands and health.

* ``agent_enrollment_code`` — one-time codes for a site, stored as SHA-256, with expiry and use. The
  public exchange endpoint runs before any tenant is known: the ``enrollment_lookup`` policy lets the
  application see (and mark used) only the row whose hash the session put in ``app.login``
  (``enroll:<sha256>``), like the ``agent_lookup`` policy of 0004.
* ``agent_command`` — every command sent to agents (append-only), addressed to a list of agents or to
  the whole tenant; ``agent_command_result`` — each agent's answer (append-only, one per agent).
* ``agent`` gains ``revoked_at`` / ``credential_rotated_at`` / ``health_at``.

Revision ID: 0006_agent_sync
Revises: 0005_compliance
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies
from tenants.roles import APP_ROLE

revision: str = "0006_agent_sync"
down_revision: str | None = "0005_compliance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the enrollment, command and result tables and the agent health columns."""
    op.add_column("agent", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("agent", sa.Column("credential_rotated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("agent", sa.Column("health_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "agent_enrollment_code",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("agent_name", sa.String(length=100), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_agent_enrollment_code_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"],
            ["site.tenant_id", "site.id"],
            name=op.f("fk_agent_enrollment_code_tenant_id_site_id_site"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_agent_enrollment_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_agent_enrollment_code_code_hash")),
    )
    op.create_table(
        "agent_command",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_ids", postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_agent_command_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_agent_command")),
    )
    op.create_index("ix_agent_command_tenant_created", "agent_command", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "agent_command_result",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_agent_command_result_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "agent_id"],
            ["agent.tenant_id", "agent.id"],
            name=op.f("fk_agent_command_result_tenant_id_agent_id_agent"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_agent_command_result")),
        sa.UniqueConstraint(
            "tenant_id", "command_id", "agent_id", name=op.f("uq_agent_command_result_tenant_id_command_id_agent_id")
        ),
    )
    policies.tenant_table(op, "agent_enrollment_code")
    policies.tenant_table(op, "agent_command", append_only=True)
    policies.tenant_table(op, "agent_command_result", append_only=True)
    lookup = f"'enroll:' || code_hash = {policies.CURRENT_LOGIN}"
    op.execute(
        f"CREATE POLICY enrollment_lookup ON agent_enrollment_code TO {APP_ROLE} USING ({lookup}) WITH CHECK ({lookup})"
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    op.execute("DROP POLICY IF EXISTS enrollment_lookup ON agent_enrollment_code")
    for table in ("agent_command_result", "agent_command", "agent_enrollment_code"):
        op.drop_table(table)
    for column in ("health_at", "credential_rotated_at", "revoked_at"):
        op.drop_column("agent", column)
