"""The regulator's wall screen (大屏, issue 19 item 5): a read-only region view for a control room.

``/regulator/wall`` renders the whole screen for 1920×1080 (large type, dark background, no menu
clutter) with the figures already in the HTML, then polls ``/regulator/wall/data`` (JSON, the same
figures) every :data:`POLL_SECONDS` and redraws: plants online (an active agent heard within the
health window, :mod:`cloud.hub.health`), today's passes and refusals, the alerts in force anywhere in
the region, the upload rate of each plant today (:func:`cloud.uplink.outbox.upload_status` as the
regulator sees it) and a grid of the districts with their plants, passes, refusals and alert level.
Every query runs in the regulator's own session (region-prefix RLS).
"""

from __future__ import annotations

import json
from typing import Any, Final

from litestar import Request, Response
from litestar.params import FromQuery

from cloud.domain.wall import wall_data
from frontend_api.portal.regulator import REGULATORS
from frontend_api.portal.toolkit import Me, page_get, render
from tenants.context import Principal

__all__ = ["POLL_SECONDS", "routes"]

POLL_SECONDS: Final = 10


async def _data(request: Request[Any, Any, Any], principal: Principal) -> dict[str, Any]:
    database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        return await wall_data(session, principal)


@page_get("/regulator/wall", roles=REGULATORS)
async def wall_page(
    request: Request[Any, Any, Any], principal: Me, every: FromQuery[int] = POLL_SECONDS
) -> Response[Any]:
    """The wall screen with today's figures in the HTML; the page then polls the JSON every ``every`` s (2–60)."""
    data = await _data(request, principal)
    return render(
        request,
        "regulator/wall.html",
        principal=principal,
        data=data,
        data_json=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        poll_ms=max(2, min(every, 60)) * 1000,
    )


@page_get("/regulator/wall/data", roles=REGULATORS)
async def wall_json(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The wall screen's figures (polled by the page)."""
    data = await _data(request, principal)
    return Response(data, media_type="application/json", headers={"Cache-Control": "no-store"})


def routes() -> list[Any]:
    """The wall screen and its data."""
    return [wall_page, wall_json]
