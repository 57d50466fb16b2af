"""Regulator uplink (issue 8): platform configuration, transactional outbox, delivery attempts, KPIs.

Placeholder kept so that the revision chain stays linear while the issue is built.

Revision ID: 0007_uplink
Revises: 0006_agent_sync
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_uplink"
down_revision: str | None = "0006_agent_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
