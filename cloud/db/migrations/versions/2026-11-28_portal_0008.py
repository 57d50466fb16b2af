"""Portal (issue 9): whatever the web portal needs beyond the API's tables.

Placeholder kept so that the revision chain stays linear while the issue is built.

Revision ID: 0008_portal
Revises: 0007_uplink
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008_portal"
down_revision: str | None = "0007_uplink"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
