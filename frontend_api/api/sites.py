"""Sites (厂区), gates (出入口) and lanes (道闸): create, read, update, delete.

The handlers parse and shape; every read and write is :mod:`cloud.domain.sites` (plan limits, audit,
in-use refusals), the same service the portal's 厂区与道闸 page calls.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from litestar import delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.domain import sites
from frontend_api.api.schemas import Code, Limit, Name, Offset, Page
from tenants.context import Principal

Address = Annotated[str, msgspec.Meta(max_length=200)]


class SiteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new site."""

    name: Name
    address: Address = ""


class SitePatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Changes to a site."""

    name: Name | None = None
    address: Address | None = None


class SiteOut(msgspec.Struct):
    """A site."""

    id: uuid.UUID
    name: str
    address: str
    created_at: dt.datetime


class GateIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new gate (出入口) of a site."""

    code: Code
    name: Name


class GatePatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Changes to a gate."""

    code: Code | None = None
    name: Name | None = None


class GateOut(msgspec.Struct):
    """A gate."""

    id: uuid.UUID
    site_id: uuid.UUID
    code: str
    name: str


class LaneIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new lane (道闸) of a gate."""

    code: Code
    name: Name
    direction: Literal["in", "out"]


class LanePatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Changes to a lane."""

    code: Code | None = None
    name: Name | None = None
    direction: Literal["in", "out"] | None = None


class LaneOut(msgspec.Struct):
    """A lane."""

    id: uuid.UUID
    gate_id: uuid.UUID
    code: str
    name: str
    direction: str


def _site(s: sites.Site) -> SiteOut:
    return SiteOut(s.id, s.name, s.address, s.created_at)


def _gate(g: sites.Gate) -> GateOut:
    return GateOut(g.id, g.site_id, g.code, g.name)


def _lane(lane: sites.Lane) -> LaneOut:
    return LaneOut(lane.id, lane.gate_id, lane.code, lane.name, lane.direction)


# Sites ---------------------------------------------------------------------------------------------


@get("/sites", operation_id="ListSites")
async def list_sites(
    session: NamedDependency[AsyncSession],
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[SiteOut]:
    """List the sites the caller may see."""
    rows, total = await sites.list_sites(session, limit, offset)
    return Page([_site(s) for s in rows], total, limit, offset)


@post("/sites", operation_id="CreateSite")
async def create_site(
    data: JSONBody[SiteIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> SiteOut:
    """Create a site."""
    async with session.begin():
        site = await sites.create_site(session, principal, data.name, data.address)  # plan limit (issue 22)
    return _site(site)


@get("/sites/{site_id:uuid}", operation_id="GetSite")
async def get_site(site_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> SiteOut:
    """Read a site."""
    return _site(await sites.get_site(session, site_id))


@patch("/sites/{site_id:uuid}", operation_id="UpdateSite")
async def update_site(
    site_id: FromPath[uuid.UUID],
    data: JSONBody[SitePatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> SiteOut:
    """Change a site's name or address."""
    async with session.begin():
        site = await sites.update_site(session, principal, site_id, name=data.name, address=data.address)
    return _site(site)


@delete("/sites/{site_id:uuid}", operation_id="DeleteSite", status_code=204)
async def delete_site(
    site_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> None:
    """Delete a site that has no gates and no agents."""
    async with session.begin():
        await sites.delete(session, principal, "site", site_id)


# Gates ---------------------------------------------------------------------------------------------


@get("/sites/{site_id:uuid}/gates", operation_id="ListGates")
async def list_gates(site_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> list[GateOut]:
    """List the gates of a site."""
    return [_gate(g) for g in await sites.list_gates(session, site_id)]


@post("/sites/{site_id:uuid}/gates", operation_id="CreateGate")
async def create_gate(
    site_id: FromPath[uuid.UUID],
    data: JSONBody[GateIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> GateOut:
    """Add a gate to a site."""
    async with session.begin():
        gate = await sites.create_gate(session, principal, site_id, data.code, data.name)
    return _gate(gate)


@get("/gates/{gate_id:uuid}", operation_id="GetGate")
async def get_gate(gate_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> GateOut:
    """Read a gate."""
    return _gate(await sites.get_gate(session, gate_id))


@patch("/gates/{gate_id:uuid}", operation_id="UpdateGate")
async def update_gate(
    gate_id: FromPath[uuid.UUID],
    data: JSONBody[GatePatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> GateOut:
    """Change a gate."""
    async with session.begin():
        gate = await sites.update_gate(session, principal, gate_id, code=data.code, name=data.name)
    return _gate(gate)


@delete("/gates/{gate_id:uuid}", operation_id="DeleteGate", status_code=204)
async def delete_gate(
    gate_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> None:
    """Delete a gate that has no lanes."""
    async with session.begin():
        await sites.delete(session, principal, "gate", gate_id)


# Lanes ---------------------------------------------------------------------------------------------


@get("/gates/{gate_id:uuid}/lanes", operation_id="ListLanes")
async def list_lanes(gate_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> list[LaneOut]:
    """List the lanes of a gate."""
    return [_lane(lane) for lane in await sites.list_lanes(session, gate_id)]


@post("/gates/{gate_id:uuid}/lanes", operation_id="CreateLane")
async def create_lane(
    gate_id: FromPath[uuid.UUID],
    data: JSONBody[LaneIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> LaneOut:
    """Add a lane to a gate."""
    async with session.begin():
        lane = await sites.create_lane(session, principal, gate_id, data.code, data.name, data.direction)
    return _lane(lane)


@get("/lanes/{lane_id:uuid}", operation_id="GetLane")
async def get_lane(lane_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> LaneOut:
    """Read a lane."""
    return _lane(await sites.get_lane(session, lane_id))


@patch("/lanes/{lane_id:uuid}", operation_id="UpdateLane")
async def update_lane(
    lane_id: FromPath[uuid.UUID],
    data: JSONBody[LanePatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> LaneOut:
    """Change a lane."""
    async with session.begin():
        lane = await sites.update_lane(
            session, principal, lane_id, code=data.code, name=data.name, direction=data.direction
        )
    return _lane(lane)


@delete("/lanes/{lane_id:uuid}", operation_id="DeleteLane", status_code=204)
async def delete_lane(
    lane_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> None:
    """Delete a lane that has recorded no passes."""
    async with session.begin():
        await sites.delete(session, principal, "lane", lane_id)


HANDLERS = [
    list_sites,
    create_site,
    get_site,
    update_site,
    delete_site,
    list_gates,
    create_gate,
    get_gate,
    update_gate,
    delete_gate,
    list_lanes,
    create_lane,
    get_lane,
    update_lane,
    delete_lane,
]
