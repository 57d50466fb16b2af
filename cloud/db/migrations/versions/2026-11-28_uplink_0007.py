"""Regulator uplink (issue 8): per-tenant platform configuration, transactional outbox, attempt log.

``uplink_outbox`` gets one row per record to send, inserted in the transaction that writes the
record (cloud/uplink/outbox.py); workers claim due rows with ``FOR UPDATE SKIP LOCKED``. Finding the
tenants that have due rows is the one cross-tenant read: ``uplink_due_tenants()`` (SECURITY DEFINER,
returns tenant ids only). Every send is an ``uplink_attempt`` row (append-only).

Revision ID: 0007_uplink
Revises: 0006_agent_sync
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies
from tenants.roles import APP_ROLE, OWNER_ROLE

revision: str = "0007_uplink"
down_revision: str | None = "0006_agent_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLATFORM_TENANTS = """
CREATE FUNCTION uplink_platform_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT tenant_id FROM uplink_platform WHERE enabled
$$
"""

_DUE = """
CREATE FUNCTION uplink_due_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM uplink_outbox WHERE state = 'pending' AND next_attempt_at <= now()
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
        "uplink_platform",
        *_keys("uplink_platform"),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(300), nullable=False),
        sa.Column("enterprise_code", sa.String(64), nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("credentials_enc", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("photo_max_bytes", sa.Integer(), nullable=False, server_default="300000"),
        sa.Column("timeout_s", sa.Float(), nullable=False, server_default="10"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_uplink_platform_tenant_id")),
    )
    op.create_table(
        "uplink_outbox",
        *_keys("uplink_outbox"),
        sa.Column("kind", sa.String(16), nullable=False, server_default="pass"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("platform_serial", sa.String(64), nullable=True),
        sa.Column("last_code", sa.String(32), nullable=True),
        sa.Column("last_message", sa.String(400), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'rejected')", name=op.f("ck_uplink_outbox_state")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "id"], ["pass_event.tenant_id", "pass_event.id"], name=op.f("fk_uplink_outbox_pass_event")
        ),
    )
    op.create_index("ix_uplink_outbox_due", "uplink_outbox", ["state", "next_attempt_at"])
    op.create_index("ix_uplink_outbox_tenant_occurred", "uplink_outbox", ["tenant_id", "occurred_at"])
    op.create_table(
        "uplink_attempt",
        *_keys("uplink_attempt"),
        sa.Column("outbox_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("code", sa.String(32), nullable=True),
        sa.Column("message", sa.String(400), nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "outbox_id"],
            ["uplink_outbox.tenant_id", "uplink_outbox.id"],
            name=op.f("fk_uplink_attempt_outbox"),
        ),
    )
    op.create_index("ix_uplink_attempt_tenant_outbox", "uplink_attempt", ["tenant_id", "outbox_id", "at"])
    policies.tenant_table(op, "uplink_platform")
    policies.tenant_table(op, "uplink_outbox")
    policies.tenant_table(op, "uplink_attempt", append_only=True)
    # FORCE RLS applies to the owner too: the function (owned by it) may see pending rows, nothing else,
    # and it returns tenant ids only (docs/adr/0009).
    op.execute(f"CREATE POLICY uplink_due_scan ON uplink_outbox FOR SELECT TO {OWNER_ROLE} USING (state = 'pending')")
    op.execute(f"CREATE POLICY uplink_platform_scan ON uplink_platform FOR SELECT TO {OWNER_ROLE} USING (enabled)")
    op.execute(_DUE)
    op.execute(_PLATFORM_TENANTS)
    for function in ("uplink_due_tenants()", "uplink_platform_tenants()"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS uplink_due_tenants()")
    op.execute("DROP FUNCTION IF EXISTS uplink_platform_tenants()")
    op.execute("DROP POLICY IF EXISTS uplink_platform_scan ON uplink_platform")
    op.execute("DROP POLICY IF EXISTS uplink_due_scan ON uplink_outbox")
    for table in ("uplink_attempt", "uplink_outbox", "uplink_platform"):
        policies.drop_policies(op, table)
        op.drop_table(table)
