"""Agent sync (issue 5): enrollment codes, credential rotation, agent commands and health.

Placeholder kept so that the revision chain stays linear while the issue is built.

Revision ID: 0006_agent_sync
Revises: 0005_compliance
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_agent_sync"
down_revision: str | None = "0005_compliance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
