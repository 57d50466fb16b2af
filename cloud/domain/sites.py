"""Sites (厂区), gates (出入口) and lanes (道闸): the one home of their reads and writes.

Called by the portal's set-up page (issue 19) and the JSON API (frontend_api/api/sites.py): plan
limits on new sites and lanes (:func:`cloud.billing.entitlements.require`), an audit row for every
change, a site with gates or agents, a gate with lanes and a lane with passes are not deleted, a
duplicate code is a 409 ``duplicate_code`` on ``code``. Names and codes are checked here (the API
also checks them in its schema) so a form can show the message next to its field. The caller's
session (RLS) scopes every row to its tenant; a write names the caller's tenant (404 for anything
else, or for a caller without one); the caller opens the transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Final, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.entitlements import Action, require
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant
from cloud.lib.problems import ProblemError, not_found
from tenants.context import Principal

__all__ = [
    "Gate",
    "GateView",
    "Lane",
    "Site",
    "SiteView",
    "create_gate",
    "create_lane",
    "create_site",
    "delete",
    "get_gate",
    "get_lane",
    "get_site",
    "layout",
    "list_gates",
    "list_lanes",
    "list_sites",
    "update_gate",
    "update_lane",
    "update_site",
]

#: The rows this module returns (callers above the services name them through here, not cloud.db).
Site = m.Site
Gate = m.Gate
Lane = m.Lane
_Row = TypeVar("_Row", m.Site, m.Gate, m.Lane)

_CODE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
DIRECTIONS: Final = {"in": "入场", "out": "出场"}


@dataclass
class GateView:
    """A gate with its lanes."""

    gate: m.Gate
    lanes: list[m.Lane] = field(default_factory=list)


@dataclass
class SiteView:
    """A site with its gates."""

    site: m.Site
    gates: list[GateView] = field(default_factory=list)


async def layout(session: AsyncSession) -> list[SiteView]:
    """Every site of the caller's tenant with its gates and lanes (three queries)."""
    sites = list(await session.scalars(select(m.Site).order_by(m.Site.created_at, m.Site.id)))
    gates = list(await session.scalars(select(m.Gate).order_by(m.Gate.code)))
    lanes = list(await session.scalars(select(m.Lane).order_by(m.Lane.code)))
    by_gate: dict[uuid.UUID, GateView] = {g.id: GateView(g) for g in gates}
    for lane in lanes:
        if lane.gate_id in by_gate:
            by_gate[lane.gate_id].lanes.append(lane)
    views = {s.id: SiteView(s) for s in sites}
    for view in by_gate.values():
        if view.gate.site_id in views:
            views[view.gate.site_id].gates.append(view)
    return list(views.values())


def _name(errors: FieldErrors, value: str, label: str) -> str:
    value = value.strip()
    if not value:
        errors.add("name", "required", f"请填写{label}名称")
    elif len(value) > 100:
        errors.add("name", "too_long", f"{label}名称最多 100 个字")
    return value


def _code(errors: FieldErrors, value: str, label: str) -> str:
    value = value.strip()
    if not _CODE.match(value):
        errors.add("code", "invalid_code", f"{label}编号为 1–32 位字母、数字、_ 或 -")
    return value


def _duplicate(label: str) -> ProblemError:
    errors = FieldErrors()
    errors.add("code", "duplicate", f"该{label}编号已存在")
    return ProblemError(409, "duplicate_code", "编号重复", f"该{label}编号已存在", list(errors.errors))


async def _visible(session: AsyncSession, model: type[_Row], oid: uuid.UUID, what: str) -> _Row:
    """A row the caller may see (RLS: its tenant's; a regulator's region); 404 otherwise."""
    row = await session.scalar(select(model).where(model.id == oid))
    if row is None:
        raise not_found(what)
    return row


async def list_sites(session: AsyncSession, limit: int, offset: int) -> tuple[list[m.Site], int]:
    """The sites the caller may see (RLS), oldest first, and their count."""
    total = await session.scalar(select(func.count()).select_from(m.Site)) or 0
    rows = await session.scalars(select(m.Site).order_by(m.Site.created_at, m.Site.id).limit(limit).offset(offset))
    return list(rows), int(total)


