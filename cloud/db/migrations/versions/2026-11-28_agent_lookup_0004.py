"""Agent hub: the app role may read the one agent row being authenticated (``app.login``).

Revision ID: 0004_agent_lookup
Revises: 0003_reports_grains
Create Date: 2026-11-28 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from tenants import policies

revision: str = "0004_agent_lookup"
down_revision: str | None = "0003_reports_grains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    policies.agent_lookup_policy(op)


def downgrade() -> None:
    policies.drop_agent_lookup_policy(op)
