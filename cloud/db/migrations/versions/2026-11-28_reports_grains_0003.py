"""Reports: narrow aggregate grains (hour and carrier in tables of their own).

One wide daily aggregate grouped by hour and carrier too hardly compressed a busy plant's day (about
one group per pass); the core grain drops both and two narrow tables keep them. The aggregates are a
cache: they are emptied here and rebuilt on the next read.

Revision ID: 0003_reports_grains
Revises: 0002_reports
Create Date: 2026-11-28 20:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0003_reports_grains"
down_revision: str | None = "0002_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MEASURES = (
    ("passes", sa.Integer()),
    ("weighed", sa.Integer()),
    ("net_kg", sa.Numeric(16, 1)),
    ("complete", sa.Integer()),
    ("timely", sa.Integer()),
    ("flagged", sa.Integer()),
    ("cargo_unweighed", sa.Integer()),
    ("manual_with_reason", sa.Integer()),
)


def _table(name: str, *dims: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *dims,
        *(sa.Column(column, kind, nullable=False) for column, kind in _MEASURES),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{name}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{name}")),
    )
    op.create_index(f"ix_{name}_tenant_day", name, ["tenant_id", "day"])
    policies.tenant_table(op, name)


def upgrade() -> None:
    op.execute("DELETE FROM report_daily")
    op.execute("DELETE FROM report_daily_reason")
    op.execute("DELETE FROM report_refresh_state")
    op.drop_column("report_daily", "hour")
    op.drop_column("report_daily", "carrier")
    vehicle: tuple[sa.Column[Any], ...] = (
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("decision", sa.String(6), nullable=False),
        sa.Column("category", sa.String(10), nullable=True),
        sa.Column("fuel", sa.String(12), nullable=True),
        sa.Column("stage", sa.String(12), nullable=True),
        sa.Column("heavy", sa.Boolean(), nullable=True),
        sa.Column("carrier", sa.String(100), nullable=True),
    )
    _table("report_daily_carrier", *vehicle)
    _table(
        "report_daily_hour",
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("decision", sa.String(6), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("report_daily_hour")
    op.drop_table("report_daily_carrier")
    op.execute("DELETE FROM report_daily")
    op.execute("DELETE FROM report_refresh_state")
    op.add_column("report_daily", sa.Column("hour", sa.SmallInteger(), nullable=False))
    op.add_column("report_daily", sa.Column("carrier", sa.String(100), nullable=True))
