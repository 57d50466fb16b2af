"""Fleet-wide figures for the cloud's /metrics (issue 21): uplink backlog per platform and state, checks lag.

Two SECURITY DEFINER functions return aggregates only — never a tenant id, a plate or a row:

* ``ops_uplink_backlog()``: per platform profile (of enabled platforms) and not-yet-delivered state
  (``pending``, ``photo_pending``, ``photo_refused``, ``rejected``), the number of records and the age
  of the oldest in seconds;
* ``ops_checks_lag()``: the largest lag over tenants between the newest stored pass (``received_at``)
  and the logic checks' watermark (``check_state.passes_until``; a tenant never checked counts from its
  first pass), in seconds, 0 when every tenant is caught up.

FORCE RLS applies to the owner that owns the functions: owner-only SELECT policies let it see the rows
the aggregates need (as ``uplink_due_scan``, 0007, and ``retention_blob_scan``, 0017). The app role
gets EXECUTE only.

Revision ID: 0020_ops_metrics
Revises: 0019_billing
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from tenants.roles import APP_ROLE, OWNER_ROLE

revision: str = "0020_ops_metrics"
down_revision: str | None = "0019_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKLOG = """
CREATE FUNCTION ops_uplink_backlog()
RETURNS TABLE (profile text, state text, records bigint, oldest_s double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p.profile::text, o.state::text, count(*),
           coalesce(extract(epoch FROM now() - min(o.created_at)), 0)::double precision
    FROM uplink_outbox o JOIN uplink_platform p ON p.tenant_id = o.tenant_id AND p.enabled
    WHERE o.state IN ('pending', 'photo_pending', 'photo_refused', 'rejected')
    GROUP BY p.profile, o.state
$$
"""

_CHECKS_LAG = """
CREATE FUNCTION ops_checks_lag() RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(max(greatest(0, extract(epoch FROM newest.at - coalesce(s.passes_until, oldest.at)))), 0)
    FROM tenant t
    CROSS JOIN LATERAL (SELECT max(e.received_at) AS at FROM pass_event e WHERE e.tenant_id = t.id) newest
    CROSS JOIN LATERAL (SELECT min(e.received_at) AS at FROM pass_event e WHERE e.tenant_id = t.id) oldest
    LEFT JOIN check_state s ON s.tenant_id = t.id
    WHERE newest.at IS NOT NULL
$$
"""

_POLICIES = {
    "ops_uplink_backlog_scan": (
        "uplink_outbox",
        "state IN ('pending', 'photo_pending', 'photo_refused', 'rejected')",
    ),
    "ops_checks_state_scan": ("check_state", "true"),
    "ops_checks_pass_scan": ("pass_event", "true"),
    "ops_checks_tenant_scan": ("tenant", "true"),
}
_FUNCTIONS = ("ops_uplink_backlog()", "ops_checks_lag()")


def upgrade() -> None:
    for name, (table, using) in _POLICIES.items():
        op.execute(f"CREATE POLICY {name} ON {table} FOR SELECT TO {OWNER_ROLE} USING ({using})")
    op.execute(_BACKLOG)
    op.execute(_CHECKS_LAG)
    for function in _FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}")


def downgrade() -> None:
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for name, (table, _using) in _POLICIES.items():
        op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
