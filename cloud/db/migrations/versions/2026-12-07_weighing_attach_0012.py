"""Weighings attached to the right pass (issue 15 item 2): who sent them, gross/tare/net, unattributed ones.

A weighing row is a record, append-only like ``pass_event``: the agent's late weighing attachment
(``weighing_attach``, docs/protocol.md) is stored once under its own id (a UUIDv7 made on the agent);
a weighbridge-software record (connector) once per ``(source, external_ref)``. A weight that cannot
be attributed is stored with ``pass_event_id`` NULL (listed for review, never guessed onto a pass);
a person who later assigns it adds a new row naming the old one in ``assigned_from_id``.

Revision ID: 0012_weighing_attach
Revises: 0011_pass_clips
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_weighing_attach"
down_revision: str | None = "0011_pass_clips"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "weighing"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("source", sa.String(16), server_default="agent", nullable=False))
    op.add_column(TABLE, sa.Column("agent_id", sa.Uuid(), nullable=True))
    op.add_column(TABLE, sa.Column("direction", sa.String(3), nullable=True))
    op.add_column(TABLE, sa.Column("plate", sa.String(10), nullable=True))
    op.add_column(TABLE, sa.Column("gross_kg", sa.Numeric(10, 1), nullable=True))
    op.add_column(TABLE, sa.Column("tare_kg", sa.Numeric(10, 1), nullable=True))
    op.add_column(TABLE, sa.Column("net_kg", sa.Numeric(10, 1), nullable=True))
    op.add_column(TABLE, sa.Column("external_ref", sa.String(64), nullable=True))
    op.add_column(TABLE, sa.Column("assigned_from_id", sa.Uuid(), nullable=True))
    op.add_column(TABLE, sa.Column("created_by_login", sa.String(64), nullable=True))
    op.create_check_constraint(op.f("ck_weighing_source"), TABLE, "source IN ('agent', 'connector', 'manual')")
    op.create_check_constraint(op.f("ck_weighing_direction"), TABLE, "direction IS NULL OR direction IN ('in', 'out')")
    op.create_check_constraint(
        op.f("ck_weighing_trip_range"),
        TABLE,
        "(gross_kg IS NULL OR (gross_kg >= 0 AND gross_kg <= 200000))"
        " AND (tare_kg IS NULL OR (tare_kg >= 0 AND tare_kg <= 200000))"
        " AND (net_kg IS NULL OR (net_kg >= -200000 AND net_kg <= 200000))",
    )
    op.create_foreign_key(
        op.f("fk_weighing_tenant_id_agent_id_agent"), TABLE, "agent", ["tenant_id", "agent_id"], ["tenant_id", "id"]
    )
    op.create_foreign_key(
        op.f("fk_weighing_tenant_id_assigned_from_id_weighing"),
        TABLE,
        TABLE,
        ["tenant_id", "assigned_from_id"],
        ["tenant_id", "id"],
    )
    op.create_index("ix_weighing_tenant_pass", TABLE, ["tenant_id", "pass_event_id"])
    op.create_index(
        "uq_weighing_tenant_source_ref",
        TABLE,
        ["tenant_id", "source", "external_ref"],
        unique=True,
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    )
    op.create_index(
        "uq_weighing_tenant_assigned_from",
        TABLE,
        ["tenant_id", "assigned_from_id"],
        unique=True,
        postgresql_where=sa.text("assigned_from_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_weighing_tenant_assigned_from", table_name=TABLE)
    op.drop_index("uq_weighing_tenant_source_ref", table_name=TABLE)
    op.drop_index("ix_weighing_tenant_pass", table_name=TABLE)
    op.drop_constraint(op.f("fk_weighing_tenant_id_assigned_from_id_weighing"), TABLE, type_="foreignkey")
    op.drop_constraint(op.f("fk_weighing_tenant_id_agent_id_agent"), TABLE, type_="foreignkey")
    op.drop_constraint(op.f("ck_weighing_trip_range"), TABLE, type_="check")
    op.drop_constraint(op.f("ck_weighing_direction"), TABLE, type_="check")
    op.drop_constraint(op.f("ck_weighing_source"), TABLE, type_="check")
    for column in (
        "created_by_login",
        "assigned_from_id",
        "external_ref",
        "net_kg",
        "tare_kg",
        "gross_kg",
        "plate",
        "direction",
        "agent_id",
        "source",
    ):
        op.drop_column(TABLE, column)
