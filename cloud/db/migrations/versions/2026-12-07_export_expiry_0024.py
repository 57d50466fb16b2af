"""Export retention (session 7): a finished export's file is deleted some days after it finished.

The job row stays, with status ``expired`` (its file no longer exists: the API and portal say 已过期 and
the download answers 410); the removed file is a ``retention_purge`` row of kind ``export`` (no pass), so
``blob_unpurged_holders`` tells whether another tenant still holds the same bytes before the file goes.

Revision ID: 0024_export_expiry
Revises: 0023_reports_monthly
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024_export_expiry"
down_revision: str | None = "0023_reports_monthly"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _check(table: str, name: str, condition: str, *, valid: bool = True) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}){'' if valid else ' NOT VALID'}")


def upgrade() -> None:
    _check("background_job", "ck_background_job_status", "status IN ('queued', 'running', 'done', 'failed', 'expired')")
    _check("retention_purge", "ck_retention_purge_kind", "kind IN ('photo', 'video', 'export')")


def downgrade() -> None:
    # NOT VALID: rows written since (expired jobs, export purges) stay; the owner cannot see them under FORCE RLS.
    old = "status IN ('queued', 'running', 'done', 'failed')"
    _check("background_job", "ck_background_job_status", old, valid=False)
    _check("retention_purge", "ck_retention_purge_kind", "kind IN ('photo', 'video')", valid=False)
