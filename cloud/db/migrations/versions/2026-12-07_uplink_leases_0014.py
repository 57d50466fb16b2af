"""Uplink states that say what the platform holds, and leases for short transactions (issues 16, 20; ADR 0027).

``uplink_outbox.state`` gains ``photo_pending`` (the platform holds the record, a photo is still to be
sent) and ``photo_refused`` (the platform holds the record and refused a photo; retried per the
family's rules, ``photo_attempts`` counts those retries). ``claimed_by`` / ``lease_until``: a worker
claims a batch with a lease and commits; sends happen outside any transaction; each result is settled in
a short transaction of its own; an expired lease returns the claim to every worker. ``state`` and
``uplink_attempt.outcome`` widen to 16 characters for the new names. The owner's scan policy and
``uplink_due_tenants()`` see every due state and skip rows under a live lease.

Revision ID: 0014_uplink_leases
Revises: 0013_ledger
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants.roles import OWNER_ROLE

revision: str = "0014_uplink_leases"
down_revision: str | None = "0013_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = "('pending', 'photo_pending', 'photo_refused', 'delivered', 'rejected')"
_DUE_STATES = "('pending', 'photo_pending', 'photo_refused')"

_DUE = f"""
CREATE OR REPLACE FUNCTION uplink_due_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM uplink_outbox
    WHERE state IN {_DUE_STATES} AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
$$
"""  # noqa: S608 - constants only

_DUE_OLD = """
CREATE OR REPLACE FUNCTION uplink_due_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM uplink_outbox WHERE state = 'pending' AND next_attempt_at <= now()
$$
"""


def upgrade() -> None:
    op.execute("DROP POLICY IF EXISTS uplink_due_scan ON uplink_outbox")  # it reads ``state``, which widens
    op.add_column("uplink_outbox", sa.Column("claimed_by", sa.Uuid(), nullable=True))
    op.add_column("uplink_outbox", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("uplink_outbox", sa.Column("photo_attempts", sa.Integer(), nullable=False, server_default="0"))
    op.alter_column("uplink_outbox", "state", type_=sa.String(16), existing_nullable=False)
    op.alter_column("uplink_attempt", "outcome", type_=sa.String(16), existing_nullable=False)
    op.drop_constraint(op.f("ck_uplink_outbox_state"), "uplink_outbox", type_="check")
    op.create_check_constraint(op.f("ck_uplink_outbox_state"), "uplink_outbox", f"state IN {_STATES}")
    op.create_index(
        "ix_uplink_outbox_tenant_due",
        "uplink_outbox",
        ["tenant_id", "next_attempt_at"],
        postgresql_where=sa.text(f"state IN {_DUE_STATES}"),
    )
    op.execute(
        f"CREATE POLICY uplink_due_scan ON uplink_outbox FOR SELECT TO {OWNER_ROLE} USING (state IN {_DUE_STATES})"
    )
    op.execute(_DUE)


def downgrade() -> None:
    op.execute(_DUE_OLD)
    op.execute("DROP POLICY IF EXISTS uplink_due_scan ON uplink_outbox")
    op.drop_index("ix_uplink_outbox_tenant_due", "uplink_outbox")
    op.execute("UPDATE uplink_outbox SET state = 'delivered' WHERE state IN ('photo_pending', 'photo_refused')")
    op.drop_constraint(op.f("ck_uplink_outbox_state"), "uplink_outbox", type_="check")
    op.create_check_constraint(
        op.f("ck_uplink_outbox_state"), "uplink_outbox", "state IN ('pending', 'delivered', 'rejected')"
    )
    op.alter_column("uplink_attempt", "outcome", type_=sa.String(10), existing_nullable=False)
    op.alter_column("uplink_outbox", "state", type_=sa.String(10), existing_nullable=False)
    for column in ("photo_attempts", "lease_until", "claimed_by"):
        op.drop_column("uplink_outbox", column)
    op.execute(f"CREATE POLICY uplink_due_scan ON uplink_outbox FOR SELECT TO {OWNER_ROLE} USING (state = 'pending')")
