"""Sites (厂区), gates (出入口) and lanes (道闸): create, read, update, delete."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, TypeVar

import msgspec
from litestar import delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.entitlements import Action, require
from cloud.db import models as m
from cloud.domain import audit
from cloud.lib.problems import ProblemError, not_found
from frontend_api.api.schemas import Code, Limit, Name, Offset, Page
from tenants.context import Principal

Address = Annotated[str, msgspec.Meta(max_length=200)]
_M = TypeVar("_M", bound=m.Base)


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


def _site(s: m.Site) -> SiteOut:
    return SiteOut(s.id, s.name, s.address, s.created_at)


def _gate(g: m.Gate) -> GateOut:
    return GateOut(g.id, g.site_id, g.code, g.name)


def _lane(lane: m.Lane) -> LaneOut:
    return LaneOut(lane.id, lane.gate_id, lane.code, lane.name, lane.direction)


async def _get(
    session: NamedDependency[AsyncSession], model: type[_M], tenant_id: uuid.UUID | None, oid: uuid.UUID, what: str
) -> _M:
    if tenant_id is None:
        raise not_found(what)
    obj = await session.get(model, (tenant_id, oid))
    if obj is None:
        raise not_found(what)
    return obj


def _changes(patch: msgspec.Struct) -> dict[str, object]:
    # Absent fields decode as None; only the given ones change (None would break NOT NULL columns).
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not None}


def _tenant(principal: NamedDependency[Principal]) -> uuid.UUID:
    if principal.tenant_id is None:
        raise ProblemError(400, "tenant_required", "需要企业身份", "该操作需要以企业身份登录")
    return principal.tenant_id


# Sites ---------------------------------------------------------------------------------------------


@get("/sites", operation_id="ListSites")
async def list_sites(
    session: NamedDependency[AsyncSession],
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[SiteOut]:
    """List the sites the caller may see."""
    total = await session.scalar(select(func.count()).select_from(m.Site)) or 0
    rows = await session.scalars(select(m.Site).order_by(m.Site.created_at, m.Site.id).limit(limit).offset(offset))
    return Page([_site(s) for s in rows], total, limit, offset)


@post("/sites", operation_id="CreateSite")
async def create_site(
    data: JSONBody[SiteIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> SiteOut:
    """Create a site."""
    async with session.begin():
        await require(session, principal, Action.ADD_SITE)  # plan limit (issue 22)
        site = m.Site(tenant_id=_tenant(principal), name=data.name, address=data.address)
        session.add(site)
        await session.flush()
        audit.record(session, principal, "site.created", "site", site.id, {"name": data.name})
    return _site(site)


@get("/sites/{site_id:uuid}", operation_id="GetSite")
async def get_site(site_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> SiteOut:
    """Read a site."""
    site = await session.scalar(select(m.Site).where(m.Site.id == site_id))
    if site is None:
        raise not_found("厂区")
    return _site(site)


@patch("/sites/{site_id:uuid}", operation_id="UpdateSite")
async def update_site(
    site_id: FromPath[uuid.UUID],
    data: JSONBody[SitePatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> SiteOut:
    """Change a site's name or address."""
    async with session.begin():
        site = await _get(session, m.Site, principal.tenant_id, site_id, "厂区")
        changes = _changes(data)
        for key, value in changes.items():
            setattr(site, key, value)
        audit.record(session, principal, "site.updated", "site", site.id, changes)
    return _site(site)


