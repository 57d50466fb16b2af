"""Billing rows are none of a regulator's business (issue 22): the regulator role reads no billing table.

Migration 0019 protected the billing tenant tables with the standard helper, whose read-only region policy
lets a 生态环境局 read the tenants of its region. Regulators read the ledger, not the plant's commercial
relationship with the platform: their policy on these tables now admits nothing and their SELECT is revoked.
Tenant isolation for the application role is unchanged.

Revision ID: 0022_billing_private
Revises: 0021_retention_tiering
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from tenants import policies

revision: str = "0022_billing_private"
down_revision: str | None = "0021_retention_tiering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("billing_account", "billing_invoice", "billing_event", "billing_notice")


def upgrade() -> None:
    for table in _TABLES:
        policies.hide_from_regulators(op, table)


def downgrade() -> None:
    for table in _TABLES:
        policies.show_to_regulators(op, table)