async def get_site(session: AsyncSession, site_id: uuid.UUID) -> m.Site:
    """One site the caller may see; 404 otherwise."""
    return await _visible(session, m.Site, site_id, "厂区")


async def list_gates(session: AsyncSession, site_id: uuid.UUID) -> list[m.Gate]:
    """The gates of a site, by code."""
    return list(await session.scalars(select(m.Gate).where(m.Gate.site_id == site_id).order_by(m.Gate.code)))


async def get_gate(session: AsyncSession, gate_id: uuid.UUID) -> m.Gate:
    """One gate the caller may see; 404 otherwise."""
    return await _visible(session, m.Gate, gate_id, "出入口")


async def list_lanes(session: AsyncSession, gate_id: uuid.UUID) -> list[m.Lane]:
    """The lanes of a gate, by code."""
    return list(await session.scalars(select(m.Lane).where(m.Lane.gate_id == gate_id).order_by(m.Lane.code)))


async def get_lane(session: AsyncSession, lane_id: uuid.UUID) -> m.Lane:
    """One lane the caller may see; 404 otherwise."""
    return await _visible(session, m.Lane, lane_id, "道闸")


async def _own(session: AsyncSession, principal: Principal, model: type[_Row], oid: uuid.UUID, what: str) -> _Row:
    """A row of the caller's own tenant, to change; 404 for any other (or a caller without a tenant)."""
    if principal.tenant_id is None:
        raise not_found(what)
    row = await session.get(model, (principal.tenant_id, oid))
    if row is None:
        raise not_found(what)
    return row


