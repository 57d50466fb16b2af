"""The web portal (issue 9): server-rendered pages mounted beside the JSON API."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler


def routes() -> list[ControllerRouterHandler]:
    """Every portal route handler, for the composition root."""
    from frontend_api.portal import (  # noqa: PLC0415 - page modules import the domain
        admin,
        admin_installers,
        billing,
        enterprise,
        enterprise_admin,
        enterprise_agents,
        enterprise_audit,
        enterprise_blacklist,
        enterprise_carriers,
        enterprise_reports,
        enterprise_sites,
        enterprise_uplink,
        enterprise_vehicles,
        navigation,
        regulator,
        staff_tenants,
        wall,
    )

    return [
        *enterprise.routes(),
        *enterprise_vehicles.routes(),
        *enterprise_reports.routes(),
        *enterprise_admin.routes(),
        *enterprise_agents.routes(),
        *enterprise_sites.routes(),
        *enterprise_uplink.routes(),
        *enterprise_audit.routes(),
        *enterprise_blacklist.routes(),
        *enterprise_carriers.routes(),
        *regulator.routes(),
        *wall.routes(),
        *admin.routes(),
        *admin_installers.routes(),
        *staff_tenants.routes(),
        *billing.routes(),
        *navigation.routes(),
    ]