@delete("/sites/{site_id:uuid}", operation_id="DeleteSite", status_code=204)
async def delete_site(
    site_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> None:
    """Delete a site that has no gates and no agents."""
    async with session.begin():
        site = await _get(session, m.Site, principal.tenant_id, site_id, "厂区")
        used = await session.scalar(select(func.count()).select_from(m.Gate).where(m.Gate.site_id == site_id))
        if used:
            raise ProblemError(409, "site_in_use", "厂区仍在使用", "请先删除该厂区下的出入口")
        await session.delete(site)
        audit.record(session, principal, "site.deleted", "site", site_id)


# Gates ---------------------------------------------------------------------------------------------


@get("/sites/{site_id:uuid}/gates", operation_id="ListGates")
async def list_gates(site_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> list[GateOut]:
    """List the gates of a site."""
    rows = await session.scalars(select(m.Gate).where(m.Gate.site_id == site_id).order_by(m.Gate.code))
    return [_gate(g) for g in rows]


@post("/sites/{site_id:uuid}/gates", operation_id="CreateGate")
async def create_gate(
    site_id: FromPath[uuid.UUID],
    data: JSONBody[GateIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> GateOut:
    """Add a gate to a site."""
    async with session.begin():
        await _get(session, m.Site, principal.tenant_id, site_id, "厂区")
        gate = m.Gate(tenant_id=_tenant(principal), site_id=site_id, code=data.code, name=data.name)
        session.add(gate)
        await session.flush()
        audit.record(session, principal, "gate.created", "gate", gate.id, {"code": data.code, "name": data.name})
    return _gate(gate)


@get("/gates/{gate_id:uuid}", operation_id="GetGate")
async def get_gate(gate_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> GateOut:
    """Read a gate."""
    gate = await session.scalar(select(m.Gate).where(m.Gate.id == gate_id))
    if gate is None:
        raise not_found("出入口")
    return _gate(gate)


@patch("/gates/{gate_id:uuid}", operation_id="UpdateGate")
async def update_gate(
    gate_id: FromPath[uuid.UUID],
    data: JSONBody[GatePatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> GateOut:
    """Change a gate."""
    async with session.begin():
        gate = await _get(session, m.Gate, principal.tenant_id, gate_id, "出入口")
        changes = _changes(data)
        for key, value in changes.items():
            setattr(gate, key, value)
        audit.record(session, principal, "gate.updated", "gate", gate.id, changes)
    return _gate(gate)


@delete("/gates/{gate_id:uuid}", operation_id="DeleteGate", status_code=204)
async def delete_gate(
    gate_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> None:
    """Delete a gate that has no lanes."""
    async with session.begin():
        gate = await _get(session, m.Gate, principal.tenant_id, gate_id, "出入口")
        used = await session.scalar(select(func.count()).select_from(m.Lane).where(m.Lane.gate_id == gate_id))
        if used:
            raise ProblemError(409, "gate_in_use", "出入口仍在使用", "请先删除该出入口下的道闸")
        await session.delete(gate)
        audit.record(session, principal, "gate.deleted", "gate", gate_id)


# Lanes ---------------------------------------------------------------------------------------------


@get("/gates/{gate_id:uuid}/lanes", operation_id="ListLanes")
async def list_lanes(gate_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> list[LaneOut]:
    """List the lanes of a gate."""
    rows = await session.scalars(select(m.Lane).where(m.Lane.gate_id == gate_id).order_by(m.Lane.code))
    return [_lane(lane) for lane in rows]


@post("/gates/{gate_id:uuid}/lanes", operation_id="CreateLane")
async def create_lane(
    gate_id: FromPath[uuid.UUID],
    data: JSONBody[LaneIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> LaneOut:
    """Add a lane to a gate."""
    async with session.begin():
        await _get(session, m.Gate, principal.tenant_id, gate_id, "出入口")
        await require(session, principal, Action.ADD_LANE)  # plan limit (issue 22)
        lane = m.Lane(
            tenant_id=_tenant(principal), gate_id=gate_id, code=data.code, name=data.name, direction=data.direction
        )
        session.add(lane)
        await session.flush()
        audit.record(session, principal, "lane.created", "lane", lane.id, msgspec.structs.asdict(data))
    return _lane(lane)


@get("/lanes/{lane_id:uuid}", operation_id="GetLane")
async def get_lane(lane_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> LaneOut:
    """Read a lane."""
    lane = await session.scalar(select(m.Lane).where(m.Lane.id == lane_id))
    if lane is None:
        raise not_found("道闸")
    return _lane(lane)


@patch("/lanes/{lane_id:uuid}", operation_id="UpdateLane")
async def update_lane(
    lane_id: FromPath[uuid.UUID],
    data: JSONBody[LanePatch],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> LaneOut:
    """Change a lane."""
    async with session.begin():
        lane = await _get(session, m.Lane, principal.tenant_id, lane_id, "道闸")
        changes = _changes(data)
        for key, value in changes.items():
            setattr(lane, key, value)
        audit.record(session, principal, "lane.updated", "lane", lane.id, changes)
    return _lane(lane)


@delete("/lanes/{lane_id:uuid}", operation_id="DeleteLane", status_code=204)
async def delete_lane(
    lane_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> None:
    """Delete a lane that has recorded no passes."""
    async with session.begin():
        lane = await _get(session, m.Lane, principal.tenant_id, lane_id, "道闸")
        used = await session.scalar(select(func.count()).select_from(m.PassEvent).where(m.PassEvent.lane_id == lane_id))
        if used:
            raise ProblemError(409, "lane_in_use", "道闸已有通行记录", "已有通行记录的道闸不能删除")
        await session.delete(lane)
        audit.record(session, principal, "lane.deleted", "lane", lane_id)


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
