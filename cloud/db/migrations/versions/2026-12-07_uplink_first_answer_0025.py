"""Uplink: a first-try delivery writes no attempt row; fewer outbox indexes (issue 20 item 2, ADR 0042).

``uplink_outbox`` keeps the platform's answer to a record delivered on its first send (``first_answered_at``,
``first_outcome``, ``first_code``, ``first_message``, ``first_duration_ms``); ``uplink_attempt`` keeps every
other send (failures, retries, refusals, re-sends). ``ix_uplink_outbox_due`` (state, next_attempt_at) goes:
the partial ``ix_uplink_outbox_tenant_due`` serves the claim and ``uplink_due_tenants()`` alike; it gains
``occurred_at``, the claim's second sort key, so a claim reads ``batch`` rows in order instead of sorting every
due row of the tenant (a back-fill or 补传 queues thousands with the same ``next_attempt_at``). The attempt
rows' foreign key to the outbox goes (it only cost a lookup per attempt: outbox rows are never deleted while
their attempts stay). The outbox's pages keep 20 % free (``fillfactor``) so that a claim, which changes no
indexed column, is a HOT update on the row's own page.

Revision ID: 0025_uplink_first_answer
Revises: 0024_export_expiry
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_uplink_first_answer"
down_revision: str | None = "0024_export_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIRST = (
    sa.Column("first_answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("first_outcome", sa.String(16), nullable=True),
    sa.Column("first_code", sa.String(32), nullable=True),
    sa.Column("first_message", sa.String(400), nullable=True),
    sa.Column("first_duration_ms", sa.Integer(), nullable=True),
)


def _due_index(*columns: str) -> None:
    op.drop_index("ix_uplink_outbox_tenant_due", table_name="uplink_outbox")
    op.create_index(
        "ix_uplink_outbox_tenant_due",
        "uplink_outbox",
        list(columns),
        postgresql_where=sa.text("state IN ('pending', 'photo_pending', 'photo_refused')"),
    )


def upgrade() -> None:
    for column in _FIRST:
        op.add_column("uplink_outbox", column)
    op.drop_index("ix_uplink_outbox_due", table_name="uplink_outbox")
    _due_index("tenant_id", "next_attempt_at", "occurred_at")
    op.drop_constraint("fk_uplink_attempt_outbox", "uplink_attempt", type_="foreignkey")
    op.execute("ALTER TABLE uplink_outbox SET (fillfactor = 80)")


def downgrade() -> None:
    op.execute("ALTER TABLE uplink_outbox RESET (fillfactor)")
    # The first answers kept on the outbox become attempt rows again: the owner reads and writes every
    # tenant's rows for this one statement (FORCE RLS off and on again; no other role runs it).
    op.execute("ALTER TABLE uplink_outbox NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE uplink_attempt NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO uplink_attempt (tenant_id, id, outbox_id, at, outcome, code, message, duration_ms) "
        "SELECT tenant_id, id, id, first_answered_at, first_outcome, first_code, coalesce(first_message, ''), "
        "coalesce(first_duration_ms, 0) FROM uplink_outbox WHERE first_answered_at IS NOT NULL"
    )
    op.execute("ALTER TABLE uplink_attempt FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE uplink_outbox FORCE ROW LEVEL SECURITY")
    op.create_foreign_key(
        "fk_uplink_attempt_outbox",
        "uplink_attempt",
        "uplink_outbox",
        ["tenant_id", "outbox_id"],
        ["tenant_id", "id"],
    )
    op.create_index("ix_uplink_outbox_due", "uplink_outbox", ["state", "next_attempt_at"])
    _due_index("tenant_id", "next_attempt_at")
    for column in reversed(_FIRST):
        op.drop_column("uplink_outbox", column.name)
