"""Edge agents: enrollment codes, the public enrollment exchange, health, revoke, rotate, commands.

Tenant admins and installers create one-time enrollment codes for a site; ``ecogate agent enroll``
exchanges a code at ``POST /agent-enrollment`` (public: the code is the credential) for an agent
bound to the code's (tenant, site). Revoking or rotating a credential closes the agent's live
connection on whichever cloud replica holds it (docs/sync.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.entitlements import Action, require
from cloud.blobs import from_state
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit, lane_roi
from cloud.domain.common import FieldErrors, require_tenant
from cloud.hub import commands, credentials, health
from cloud.lib.problems import ProblemError, not_found
from frontend_api.api.schemas import Limit, Name, Offset, Page
from tenants.context import Principal, Role

ADMINS: Final = {"roles": frozenset({Role.TENANT_ADMIN, Role.INSTALLER, Role.PLATFORM_ADMIN})}
OPERATORS: Final = {"roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER, Role.INSTALLER, Role.PLATFORM_ADMIN})}
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
CodeText = Annotated[str, msgspec.Meta(min_length=4, max_length=64)]


class EnrollmentCodeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new one-time enrollment code for a site."""

    site_id: uuid.UUID
    name: Name
    ttl_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] = 24


class EnrollmentCodeOut(msgspec.Struct):
    """A created code (the code itself is shown only once)."""

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    code: str
    expires_at: dt.datetime


class EnrollmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """The agent's side of enrollment."""

    code: CodeText
    software: Annotated[str, msgspec.Meta(max_length=100)] = ""


class EnrollmentOut(msgspec.Struct):
    """The device credential (``<agent id>.<secret>``) and where to connect."""

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    name: str
    token: str
    hub_path: str = "/agent/ws"


class AgentFlags(msgspec.Struct):
    """Health flags (each one true means attention)."""

    silent: bool
    clock_skew: bool
    queue_growing: bool


class AgentOut(msgspec.Struct):
    """An agent with its latest health."""

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    status: str
    online: bool
    last_seen_at: dt.datetime | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    credential_rotated_at: dt.datetime | None
    flags: AgentFlags
    health: dict[str, Any]


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why the credential is revoked."""

    reason: Reason


class RotateOut(msgspec.Struct):
    """The new credential (shown once); the old one stops working at once."""

    agent_id: uuid.UUID
    token: str


class CommandIn(msgspec.Struct, forbid_unknown_fields=True):
    """An operator command: open a lane's barrier or reload the agent's configuration."""

    name: Literal["open_barrier", "reload_config"]
    lane_id: uuid.UUID | None = None
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""
    #: open_barrier: the plate the operator typed (checked like any plate), or ``confirm_plate``: the
    #: plate of the lane's last refused read, confirmed by the operator; neither = a pass without plate.
    plate: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    confirm_plate: bool = False


class CommandResultOut(msgspec.Struct):
    """An agent's answer."""

    ok: bool
    message: str
    at: dt.datetime


class CommandOut(msgspec.Struct):
    """A command and this agent's answer (None while pending)."""

    id: uuid.UUID
    name: str
    args: dict[str, Any]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    result: CommandResultOut | None


Pixel = Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class RoiIn(msgspec.Struct, forbid_unknown_fields=True):
    """A lane's new ROI in pixels of its latest snapshot (checked inside the picture)."""

    x1: Pixel
    y1: Pixel
    x2: Pixel
    y2: Pixel


class RoiOut(msgspec.Struct):
    """One saved lane ROI (append-only; the newest is in force) with who and when."""

    id: uuid.UUID
    lane_id: uuid.UUID
    x1: int
    y1: int
    x2: int
    y2: int
    image_width: int
    image_height: int
    snapshot_sha256: str | None
    command_id: uuid.UUID | None
    created_by_login: str
    created_at: dt.datetime


