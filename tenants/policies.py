"""Migration helpers that put row-level security on a table, grant it, and take it off again.

Every tenant table gets ENABLE + FORCE ROW LEVEL SECURITY, a ``tenant_isolation`` policy for the
application role (USING and WITH CHECK on ``app.tenant_id``) and a read-only ``regulator_region``
policy admitting the tenants whose region code starts with ``app.region_code``.
Migrations call these helpers only; nobody writes a policy by hand (STYLE.md habit 10).
"""

from __future__ import annotations

from typing import Final, Protocol

from tenants.roles import APP_ROLE, REGULATOR_ROLE

CURRENT_TENANT: Final = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
CURRENT_USER: Final = "NULLIF(current_setting('app.user_id', true), '')::uuid"
CURRENT_REGION: Final = "NULLIF(current_setting('app.region_code', true), '')"
CURRENT_LOGIN: Final = "NULLIF(current_setting('app.login', true), '')"
#: Regulator visibility of a tenant id: its region code starts with the regulator's prefix.
REGION_ADMITS_TENANT: Final = (
    "EXISTS (SELECT 1 FROM tenant r WHERE r.id = {col} AND r.region_code LIKE "  # noqa: S608 - constants only
    + CURRENT_REGION
    + " || '%')"
)


class _Op(Protocol):
    def execute(self, sqltext: str) -> object: ...


def enable_rls(op: _Op, table: str) -> None:
    """ENABLE and FORCE row-level security on ``table``."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def tenant_table(op: _Op, table: str, *, append_only: bool = False, tenant_column: str = "tenant_id") -> None:
    """Protect a tenant table and grant it to the application and regulator roles.

    Args:
        op: alembic's ``op``.
        table: the table name.
        append_only: grant only SELECT and INSERT to the application (records are never changed).
        tenant_column: the column holding the tenant id (``id`` for the tenant table itself).
    """
    enable_rls(op, table)
    check = f"{tenant_column} = {CURRENT_TENANT}"
    op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} USING ({check}) WITH CHECK ({check})")
    region = REGION_ADMITS_TENANT.format(col=f"{table}.{tenant_column}")
    op.execute(f"CREATE POLICY regulator_region ON {table} FOR SELECT TO {REGULATOR_ROLE} USING ({region})")
    privileges = "SELECT, INSERT" if append_only else "SELECT, INSERT, UPDATE, DELETE"
    op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON {table} TO {REGULATOR_ROLE}")


def tenant_root_table(op: _Op) -> None:
    """Protect the ``tenant`` table itself: a tenant sees its own row, a regulator the rows of its region."""
    enable_rls(op, "tenant")
    check = f"id = {CURRENT_TENANT}"
    op.execute(f"CREATE POLICY tenant_isolation ON tenant TO {APP_ROLE} USING ({check}) WITH CHECK ({check})")
    op.execute(
        f"CREATE POLICY regulator_region ON tenant FOR SELECT TO {REGULATOR_ROLE} "
        f"USING (region_code LIKE {CURRENT_REGION} || '%')"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON tenant TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON tenant TO {REGULATOR_ROLE}")


def account_table(op: _Op) -> None:
    """Protect ``user_account``: rows of the current tenant, one's own row, or the row being logged into.

    Login reads the single row whose login name the session set (``app.login``) and then checks the
    password hash, so authentication needs no cross-tenant read. Staff accounts (platform admins,
    installers, regulators) have no tenant and are created through the audited system path.
    """
    enable_rls(op, "user_account")
    visible = f"tenant_id = {CURRENT_TENANT} OR id = {CURRENT_USER} OR login = {CURRENT_LOGIN}"
    op.execute(
        f"CREATE POLICY tenant_isolation ON user_account TO {APP_ROLE} USING ({visible}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT} OR id = {CURRENT_USER})"
    )
    op.execute(
        f"CREATE POLICY regulator_self ON user_account FOR SELECT TO {REGULATOR_ROLE} "
        f"USING (id = {CURRENT_USER} OR login = {CURRENT_LOGIN})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON user_account TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON user_account TO {REGULATOR_ROLE}")


def membership_table(op: _Op) -> None:
    """Protect ``membership``: the current tenant's rows, and a user's own memberships (tenant switch)."""
    enable_rls(op, "membership")
    op.execute(
        f"CREATE POLICY tenant_isolation ON membership TO {APP_ROLE} "
        f"USING (tenant_id = {CURRENT_TENANT} OR user_id = {CURRENT_USER}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    region = REGION_ADMITS_TENANT.format(col="membership.tenant_id")
    op.execute(f"CREATE POLICY regulator_region ON membership FOR SELECT TO {REGULATOR_ROLE} USING ({region})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON membership TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON membership TO {REGULATOR_ROLE}")


def hide_from_regulators(op: _Op, table: str) -> None:
    """A tenant table that is none of a regulator's business (billing, issue 22): the region policy of
    :func:`tenant_table` becomes one that admits nothing, and the regulator role loses SELECT."""
    op.execute(f"DROP POLICY IF EXISTS regulator_region ON {table}")
    op.execute(f"CREATE POLICY regulator_none ON {table} FOR SELECT TO {REGULATOR_ROLE} USING (false)")
    op.execute(f"REVOKE SELECT ON {table} FROM {REGULATOR_ROLE}")  # noqa: S608 - migration constants only


def show_to_regulators(op: _Op, table: str) -> None:
    """Undo :func:`hide_from_regulators` (downgrades)."""
    op.execute(f"DROP POLICY IF EXISTS regulator_none ON {table}")
    region = REGION_ADMITS_TENANT.format(col=f"{table}.tenant_id")
    op.execute(f"CREATE POLICY regulator_region ON {table} FOR SELECT TO {REGULATOR_ROLE} USING ({region})")
    op.execute(f"GRANT SELECT ON {table} TO {REGULATOR_ROLE}")


def reference_table(op: _Op, table: str) -> None:
    """A table shared by all tenants (e.g. regions): readable by every role, written by migrations."""
    op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}, {REGULATOR_ROLE}")


def drop_policies(op: _Op, table: str) -> None:
    """Undo :func:`tenant_table` (for downgrades; dropping the table drops its policies too)."""
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"DROP POLICY IF EXISTS regulator_region ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def agent_lookup_policy(op: _Op) -> None:
    """Let the application read the single ``agent`` row being authenticated, before any tenant is known.

    An agent connects with ``<agent id>.<secret>``; the hub sets ``app.login`` to ``agent:<id>``
    (like a password login) and reads that one row to check the credential hash and learn the
    tenant and site, so authentication needs no cross-tenant read.
    """
    op.execute(
        f"CREATE POLICY agent_lookup ON agent FOR SELECT TO {APP_ROLE} USING ('agent:' || id::text = {CURRENT_LOGIN})"
    )


def drop_agent_lookup_policy(op: _Op) -> None:
    """Undo :func:`agent_lookup_policy`."""
    op.execute("DROP POLICY IF EXISTS agent_lookup ON agent")
