"""The web portal (issue 9): server-rendered pages mounted beside the JSON API."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler


def routes() -> list[ControllerRouterHandler]:
    """Every portal route handler, for the composition root."""
    from frontend_api.portal import admin, enterprise, regulator  # noqa: PLC0415 - page modules import the domain

    return [*enterprise.routes(), *regulator.routes(), *admin.routes()]
