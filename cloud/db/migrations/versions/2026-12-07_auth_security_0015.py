"""Security hardening (issue 17): login throttling, server-side sessions, envelope-encrypted credentials.

* ``auth_throttle``: failed-login counters per account name and per client address with a lockout
  (``locked_until``), shared by every replica. Neither role may touch the table directly: the
  application calls the SECURITY DEFINER functions below (check, count a failure, clear).
* ``user_session``: one row per issued token (its ``sid`` claim); logout, a password change, a role
  change and an administrator's action revoke rows, so a token stops working at once. Reached only
  through the SECURITY DEFINER functions below; the regulator role has no access at all.
* ``uplink_platform``: ``credentials_key_id`` (the master key that wraps the record's data key) and
  ``credentials_dek`` (the wrapped data key; NULL = a legacy row encrypted directly with the master key,
  which ``ecogate uplink rotate-key`` re-encrypts). The regulator role keeps SELECT on the non-secret
  columns only (whether a tenant has a platform, its profile, …): it never sees credentials, not even
  encrypted (issue 17 finding 3).

Revision ID: 0015_auth_security
Revises: 0014_uplink_leases
Create Date: 2026-12-07 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenants.roles import APP_ROLE, OWNER_ROLE, REGULATOR_ROLE

revision: str = "0015_auth_security"
down_revision: str | None = "0014_uplink_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = {
    "auth_throttle_locked_until(p_keys text[])": """
RETURNS timestamptz LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT max(locked_until) FROM auth_throttle WHERE key = ANY(p_keys) AND locked_until > now()
$$""",
    "auth_throttle_fail(p_key text, p_limit integer, p_window_s integer, p_lock_s integer)": """
RETURNS timestamptz LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_failures integer;
    v_until timestamptz;
BEGIN
    INSERT INTO auth_throttle AS t (key, failures, window_start, updated_at)
    VALUES (p_key, 1, now(), now())
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN t.window_start < now() - make_interval(secs => p_window_s) THEN 1
                        ELSE t.failures + 1 END,
        window_start = CASE WHEN t.window_start < now() - make_interval(secs => p_window_s) THEN now()
                            ELSE t.window_start END,
        updated_at = now()
    RETURNING failures INTO v_failures;
    IF v_failures >= p_limit THEN
        UPDATE auth_throttle SET locked_until = now() + make_interval(secs => p_lock_s), failures = 0,
            window_start = now()
        WHERE key = p_key RETURNING locked_until INTO v_until;
    END IF;
    RETURN v_until;
END
$$""",
    "auth_throttle_clear(p_key text)": """
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH gone AS (DELETE FROM auth_throttle WHERE key = p_key RETURNING locked_until)
    SELECT coalesce(bool_or(locked_until > now()), false) FROM gone
$$""",
    "auth_session_open(p_id uuid, p_user uuid, p_tenant uuid, p_expires timestamptz, p_address text)": """
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DELETE FROM user_session WHERE user_id = p_user AND expires_at < now() - interval '1 day';
    INSERT INTO user_session (id, user_id, tenant_id, expires_at, address)
    VALUES (p_id, p_user, p_tenant, p_expires, p_address);
$$""",
    "auth_session_active(p_id uuid, p_user uuid)": """
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM user_session WHERE id = p_id AND user_id = p_user
                   AND revoked_at IS NULL AND expires_at > now())
$$""",
    "auth_session_revoke(p_id uuid, p_reason text)": """
RETURNS integer LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH done AS (UPDATE user_session SET revoked_at = now(), revoked_reason = p_reason
                  WHERE id = p_id AND revoked_at IS NULL RETURNING 1)
    SELECT count(*)::integer FROM done
$$""",
    "auth_session_revoke_user(p_user uuid, p_reason text, p_keep uuid)": """
RETURNS integer LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH done AS (UPDATE user_session SET revoked_at = now(), revoked_reason = p_reason
                  WHERE user_id = p_user AND revoked_at IS NULL AND id IS DISTINCT FROM p_keep RETURNING 1)
    SELECT count(*)::integer FROM done
$$""",
    "uplink_credential_tenants()": """
RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT tenant_id FROM uplink_platform
$$""",
}


#: What a regulator may read of a tenant's platform: everything but the credentials and their keys.
_REGULATOR_COLUMNS = (
    "tenant_id",
    "id",
    "profile",
    "base_url",
    "enterprise_code",
    "enterprise_name",
    "enabled",
    "photo_max_bytes",
    "timeout_s",
    "heartbeat_s",
    "heartbeat_at",
    "created_at",
    "updated_at",
)


def upgrade() -> None:
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("window_start", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_throttle")),
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(64), nullable=True),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_user_session_user_id_user_account")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_user_session_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
    )
    op.create_index("ix_user_session_user_active", "user_session", ["user_id"], postgresql_where="revoked_at IS NULL")
    # Both tables are reached only through the functions: no grants, no policies.
    for table in ("auth_throttle", "user_session"):
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}, {REGULATOR_ROLE}")
    op.execute(f"CREATE POLICY uplink_platform_keys ON uplink_platform FOR SELECT TO {OWNER_ROLE} USING (true)")
    for signature, body in _FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {signature} {body}")
        op.execute(f"REVOKE ALL ON FUNCTION {signature.split('(')[0]} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature.split('(')[0]} TO {APP_ROLE}")

    op.add_column(
        "uplink_platform",
        sa.Column("credentials_key_id", sa.String(32), nullable=False, server_default="legacy"),
    )
    op.add_column("uplink_platform", sa.Column("credentials_dek", sa.LargeBinary(), nullable=True))
    op.execute(f"REVOKE SELECT ON uplink_platform FROM {REGULATOR_ROLE}")  # noqa: S608 - constants only
    op.execute(f"GRANT SELECT ({', '.join(_REGULATOR_COLUMNS)}) ON uplink_platform TO {REGULATOR_ROLE}")


def downgrade() -> None:
    columns = ", ".join(_REGULATOR_COLUMNS)
    op.execute(f"REVOKE SELECT ({columns}) ON uplink_platform FROM {REGULATOR_ROLE}")  # noqa: S608 - constants only
    op.execute(f"GRANT SELECT ON uplink_platform TO {REGULATOR_ROLE}")
    op.drop_column("uplink_platform", "credentials_dek")
    op.drop_column("uplink_platform", "credentials_key_id")
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature.split('(')[0]}")
    op.execute("DROP POLICY IF EXISTS uplink_platform_keys ON uplink_platform")
    op.drop_index("ix_user_session_user_active", table_name="user_session")
    op.drop_table("user_session")
    op.drop_table("auth_throttle")
