"""Reports: a monthly roll-up of the carrier grain (issue 19: a year's carrier ranking under 1 s).

``report_monthly_carrier`` holds ``report_daily_carrier`` summed per calendar month (the month's first day),
rebuilt by the same refresh that rebuilds the days (``cloud.reports.facts.refresh``) for the months of the
days it rebuilt. A cache like the daily tables: a tenant whose daily rows were built before this table existed
gets every month rolled up on its next read (the refresh notices the empty roll-up; a migration cannot see the
tenants' rows under FORCE ROW LEVEL SECURITY).

``report_refresh_state.lag_rows``: how many source rows were stamped within the safety lag before the
watermark when it was taken; the next refresh re-counts them and, when nothing late landed there, rebuilds
only the days of rows stamped after the watermark (not every day touched in the last ten minutes again).

Revision ID: 0023_reports_monthly
Revises: 0022_billing_private
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants import policies

revision: str = "0023_reports_monthly"
down_revision: str | None = "0022_billing_private"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "report_monthly_carrier"
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


def upgrade() -> None:
    op.create_table(
        _NAME,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("decision", sa.String(6), nullable=False),
        sa.Column("category", sa.String(10), nullable=True),
        sa.Column("fuel", sa.String(12), nullable=True),
        sa.Column("stage", sa.String(12), nullable=True),
        sa.Column("heavy", sa.Boolean(), nullable=True),
        sa.Column("carrier", sa.String(100), nullable=True),
        *(sa.Column(column, kind, nullable=False) for column, kind in _MEASURES),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{_NAME}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{_NAME}")),
    )
    op.create_index(f"ix_{_NAME}_tenant_month", _NAME, ["tenant_id", "month"])
    policies.tenant_table(op, _NAME)
    op.add_column("report_refresh_state", sa.Column("lag_rows", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("report_refresh_state", "lag_rows")
    op.drop_table(_NAME)