async def _update(
    session: AsyncSession,
    principal: Principal,
    model: type[_Row],
    oid: uuid.UUID,
    what: str,
    changes: dict[str, object],
) -> _Row:
    """Apply checked ``changes`` to the caller's row and audit them; a duplicate code is the 409 on ``code``."""
    row = await _own(session, principal, model, oid, what)
    for key, value in changes.items():
        setattr(row, key, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _duplicate(what) from exc
    kind = model.__tablename__
    audit.record(session, principal, f"{kind}.updated", kind, row.id, changes)
    return row


async def update_site(
    session: AsyncSession,
    principal: Principal,
    site_id: uuid.UUID,
    *,
    name: str | None = None,
    address: str | None = None,
) -> m.Site:
    """Change a site's name or address (the given ones; audited)."""
    errors = FieldErrors()
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = _name(errors, name, "厂区")
    if address is not None:
        if len(address) > 200:
            errors.add("address", "too_long", "地址最多 200 个字")
        changes["address"] = address.strip()
    errors.raise_if_any()
    return await _update(session, principal, m.Site, site_id, "厂区", changes)


async def update_gate(
    session: AsyncSession,
    principal: Principal,
    gate_id: uuid.UUID,
    *,
    code: str | None = None,
    name: str | None = None,
) -> m.Gate:
    """Change a gate's code or name (the given ones; audited); a duplicate code is a 409 on ``code``."""
    errors = FieldErrors()
    changes: dict[str, object] = {}
    if code is not None:
        changes["code"] = _code(errors, code, "出入口")
    if name is not None:
        changes["name"] = _name(errors, name, "出入口")
    errors.raise_if_any()
    return await _update(session, principal, m.Gate, gate_id, "出入口", changes)


async def update_lane(
    session: AsyncSession,
    principal: Principal,
    lane_id: uuid.UUID,
    *,
    code: str | None = None,
    name: str | None = None,
    direction: str | None = None,
) -> m.Lane:
    """Change a lane's code, name or direction (the given ones; audited); a duplicate code is a 409."""
    errors = FieldErrors()
    changes: dict[str, object] = {}
    if code is not None:
        changes["code"] = _code(errors, code, "道闸")
    if name is not None:
        changes["name"] = _name(errors, name, "道闸")
    if direction is not None:
        if direction not in DIRECTIONS:
            errors.add("direction", "invalid_direction", "请选择入场或出场")
        changes["direction"] = direction
    errors.raise_if_any()
    return await _update(session, principal, m.Lane, lane_id, "道闸", changes)


async def create_site(session: AsyncSession, principal: Principal, name: str, address: str = "") -> m.Site:
    """A new site (plan limit, audited)."""
    errors = FieldErrors()
    name = _name(errors, name, "厂区")
    if len(address) > 200:
        errors.add("address", "too_long", "地址最多 200 个字")
    errors.raise_if_any()
    tenant_id = require_tenant(principal)
    await require(session, principal, Action.ADD_SITE)
    site = m.Site(tenant_id=tenant_id, name=name, address=address.strip())
    session.add(site)
    await session.flush()
    audit.record(session, principal, "site.created", "site", site.id, {"name": name})
    return site


async def create_gate(session: AsyncSession, principal: Principal, site_id: uuid.UUID, code: str, name: str) -> m.Gate:
    """A new gate of a site (audited); a duplicate code is a 409 on ``code``."""
    errors = FieldErrors()
    code, name = _code(errors, code, "出入口"), _name(errors, name, "出入口")
    errors.raise_if_any()
    tenant_id = require_tenant(principal)
    if await session.get(m.Site, (tenant_id, site_id)) is None:
        raise not_found("厂区")
    gate = m.Gate(tenant_id=tenant_id, site_id=site_id, code=code, name=name)
    try:
        async with session.begin_nested():
            session.add(gate)
            await session.flush()
    except IntegrityError as exc:
        raise _duplicate("出入口") from exc
    audit.record(session, principal, "gate.created", "gate", gate.id, {"code": code, "name": name})
    return gate


async def create_lane(
    session: AsyncSession, principal: Principal, gate_id: uuid.UUID, code: str, name: str, direction: str
) -> m.Lane:
    """A new lane of a gate (plan limit, audited); a duplicate code is a 409 on ``code``."""
    errors = FieldErrors()
    code, name = _code(errors, code, "道闸"), _name(errors, name, "道闸")
    if direction not in DIRECTIONS:
        errors.add("direction", "invalid_direction", "请选择入场或出场")
    errors.raise_if_any()
    tenant_id = require_tenant(principal)
    if await session.get(m.Gate, (tenant_id, gate_id)) is None:
        raise not_found("出入口")
    await require(session, principal, Action.ADD_LANE)
    lane = m.Lane(tenant_id=tenant_id, gate_id=gate_id, code=code, name=name, direction=direction)
    try:
        async with session.begin_nested():
            session.add(lane)
            await session.flush()
    except IntegrityError as exc:
        raise _duplicate("道闸") from exc
    audit.record(
        session, principal, "lane.created", "lane", lane.id, {"code": code, "name": name, "direction": direction}
    )
    return lane


async def delete(session: AsyncSession, principal: Principal, kind: str, oid: uuid.UUID) -> None:
    """Delete an unused site (no gates, no agents), gate (no lanes) or lane (no passes); audited."""
    if kind == "site":
        site = await _own(session, principal, m.Site, oid, "厂区")
        if await session.scalar(select(func.count()).select_from(m.Gate).where(m.Gate.site_id == oid)):
            raise ProblemError(409, "site_in_use", "厂区仍在使用", "请先删除该厂区下的出入口")
        agents = await session.scalar(select(func.count()).select_from(m.Agent).where(m.Agent.site_id == oid))
        if agents:
            raise ProblemError(409, "site_in_use", "厂区仍在使用", "该厂区已注册门禁终端，不能删除")
        await session.delete(site)
    elif kind == "gate":
        gate = await _own(session, principal, m.Gate, oid, "出入口")
        if await session.scalar(select(func.count()).select_from(m.Lane).where(m.Lane.gate_id == oid)):
            raise ProblemError(409, "gate_in_use", "出入口仍在使用", "请先删除该出入口下的道闸")
        await session.delete(gate)
    elif kind == "lane":
        lane = await _own(session, principal, m.Lane, oid, "道闸")
        if await session.scalar(select(func.count()).select_from(m.PassEvent).where(m.PassEvent.lane_id == oid)):
            raise ProblemError(409, "lane_in_use", "道闸已有通行记录", "已有通行记录的道闸不能删除")
        await session.delete(lane)
    else:
        raise not_found("对象")
    audit.record(session, principal, f"{kind}.deleted", kind, oid)