class LaneSnapshotOut(msgspec.Struct):
    """A lane snapshot command and the agent's answer (``sha256`` names the JPEG blob once answered)."""

    command_id: uuid.UUID
    requested_at: dt.datetime
    expires_at: dt.datetime | None
    answered: bool
    ok: bool
    message: str
    sha256: str | None


class LaneRoiOut(msgspec.Struct):
    """A lane's ROI in force, its latest snapshot and the ROI history (newest first)."""

    lane_id: uuid.UUID
    current: RoiOut | None
    snapshot: LaneSnapshotOut | None
    history: list[RoiOut]


def _roi_out(row: m.LaneRoi) -> RoiOut:
    return RoiOut(
        row.id,
        row.lane_id,
        row.x1,
        row.y1,
        row.x2,
        row.y2,
        row.image_width,
        row.image_height,
        row.snapshot_sha256,
        row.command_id,
        row.created_by_login,
        row.created_at,
    )


def agent_out(agent: m.Agent, now: dt.datetime) -> AgentOut:
    """The API view of an agent with computed flags."""
    state = health.assess(agent, now)
    return AgentOut(
        id=agent.id,
        site_id=agent.site_id,
        name=agent.name,
        status=agent.status,
        online=state.online,
        last_seen_at=agent.last_seen_at,
        created_at=agent.created_at,
        revoked_at=agent.revoked_at,
        credential_rotated_at=agent.credential_rotated_at,
        flags=AgentFlags(silent=state.silent, clock_skew=state.clock_skew, queue_growing=state.queue_growing),
        health=dict(agent.health or {}),
    )


async def _agent(session: AsyncSession, agent_id: uuid.UUID) -> m.Agent:
    agent = await session.scalar(select(m.Agent).where(m.Agent.id == agent_id))
    if agent is None:
        raise not_found("代理")
    return agent


