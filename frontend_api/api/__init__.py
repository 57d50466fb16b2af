"""The JSON API under ``/api/v1``: one module per area, each exporting its route handlers."""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler


def routers() -> list[ControllerRouterHandler]:
    """Every API router, in one list for the composition root."""
    from frontend_api.api import (  # noqa: PLC0415
        agents,
        audit,
        auth,
        billing,
        compliance,
        compliance_records,
        passes,
        regulator,
        reports,
        sites,
        uplink,
        users,
        vehicles,
        weighbridge,
    )

    handlers: list[ControllerRouterHandler] = [
        *auth.HANDLERS,
        *sites.HANDLERS,
        *users.HANDLERS,
        *vehicles.HANDLERS,
        *passes.HANDLERS,
        *audit.HANDLERS,
        *reports.HANDLERS,
        *compliance.HANDLERS,
        *compliance_records.HANDLERS,
        *agents.HANDLERS,
        *uplink.HANDLERS,
        *regulator.HANDLERS,
        *weighbridge.HANDLERS,
        *billing.HANDLERS,
    ]
    return [Router(path="/api/v1", route_handlers=handlers)]
