"""Commands to agents across cloud replicas: PostgreSQL LISTEN/NOTIFY plus a stored command log.

Every cloud process runs one :class:`CommandBus` (started from the app lifespan). It holds the agent
connections of this process and keeps one asyncpg connection listening on two channels:

* :data:`cloud.compliance.push.CHANNEL` (``ecogate_agent_command``): commands, payload as documented
  in ``cloud/compliance/push.py``. The bus stores each command once (``agent_command``, idempotent on
  its id, whichever replica gets there first) and forwards it to the addressed agents it holds.
* :data:`CONTROL_CHANNEL` (``ecogate_agent_control``): ``{"tenant_id", "agent_ids", "action"}`` with
  action ``disconnect``: a revoked or rotated credential closes the live connection (close 4401).

A NOTIFY is delivered only after the sender's transaction commits and only to listeners connected at
that moment, so nothing relies on it alone (docs/adr/0006): at every hello — and for every held
connection after the listener reconnects — the hub sends the state in force (emergency level,
registry and policy snapshots when the agent's versions differ) and the stored commands the agent
has not answered yet (not expired; state commands are not replayed, the state itself is sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import asyncpg
import msgspec
import structlog
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agent_protocol import messages as msg
from agent_protocol.backoff import Backoff
from cloud.compliance import push, snapshots
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub.credentials import AgentIdentity
from cloud.lib.problems import ProblemError, invalid_field
from hj1321.errors import InvalidValueError
from hj1321.plates import parse_plate
from tenants.context import Principal, Role

log = structlog.get_logger(__name__)

CONTROL_CHANNEL: Final = "ecogate_agent_control"
#: Commands that carry state: never replayed from the log (the hub sends the current state instead).
STATE_COMMANDS: Final = frozenset({"set_emergency_level", "policy_updated", "blacklist_updated", "registry_updated"})
#: Commands an operator may issue from the portal, with how long an unanswered one stays pending.
OPERATOR_COMMANDS: Final[Mapping[str, dt.timedelta]] = {
    "open_barrier": dt.timedelta(seconds=60),  # a barrier must never open minutes after the click
    "reload_config": dt.timedelta(hours=24),
}
#: Commands without expiry replayed at hello however old (unanswered ones, oldest first): portal lane ROIs.
DURABLE_COMMANDS: Final = frozenset({"set_lane_roi"})
#: How far back pending commands are looked up at hello (DURABLE_COMMANDS excepted).
PENDING_WINDOW: Final = dt.timedelta(days=1)
_SNAPSHOT_FOR: Final = {
    "policy_updated": "policy",
    "blacklist_updated": "registry",
    "registry_updated": "registry",
}
_HUB_USER: Final = uuid.UUID(int=0)


def hub_principal(tenant_id: uuid.UUID) -> Principal:
    """The principal the bus writes commands with (scoped to one tenant)."""
    return Principal(user_id=_HUB_USER, role=Role.GUARD, tenant_id=tenant_id, login="hub")


class HeldConnection(Protocol):
    """What the bus needs of a hub connection (``cloud.hub.handler._AgentSession``)."""

    who: AgentIdentity
    features: frozenset[str]

    async def deliver(self, command: Mapping[str, Any]) -> None:
        """Send one command (payload of the channel) to the agent."""

    async def kick(self, reason: str) -> None:
        """Close the connection with 4401."""

    async def resync(self) -> None:
        """Send the state in force and the pending commands again."""


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    def set_event(_conn: object) -> None:
        event.set()

    return set_event


def _dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


class CommandBus:
    """This process's LISTEN task and the agent connections it holds."""

    def __init__(self, database: Database, app_url: str, *, check_every_s: float = 10.0) -> None:
        """Prepare the bus; :meth:`run` connects."""
        self.database = database
        self.dsn = _dsn(app_url)
        self.check_every_s = check_every_s
        self.held: dict[uuid.UUID, set[HeldConnection]] = {}
        #: Set while the listener is connected.
        self.listening = asyncio.Event()
        self.reconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, connection: HeldConnection) -> None:
        """Hold an authenticated agent connection."""
        self.held.setdefault(connection.who.agent_id, set()).add(connection)

    def detach(self, connection: HeldConnection) -> None:
        """Forget a closed connection."""
        held = self.held.get(connection.who.agent_id)
        if held is not None:
            held.discard(connection)
            if not held:
                del self.held[connection.who.agent_id]

    def _addressed(self, payload: Mapping[str, Any]) -> list[HeldConnection]:
        tenant = str(payload.get("tenant_id"))
        ids = payload.get("agent_ids")
        wanted = None if ids is None else {str(a) for a in ids}
        return [
            c
            for conns in list(self.held.values())
            for c in list(conns)
            if str(c.who.tenant_id) == tenant and (wanted is None or str(c.who.agent_id) in wanted)
        ]

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def wrapped() -> None:
            try:
                await coro
            except Exception:
                log.exception("hub.bus_task_failed")

        task = asyncio.create_task(wrapped())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_command(self, _conn: object, _pid: int, _channel: str, raw: str) -> None:
        try:
            payload = json.loads(raw)
            tenant_id = uuid.UUID(str(payload["tenant_id"]))
            command_id = uuid.UUID(str(payload["command_id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("hub.bad_command_payload", payload=raw[:200])
            return
        for connection in self._addressed(payload):
            self._spawn(connection.deliver(payload))
        self._spawn(self._store(tenant_id, command_id, payload))

    def _on_control(self, _conn: object, _pid: int, _channel: str, raw: str) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            return
        if payload.get("action") == "disconnect":
            for connection in self._addressed(payload):
                self._spawn(connection.kick(str(payload.get("reason") or "代理凭据已吊销或已更换")))

    async def _store(self, tenant_id: uuid.UUID, command_id: uuid.UUID, payload: Mapping[str, Any]) -> None:
        """Keep the command in the log (idempotent: every replica tries, one row remains)."""
        ids = payload.get("agent_ids")
        async with self.database.session(hub_principal(tenant_id)) as session, session.begin():
            await session.execute(
                pg_insert(m.AgentCommand)
                .values(
                    tenant_id=tenant_id,
                    id=command_id,
                    agent_ids=None if ids is None else [uuid.UUID(str(a)) for a in ids],
                    name=str(payload.get("name", ""))[:64],
                    args=dict(payload.get("args") or {}),
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "id"])
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting (with a capped backoff) when the connection is lost."""
        backoff = Backoff(initial_s=0.5, max_s=10.0)  # the shared backoff (agent_protocol/backoff.py)
        first = True
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(push.CHANNEL, self._on_command)
                await conn.add_listener(CONTROL_CHANNEL, self._on_control)
                self.listening.set()
                backoff.started()
                log.info("hub.listening", channel=push.CHANNEL, reconnect=not first)
                if not first:
                    # NOTIFYs sent while we were away are gone: resend the state to every held agent.
                    self.reconnects += 1
                    for conns in list(self.held.values()):
                        for connection in list(conns):
                            self._spawn(connection.resync())
                first = False
                await self._watch(conn, lost, stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("hub.listener_lost", error=type(exc).__name__)
            finally:
                backoff.ended()
                self.listening.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)
            if not stop.is_set():
                await backoff.wait(stop)
        for task in list(self._tasks):
            task.cancel()

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event, stop: asyncio.Event) -> None:
        """Return when the connection is lost (termination, failed liveness query) or on stop."""
        while not stop.is_set() and not lost.is_set():
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())}
            _, pending = await asyncio.wait(waiters, timeout=self.check_every_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if not stop.is_set() and not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=5)  # a half-open connection shows up here
        if lost.is_set():
            raise OSError("listener connection terminated")


# --------------------------------------------------------------------------- issuing


async def issue_command(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    args: Mapping[str, push.ArgValue],
    agent_ids: Sequence[uuid.UUID] | None,
    created_by: uuid.UUID | None,
    ttl: dt.timedelta | None = None,
) -> uuid.UUID:
    """Store a command and NOTIFY it, both in the caller's transaction (sent only if it commits)."""
    command_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    session.add(
        m.AgentCommand(
            tenant_id=tenant_id,
            id=command_id,
            agent_ids=None if agent_ids is None else list(agent_ids),
            name=name,
            args=dict(args),
            expires_at=now + ttl if ttl is not None else None,
            created_by=created_by,
        )
    )
    await session.flush()
    payload = json.dumps(
        {
            "tenant_id": str(tenant_id),
            "agent_ids": None if agent_ids is None else [str(a) for a in agent_ids],
            "command_id": str(command_id),
            "name": name,
            "args": dict(args),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    await session.execute(select(func.pg_notify(push.CHANNEL, payload)))
    return command_id


async def remote_release_args(
    session: AsyncSession,
    principal: Principal,
    *,
    lane_id: uuid.UUID | None,
    reason: str,
    plate: str | None = None,
    confirm_plate: bool = False,
) -> dict[str, push.ArgValue]:
    """The ``open_barrier`` args of a remote release (issue 15: manual actions say who and what).

    The agent files the release under the requesting user's account (``operator``) and display name
    (``operator_name``), with the plate the user typed (checked with the HJ 1321 plate grammar) or,
    with ``confirm_plate``, the plate of the lane's last refused read that the user confirmed; without
    either the pass has no plate (never the previous refused plate silently).

    Raises:
        ProblemError: 422 ``validation_failed`` for a typed plate that is no plate (Chinese reason).
    """
    args: dict[str, push.ArgValue] = {"lane_id": str(lane_id), "reason": reason.strip(), "operator": principal.login}
    name = await session.scalar(select(m.UserAccount.display_name).where(m.UserAccount.id == principal.user_id))
    args["operator_name"] = name or principal.login
    if plate is not None and plate.strip():
        try:
            args["plate"] = parse_plate(plate).number
        except InvalidValueError as exc:
            raise invalid_field("plate", exc) from exc
    elif confirm_plate:
        args["confirm_plate"] = True
    return args


async def disconnect_agents(
    session: AsyncSession, tenant_id: uuid.UUID, agent_ids: Sequence[uuid.UUID], reason: str
) -> None:
    """Close the agents' live connections on every replica once the caller's transaction commits."""
    payload = json.dumps(
        {
            "tenant_id": str(tenant_id),
            "agent_ids": [str(a) for a in agent_ids],
            "action": "disconnect",
            "reason": reason,
        },
        ensure_ascii=False,
    )
    await session.execute(select(func.pg_notify(CONTROL_CHANNEL, payload)))


# --------------------------------------------------------------------------- per-connection sync


SendFn = Callable[[msg.Message], Awaitable[None]]


def command_message(payload: Mapping[str, Any]) -> msg.Command:
    """The websocket Command for a channel payload (non-scalar args are dropped)."""
    args = {
        str(k)[:64]: v
        for k, v in dict(payload.get("args") or {}).items()
        if v is None or isinstance(v, str | int | float | bool)
    }
    return msg.Command(command_id=str(payload["command_id"])[:64], name=str(payload["name"])[:64], args=args)


async def snapshot_message(database: Database, who: AgentIdentity, kind: str) -> msg.Snapshot:
    """Build the registry or policy snapshot for the agent's tenant."""
    async with database.session(who.principal) as session, session.begin():
        if kind == "policy":
            built = await snapshots.policy_snapshot(session, who.tenant_id)
            return msg.Snapshot(kind="policy", version=str(built["version"])[:500], data=built["policy"])
        built = await snapshots.registry_snapshot(session, who.tenant_id)
        version = str(built.pop("version"))[:500]
        return msg.Snapshot(kind="registry", version=version, data={"version": version, **built})


async def level_command(database: Database, who: AgentIdentity) -> msg.Command:
    """A ``set_emergency_level`` command carrying the level in force for the agent's tenant now."""
    async with database.session(who.principal) as session, session.begin():
        level = await snapshots.level_snapshot(session, who.tenant_id)
    args: dict[str, str | int | float | bool | None] = {
        "level": level["level"],
        "starts_at": level["starts_at"],
        "ends_at": level["ends_at"],
        "alert_id": level["alert_id"],
    }
    # Not a stored command: its answer is logged, not recorded ("state:" ids are not UUIDs).
    return msg.Command(command_id=f"state:{uuid.uuid4()}", name="set_emergency_level", args=args)


async def pending_commands(database: Database, who: AgentIdentity) -> list[msg.Command]:
    """Stored commands addressed to the agent, not expired, not answered, newer than the agent."""
    now = dt.datetime.now(dt.UTC)
    answered = exists().where(
        m.AgentCommandResult.tenant_id == m.AgentCommand.tenant_id,
        m.AgentCommandResult.command_id == m.AgentCommand.id,
        m.AgentCommandResult.agent_id == who.agent_id,
    )
    async with database.session(who.principal) as session, session.begin():
        created = await session.scalar(select(m.Agent.created_at).where(m.Agent.id == who.agent_id))
        rows = await session.scalars(
            select(m.AgentCommand)
            .where(
                or_(m.AgentCommand.agent_ids.is_(None), m.AgentCommand.agent_ids.contains([who.agent_id])),
                m.AgentCommand.name.not_in(STATE_COMMANDS),
                or_(m.AgentCommand.expires_at.is_(None), m.AgentCommand.expires_at > now),
                or_(
                    m.AgentCommand.created_at >= max(created or now, now - PENDING_WINDOW),
                    # a lane ROI saved in the portal waits for its agent however long it stays offline
                    and_(m.AgentCommand.name.in_(DURABLE_COMMANDS), m.AgentCommand.created_at >= (created or now)),
                ),
                and_(~answered),
            )
            .order_by(m.AgentCommand.created_at)
            .limit(100)
        )
        return [command_message({"command_id": str(r.id), "name": r.name, "args": r.args}) for r in rows]


async def sync_state(
    database: Database,
    who: AgentIdentity,
    features: frozenset[str],
    send: SendFn,
    held_versions: dict[str, str | None],
) -> None:
    """Send what the agent must hold: snapshots (when newer), the level in force, pending commands."""
    if msg.FEATURE_SNAPSHOTS in features:
        for kind in ("policy", "registry"):
            snap = await snapshot_message(database, who, kind)
            if held_versions.get(kind) != snap.version:
                await send(snap)
                held_versions[kind] = snap.version
    if msg.FEATURE_COMMANDS in features:
        await send(await level_command(database, who))
        for command in await pending_commands(database, who):
            await send(command)


async def forward(
    database: Database,
    who: AgentIdentity,
    features: frozenset[str],
    send: SendFn,
    payload: Mapping[str, Any],
    held_versions: dict[str, str | None],
) -> None:
    """Forward a channel command to the agent (after the snapshot it announces, if any)."""
    if msg.FEATURE_COMMANDS not in features:
        return
    kind = _SNAPSHOT_FOR.get(str(payload.get("name")))
    if kind is not None and msg.FEATURE_SNAPSHOTS in features:
        snap = await snapshot_message(database, who, kind)
        if held_versions.get(kind) != snap.version:
            await send(snap)
            held_versions[kind] = snap.version
    await send(command_message(payload))


async def record_result(database: Database, who: AgentIdentity, result: msg.CommandResult) -> None:
    """Store the agent's answer (once per command and agent); ids that are not UUIDs are only logged."""
    try:
        command_id = uuid.UUID(result.command_id)
    except ValueError:
        return
    async with database.session(who.principal) as session, session.begin():
        await session.execute(
            pg_insert(m.AgentCommandResult)
            .values(
                tenant_id=who.tenant_id,
                id=uuid.uuid4(),
                command_id=command_id,
                agent_id=who.agent_id,
                ok=result.ok,
                message=result.message[:500],
                blob_sha256=result.blob_sha256,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "command_id", "agent_id"])
        )


def encode_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy of command args (for API responses)."""
    return msgspec.to_builtins(dict(args))  # type: ignore[no-any-return]


async def remote_release(
    session: AsyncSession,
    principal: Principal,
    agent: m.Agent,
    lane_id: uuid.UUID | None,
    reason: str,
    *,
    plate: str | None = None,
    confirm_plate: bool = False,
) -> uuid.UUID:
    """特批放行: open one lane's barrier of ``agent`` with the reason (and plate), audited.

    The one home of a remote release: the portal's 特批放行 and the API's ``SendAgentCommand``
    (``open_barrier``) call it. Checks an active agent, a lane of its site, a reason; the args are
    :func:`remote_release_args`. Returns the command id.

    Raises:
        ProblemError: 409 revoked agent, 422 missing or unknown lane / empty reason / a typed plate that
            is no plate.
    """
    from cloud.domain import audit  # noqa: PLC0415 - the portal's path; the hub itself writes no audit rows
    from cloud.domain.common import FieldErrors  # noqa: PLC0415

    if agent.status != "active":
        raise ProblemError(409, "agent_revoked", "代理已吊销", "不能向已吊销的代理发送指令")
    errors = FieldErrors()
    if lane_id is None:
        errors.add("lane_id", "lane.required", "远程开闸必须指定车道")
        errors.raise_if_any()
    lane = await session.scalar(
        select(m.Lane.id)
        .join(m.Gate, (m.Gate.tenant_id == m.Lane.tenant_id) & (m.Gate.id == m.Lane.gate_id))
        .where(m.Lane.id == lane_id, m.Gate.site_id == agent.site_id)
    )
    if lane is None:
        errors.add("lane_id", "lane.unknown", "该车道不属于此代理的厂区")
    if not reason.strip():
        errors.add("reason", "reason.empty", "远程开闸必须填写原因")
    elif len(reason.strip()) > 200:
        errors.add("reason", "reason.too_long", "原因最多 200 个字")
    errors.raise_if_any()
    args = await remote_release_args(
        session, principal, lane_id=lane_id, reason=reason, plate=plate, confirm_plate=confirm_plate
    )
    ttl = OPERATOR_COMMANDS["open_barrier"]
    command_id = await issue_command(session, agent.tenant_id, "open_barrier", args, [agent.id], principal.user_id, ttl)
    audit.record(
        session, principal, "agent.command.open_barrier", "agent", agent.id, {"command_id": str(command_id), **args}
    )
    return command_id
