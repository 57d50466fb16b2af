"""Uplink schedules and alarms (issue 8): gate heartbeats, Tianjin daily counts, alarm transitions.

* ``uplink_platform.heartbeat_s`` (NULL = the profile's default, 0 = off) and ``heartbeat_at`` (the last
  heartbeat a worker claimed; the conditional UPDATE on it is the claim, so several workers send one).
* ``uplink_daily_report``: one row per tenant and China date for the Tianjin daily per-gate counts
  (天津日上报), an outbox of its own: pending until the platform took it, retried with backoff.
* ``uplink_alarm``: raised/cleared transitions of the uplink alarms (append-only), written by the
  workers' periodic evaluation and shown by ``GET /api/v1/uplink/status``.

Revision ID: 0010_uplink_schedules
Revises: 0009_pass_corrections
Create Date: 2026-11-29 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import policies

revision: str = "0010_uplink_schedules"
down_revision: str | None = "0009_pass_corrections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    now = sa.text("now()")
    op.add_column("uplink_platform", sa.Column("heartbeat_s", sa.Integer(), nullable=True))
    op.add_column("uplink_platform", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "uplink_daily_report",
        *_keys("uplink_daily_report"),
        sa.Column("record_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("rows", postgresql.JSONB(), nullable=True),
        sa.Column("last_code", sa.String(32), nullable=True),
        sa.Column("last_message", sa.String(400), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered')", name=op.f("ck_uplink_daily_report_state")),
        sa.UniqueConstraint("tenant_id", "record_date", name=op.f("uq_uplink_daily_report_tenant_id")),
    )
    op.create_table(
        "uplink_alarm",
        *_keys("uplink_alarm"),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("raised", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(400), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), server_default=now, nullable=False),
    )
    op.create_index("ix_uplink_alarm_tenant_code_at", "uplink_alarm", ["tenant_id", "code", "at"])
    policies.tenant_table(op, "uplink_daily_report")
    policies.tenant_table(op, "uplink_alarm", append_only=True)


def downgrade() -> None:
    for table in ("uplink_alarm", "uplink_daily_report"):
        policies.drop_policies(op, table)
        op.drop_table(table)
    op.drop_column("uplink_platform", "heartbeat_at")
    op.drop_column("uplink_platform", "heartbeat_s")
