"""Database roles: the owner (runs migrations), the application role and the regulator role.

The application and regulator roles are ``NOSUPERUSER NOBYPASSRLS`` and own nothing, so row-level
security always applies to them (ARCHITECTURE.md "Tenant isolation"). The owner is NOSUPERUSER
too, and FORCE ROW LEVEL SECURITY makes RLS apply to it as well.
"""

from __future__ import annotations

from typing import Final

OWNER_ROLE: Final = "ecogate_owner"
APP_ROLE: Final = "ecogate_app"
REGULATOR_ROLE: Final = "ecogate_regulator"
ALL_ROLES: Final = (OWNER_ROLE, APP_ROLE, REGULATOR_ROLE)
