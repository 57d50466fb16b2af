"""One ledger write path (issue 15, ADR 0024): pass events name the vehicle version valid at pass time.

* ``pass_event.vehicle_version_id``: the version of ``vehicle_id`` in force when the pass happened,
  resolved by ``cloud.ledger`` at ingest; the exports, the uplink and the checks join it directly.
  Both vehicle columns get foreign keys (tenant first, ARCHITECTURE.md "Processes").
* The HJ 1321 pass fields the row did not hold as columns (REGULATION.md §1.4.1 table 4
  登记编码或内部管理号牌; §1.4.2 (a)) and the manual-release facts a page or an export must show
  (issue 15 Deliver 3): ``internal_code``, ``operator_name`` (the operator's display name beside the
  account in ``operator``), ``manual_photo_sha256`` (the ``release`` snapshot), ``release_channel``
  (booth / remote), ``plate_source`` (confirmed / typed / none), ``related_event_id`` (the refused pass a release
  overrides), ``emergency_level``.

Existing rows are back-filled from their payloads (``vehicle.registry_id`` when it names a vehicle of
the tenant; the version rule is the one the readers used: the newest version created at or before
the pass, else the first).

Revision ID: 0013_ledger
Revises: 0012_weighing_attach
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_ledger"
down_revision: str | None = "0012_weighing_attach"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "pass_event"

_BACKFILL_VEHICLE = """
UPDATE pass_event p SET vehicle_id = v.id
FROM vehicle v
WHERE p.vehicle_id IS NULL
  AND v.tenant_id = p.tenant_id
  AND (p.payload #>> '{vehicle,registry_id}') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  AND v.id = (p.payload #>> '{vehicle,registry_id}')::uuid
"""

_BACKFILL_VERSION = """
UPDATE pass_event p SET vehicle_version_id = (
    SELECT vv.id FROM vehicle_version vv
    WHERE vv.tenant_id = p.tenant_id AND vv.vehicle_id = p.vehicle_id
    ORDER BY CASE WHEN vv.created_at <= p.occurred_at THEN vv.version ELSE -vv.version END DESC
    LIMIT 1
)
WHERE p.vehicle_id IS NOT NULL AND p.vehicle_version_id IS NULL
"""

_BACKFILL_FIELDS = """
UPDATE pass_event SET
    internal_code = left(NULLIF(upper(regexp_replace(payload ->> 'internal_code', '\\s', '', 'g')), ''), 32),
    emergency_level = left(COALESCE(NULLIF(payload ->> 'emergency_level', ''), 'none'), 16),
    operator_name = left(payload #>> '{trigger,operator_name}', 64),
    release_channel = left(payload #>> '{trigger,channel}', 8),
    plate_source = left(payload #>> '{trigger,plate_source}', 10),
    manual_photo_sha256 = (
        SELECT s ->> 'sha256' FROM jsonb_array_elements(COALESCE(payload #> '{evidence,snapshots}', '[]'::jsonb)) s
        WHERE s ->> 'role' = 'release' LIMIT 1
    ),
    related_event_id = CASE
        WHEN (payload ->> 'related_event_id') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN (payload ->> 'related_event_id')::uuid END
"""


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("vehicle_version_id", sa.Uuid(), nullable=True))
    op.add_column(TABLE, sa.Column("internal_code", sa.String(32), nullable=True))
    op.add_column(TABLE, sa.Column("operator_name", sa.String(64), nullable=True))
    op.add_column(TABLE, sa.Column("manual_photo_sha256", sa.String(64), nullable=True))
    op.add_column(TABLE, sa.Column("release_channel", sa.String(8), nullable=True))
    op.add_column(TABLE, sa.Column("plate_source", sa.String(10), nullable=True))
    op.add_column(TABLE, sa.Column("related_event_id", sa.Uuid(), nullable=True))
    op.add_column(TABLE, sa.Column("emergency_level", sa.String(16), server_default=sa.text("'none'"), nullable=False))
    # pass_event is append-only for the application role (its UPDATE grant was never given); the
    # migration runs as the owner.
    op.execute(_BACKFILL_VEHICLE)
    op.execute(_BACKFILL_VERSION)
    op.execute(_BACKFILL_FIELDS)
    op.create_foreign_key(
        op.f("fk_pass_event_tenant_id_vehicle"), TABLE, "vehicle", ["tenant_id", "vehicle_id"], ["tenant_id", "id"]
    )
    op.create_foreign_key(
        op.f("fk_pass_event_tenant_id_vehicle_version"),
        TABLE,
        "vehicle_version",
        ["tenant_id", "vehicle_version_id"],
        ["tenant_id", "id"],
    )
    op.create_index("ix_pass_event_tenant_vehicle_time", TABLE, ["tenant_id", "vehicle_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_pass_event_tenant_vehicle_time", TABLE)
    op.drop_constraint(op.f("fk_pass_event_tenant_id_vehicle_version"), TABLE, type_="foreignkey")
    op.drop_constraint(op.f("fk_pass_event_tenant_id_vehicle"), TABLE, type_="foreignkey")
    for column in (
        "emergency_level",
        "related_event_id",
        "plate_source",
        "release_channel",
        "manual_photo_sha256",
        "operator_name",
        "internal_code",
        "vehicle_version_id",
    ):
        op.drop_column(TABLE, column)