@post("/agents/enrollment-codes", operation_id="CreateEnrollmentCode", opt=ADMINS, status_code=201)
async def create_enrollment_code(
    data: JSONBody[EnrollmentCodeIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> EnrollmentCodeOut:
    """Create a one-time code that enrolls one agent for a site (valid ``ttl_hours``)."""
    require_tenant(principal)
    async with session.begin():
        await require(session, principal, Action.ENROLL_AGENT)  # plan limit (issue 22)
        try:
            row, code = await credentials.create_enrollment_code(
                session, principal, data.site_id, data.name, dt.timedelta(hours=data.ttl_hours)
            )
        except LookupError:
            errors = FieldErrors()
            errors.add("site_id", "site.unknown", "厂区不存在")
            errors.raise_if_any()
            raise
        audit.record(
            session, principal, "agent.enrollment_code", "agent_enrollment_code", row.id, {"site_id": str(data.site_id)}
        )
    return EnrollmentCodeOut(row.id, row.site_id, row.agent_name, code, row.expires_at)


@post("/agent-enrollment", operation_id="EnrollAgent", opt={"public": True}, status_code=201)
async def enroll_agent(data: JSONBody[EnrollmentIn], state: State) -> EnrollmentOut:
    """Exchange a one-time enrollment code for a device credential (public: the code is the secret)."""
    database: Database = state.database
    try:
        done = await credentials.redeem_enrollment_code(database, data.code, data.software)
    except credentials.EnrollmentError as exc:
        raise ProblemError(400, "enrollment_code_invalid", "注册码无效", str(exc)) from exc
    return EnrollmentOut(done.agent_id, done.tenant_id, done.site_id, done.name, done.token)


@get("/agents", operation_id="ListAgents", opt=OPERATORS)
async def list_agents(
    session: NamedDependency[AsyncSession],
    site_id: FromQuery[uuid.UUID | None] = None,
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[AgentOut]:
    """The tenant's agents with their latest health and flags (silent, clock skew, growing queue)."""
    query = select(m.Agent)
    if site_id is not None:
        query = query.where(m.Agent.site_id == site_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(m.Agent.created_at, m.Agent.id).limit(limit).offset(offset))
    now = dt.datetime.now(dt.UTC)
    return Page([agent_out(a, now) for a in rows], total, limit, offset)


@get("/agents/{agent_id:uuid}", operation_id="GetAgent", opt=OPERATORS)
async def get_agent(agent_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> AgentOut:
    """One agent with its latest health."""
    return agent_out(await _agent(session, agent_id), dt.datetime.now(dt.UTC))


@post("/agents/{agent_id:uuid}/revoke", operation_id="RevokeAgent", opt=ADMINS, status_code=200)
async def revoke_agent(
    agent_id: FromPath[uuid.UUID],
    data: JSONBody[RevokeIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> AgentOut:
    """Revoke the agent's credential: refused at the next handshake, a live connection is closed."""
    async with session.begin():
        agent = await _agent(session, agent_id)
        try:
            await credentials.revoke_agent_credential(session, principal, agent, data.reason)
        except credentials.CredentialStateError as exc:
            raise ProblemError(409, "agent_revoked", "代理已吊销", str(exc)) from exc
    return agent_out(agent, dt.datetime.now(dt.UTC))


@post("/agents/{agent_id:uuid}/rotate", operation_id="RotateAgentCredential", opt=ADMINS, status_code=200)
async def rotate_agent(
    agent_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> RotateOut:
    """Issue a new credential; the old one stops working and a live connection using it is closed."""
    async with session.begin():
        agent = await _agent(session, agent_id)
        try:
            token = await credentials.rotate_agent_credential(session, principal, agent)
        except credentials.CredentialStateError as exc:
            raise ProblemError(409, "agent_revoked", "代理已吊销", str(exc)) from exc
    return RotateOut(agent.id, token)


@post("/agents/{agent_id:uuid}/commands", operation_id="SendAgentCommand", opt=OPERATORS, status_code=201)
async def send_command(
    agent_id: FromPath[uuid.UUID],
    data: JSONBody[CommandIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> CommandOut:
    """Send a command to the agent (delivered by whichever cloud replica holds its connection)."""
    async with session.begin():
        agent = await _agent(session, agent_id)
        if data.name == "open_barrier":  # the remote release's one home (checks, who and what, audit)
            command_id = await commands.remote_release(
                session,
                principal,
                agent,
                data.lane_id,
                data.reason,
                plate=data.plate,
                confirm_plate=data.confirm_plate,
            )
        else:
            if agent.status != "active":
                raise ProblemError(409, "agent_revoked", "代理已吊销", "不能向已吊销的代理发送指令")
            ttl = commands.OPERATOR_COMMANDS[data.name]
            command_id = await commands.issue_command(
                session, agent.tenant_id, data.name, {}, [agent.id], principal.user_id, ttl
            )
            audit.record(
                session, principal, f"agent.command.{data.name}", "agent", agent.id, {"command_id": str(command_id)}
            )
        row = await session.get_one(m.AgentCommand, (agent.tenant_id, command_id))
    return CommandOut(row.id, row.name, dict(row.args), row.created_at, row.expires_at, None)


@get("/agents/{agent_id:uuid}/commands", operation_id="ListAgentCommands", opt=OPERATORS)
async def list_commands(
    agent_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    limit: FromQuery[Limit] = 50,
    offset: FromQuery[Offset] = 0,
) -> Page[CommandOut]:
    """Commands addressed to the agent (its own and tenant-wide ones), newest first, with its answers."""
    agent = await _agent(session, agent_id)
    addressed = (m.AgentCommand.agent_ids.is_(None)) | (m.AgentCommand.agent_ids.contains([agent.id]))
    query = select(m.AgentCommand).where(addressed, m.AgentCommand.created_at >= agent.created_at)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        await session.scalars(
            query.order_by(m.AgentCommand.created_at.desc(), m.AgentCommand.id).limit(limit).offset(offset)
        )
    )
    results = {
        r.command_id: r
        for r in await session.scalars(
            select(m.AgentCommandResult).where(
                m.AgentCommandResult.agent_id == agent.id,
                m.AgentCommandResult.command_id.in_([c.id for c in rows]),
            )
        )
    }
    items = [
        CommandOut(
            c.id,
            c.name,
            dict(c.args),
            c.created_at,
            c.expires_at,
            CommandResultOut(res.ok, res.message, res.created_at) if (res := results.get(c.id)) else None,
        )
        for c in rows
    ]
    return Page(items, total, limit, offset)


async def _agent_lane(session: AsyncSession, agent_id: uuid.UUID, lane_id: uuid.UUID) -> tuple[m.Agent, m.Lane]:
    found = await lane_roi.agent_lane(session, agent_id, lane_id)
    if found is None:
        raise not_found("代理或车道")
    return found


@get("/agents/{agent_id:uuid}/lanes/{lane_id:uuid}/roi", operation_id="GetLaneRoi", opt=OPERATORS)
async def get_lane_roi(
    agent_id: FromPath[uuid.UUID], lane_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]
) -> LaneRoiOut:
    """The lane's ROI in force, its latest camera snapshot (as asked of this agent) and the ROI history."""
    _agent_row, lane = await _agent_lane(session, agent_id, lane_id)
    snap = await lane_roi.latest_snapshot(session, agent_id, lane.id)
    current = await lane_roi.current_roi(session, lane.id)
    history = await lane_roi.roi_history(session, lane.id)
    return LaneRoiOut(
        lane.id,
        _roi_out(current) if current is not None else None,
        LaneSnapshotOut(
            snap.command_id, snap.requested_at, snap.expires_at, snap.answered, snap.ok, snap.message, snap.sha256
        )
        if snap is not None
        else None,
        [_roi_out(r) for r in history],
    )


@post(
    "/agents/{agent_id:uuid}/lanes/{lane_id:uuid}/snapshot",
    operation_id="RequestLaneSnapshot",
    opt=ADMINS,
    status_code=201,
)
async def request_lane_snapshot(
    agent_id: FromPath[uuid.UUID],
    lane_id: FromPath[uuid.UUID],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> LaneSnapshotOut:
    """Ask the online agent for the lane camera's latest frame (answer: ``GetLaneRoi`` ``snapshot``)."""
    async with session.begin():
        agent, lane = await _agent_lane(session, agent_id, lane_id)
        command_id = await lane_roi.ask_snapshot(session, principal, agent, lane)
        row = await session.get_one(m.AgentCommand, (agent.tenant_id, command_id))
    return LaneSnapshotOut(
        command_id, row.created_at, row.expires_at, answered=False, ok=False, message="", sha256=None
    )


@post("/agents/{agent_id:uuid}/lanes/{lane_id:uuid}/roi", operation_id="SetLaneRoi", opt=ADMINS, status_code=201)
async def set_lane_roi(
    agent_id: FromPath[uuid.UUID],
    lane_id: FromPath[uuid.UUID],
    data: JSONBody[RoiIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    state: State,
) -> RoiOut:
    """Save the lane's ROI over its latest snapshot and send it to the agent (kept for it while offline)."""
    values = {"x1": str(data.x1), "y1": str(data.y1), "x2": str(data.x2), "y2": str(data.y2)}
    async with session.begin():
        agent, lane = await _agent_lane(session, agent_id, lane_id)
        row = await lane_roi.save_over_snapshot(session, principal, agent, lane, values, from_state(state))
    return _roi_out(row)


HANDLERS = [
    create_enrollment_code,
    enroll_agent,
    list_agents,
    get_agent,
    revoke_agent,
    rotate_agent,
    send_command,
    list_commands,
    get_lane_roi,
    request_lane_snapshot,
    set_lane_roi,
]
