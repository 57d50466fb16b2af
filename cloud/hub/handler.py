"""``/agent/ws``: authenticate an agent, then ingest its event batches, blobs and heartbeats.

The credential is checked before anything is read from the socket; a refused agent gets close code
4401 (the ASGI server turns a close *before* accept into a bare HTTP 403, so the hub accepts and
closes at once to give the agent a machine-readable code). Each EventBatch is verified against the
agent's stored chain head, checked against the agent's site and lanes, inserted in one short
transaction (idempotent on ``(tenant_id, id)``) and acknowledged after commit. A malformed frame
closes the connection (1002/1009/4400) and writes nothing. When the database is unreachable (a
PostgreSQL restart) the connection is closed with 4503 "retry-after=5" and nothing is acked; the agent reconnects
and resends.

Late clip attachments (``evidence_attach``, ADR 0020) of this agent's stored events are inserted
into ``pass_clip`` once per attachment id and answered ``attach_ack``; one naming an event that is
not this agent's is refused (``ok`` false, ``unknown_event``) and logged.

Fault injection for the crash tests lives in tests (tests/sync/crash_cloud.py), not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import time
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from agent_protocol import messages as msg
from agent_protocol.events import GENESIS_HASH, PassEvent, verify_chain
from cloud import blobs as blob_records
from cloud import metrics
from cloud.blobs import Blobs, from_state
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.hub import commands, precheck
from cloud.hub.checks import ChecksRunner
from cloud.hub.credentials import AgentIdentity, authenticate_agent
from cloud.hub.pool import IngestPool
from cloud.ledger import passes as ledger_passes

log = structlog.get_logger(__name__)

#: Clock difference between agent and cloud that the stored health flags.
CLOCK_SKEW_LIMIT_S = 30.0
#: A queue is flagged "growing" when it grew at each of this many heartbeats in a row.
QUEUE_GROWTH_BEATS = 4
#: Close code when the database fails under a connection: "try later" with a retry-after (issue 16: a
#: bare 1011 let a fleet reconnect in a storm against a recovering database; docs/sync-faults.md).
CLOSE_UNAVAILABLE = msg.CLOSE_TRY_LATER
#: Seconds the agent is told to wait before it reconnects after a database failure.
RETRY_AFTER_S = 5.0
_UNAVAILABLE = msg.try_later_reason(RETRY_AFTER_S, "云端数据库暂不可用，请稍后重试")


def _ingest_pool(socket: WebSocket[Any, Any, Any]) -> IngestPool:
    """The app's ingest pool (created by the app's lifespan; lazily on the shared pool otherwise)."""
    state = socket.app.state
    pool = getattr(state, "hub_ingest", None)
    if not isinstance(pool, IngestPool):
        settings = state.settings.database
        pool = IngestPool(dataclasses.replace(settings, app_url=""), state.database)
        state.hub_ingest = pool
    return pool


class _RefusedError(Exception):
    """A batch the hub will not store: tell the agent and close."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@websocket("/agent/ws", opt={"public": True})
async def agent_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """The agent connection (docs/protocol.md)."""
    database: Database = socket.app.state.database
    blobs = from_state(socket.app.state)
    try:
        identity = await authenticate_agent(database, socket.headers.get("authorization"))
    except (DBAPIError, OSError) as exc:
        # Not a refusal: the agent must retry (a close before accept would be a bare HTTP 403, which
        # the agent rightly treats as a refused credential).
        log.warning("hub.database_unavailable", stage="auth", error=type(exc).__name__)
        await socket.accept()
        await socket.close(code=CLOSE_UNAVAILABLE, reason=_UNAVAILABLE)
        return
    if identity is None:
        log.warning("hub.auth_refused", client=str(socket.client))
        await socket.accept()
        await socket.close(code=msg.CLOSE_AUTH, reason="代理凭据无效或已吊销")
        return
    await socket.accept()
    metrics.AGENTS_CONNECTED.inc()
    session = _AgentSession(socket, database, blobs, identity)
    bus: commands.CommandBus | None = getattr(socket.app.state, "command_bus", None)
    if bus is not None:
        bus.attach(session)
    try:
        await session.run()
    except WebSocketDisconnect:
        log.info("hub.disconnected", agent_id=str(identity.agent_id))
    finally:
        metrics.AGENTS_CONNECTED.dec()
        metrics.forget_agent(str(identity.agent_id))  # its figures now come from the replica it reconnects to
        if bus is not None:
            bus.detach(session)


class _AgentSession:
    def __init__(self, socket: WebSocket[Any, Any, Any], database: Database, blobs: Blobs, who: AgentIdentity) -> None:
        self.socket = socket
        self.database = database
        self.blobs = blobs
        self.who = who
        self._source = ledger_passes.AgentSource(who.tenant_id, who.site_id, who.agent_id)
        self.lanes: frozenset[str] = frozenset()
        self.log = log.bind(agent_id=str(who.agent_id), tenant_id=str(who.tenant_id))
        ids = {"agent_id": str(who.agent_id), "tenant_id": str(who.tenant_id), "site_id": str(who.site_id)}
        structlog.contextvars.bind_contextvars(**ids)  # every line logged for this connection carries them
        #: Capabilities from the agent's hello (commands, snapshots), and the snapshot versions it holds.
        self.features: frozenset[str] = frozenset()
        self.held_versions: dict[str, str | None] = {}
        self.ready = False
        self.queue_depths: list[int] = []
        self._send_lock = asyncio.Lock()
        self._sync_lock = asyncio.Lock()
        self._prechecks: set[asyncio.Task[None]] = set()
        #: The agent's chain head (seq, hash) as this connection last stored or read it; None = read it
        #: from the database. Only a hint: see :meth:`_ingest`.
        self._head_hint: tuple[int, str] | None = None

    async def deliver(self, command: Mapping[str, Any]) -> None:
        """Forward a command from the bus (called from the bus's task)."""
        if not self.ready:
            return  # the hello sync that is under way sends pending state and commands
        try:
            async with self._sync_lock:
                await commands.forward(self.database, self.who, self.features, self._send, command, self.held_versions)
            self.log.info("hub.command_sent", command_id=command.get("command_id"), name=command.get("name"))
        except (WebSocketDisconnect, RuntimeError, OSError, DBAPIError) as exc:
            self.log.warning("hub.command_not_sent", command_id=command.get("command_id"), error=type(exc).__name__)

    async def kick(self, reason: str) -> None:
        """Close the connection because the credential was revoked or rotated."""
        self.log.warning("hub.agent_kicked", reason=reason)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self._close(msg.CLOSE_AUTH, reason)

    async def resync(self) -> None:
        """Send the state in force and pending commands again (after the bus's listener reconnected)."""
        if not self.ready:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, DBAPIError):
            async with self._sync_lock:
                await commands.sync_state(self.database, self.who, self.features, self._send, self.held_versions)

    async def _close(self, code: int, reason: str) -> None:
        await self.socket.close(code=code, reason=reason[:120])

    async def _send(self, message: msg.Message) -> None:
        async with self._send_lock:  # the bus sends commands from another task
            await self.socket.send_bytes(msg.encode(message))

    async def _receive(self) -> msg.Message:
        event = await self.socket.receive()
        if event["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(detail="disconnected", code=int(event.get("code", 1000)))
        data = event.get("bytes")
        if not isinstance(data, bytes):
            return msg.decode(str(event.get("text") or ""))
        return msg.decode(data)

    async def run(self) -> None:
        try:
            await self._handshake()
            while await self._dispatch(await self._receive()):
                pass
        except msg.ProtocolError as exc:
            self.log.warning("hub.protocol_error", code=exc.close_code, detail=exc.message)
            await self._close(exc.close_code, exc.message)
        except (DBAPIError, OSError) as exc:
            # Nothing of the current batch is acked: the agent resends it after reconnecting.
            self.log.warning("hub.database_unavailable", error=type(exc).__name__)
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self._close(CLOSE_UNAVAILABLE, _UNAVAILABLE)
        finally:
            for task in list(self._prechecks):  # nobody is left to read the answers
                task.cancel()

    async def _handshake(self) -> None:
        hello = await self._receive()
        if not isinstance(hello, msg.Hello):
            raise msg.ProtocolError("第一条消息必须是 hello")
        if hello.agent_id != str(self.who.agent_id):
            raise msg.ProtocolError("hello 中的代理编号与凭据不符")
        head_seq, _ = await self._load_state()
        self.features = frozenset(hello.features)
        self.held_versions = {"registry": hello.registry_version, "policy": hello.policy_version}
        await self._send(
            msg.Welcome(
                server_clock=dt.datetime.now(dt.UTC),
                last_stored_seq=head_seq,
                features=[
                    msg.FEATURE_PRECHECK,
                    msg.FEATURE_LATE_CLIPS,
                    msg.FEATURE_LATE_WEIGHINGS,
                    msg.FEATURE_WEIGHING_FLAGS,
                ],
            )
        )
        self.log.info("hub.connected", last_acked_seq=hello.last_acked_seq, stored_seq=head_seq)
        async with self._sync_lock:
            self.ready = True
            await commands.sync_state(self.database, self.who, self.features, self._send, self.held_versions)

    async def _dispatch(self, message: msg.Message) -> bool:
        """Handle one message; False once the connection is closed."""
        if isinstance(message, msg.EventBatch):
            started = time.perf_counter()
            try:
                up_to = await self._ingest(message.events)
            except _RefusedError as refused:
                metrics.INGEST_EVENTS.labels("refused").inc(len(message.events))
                self.log.warning("hub.batch_refused", code=refused.code, detail=refused.message)
                await self._send(msg.Error(code=refused.code, message=refused.message, fatal=True))
                await self._close(msg.CLOSE_PROTOCOL, refused.code)
                return False
            await self._send(msg.Ack(up_to_seq=up_to))
            metrics.INGEST_ACK_SECONDS.observe(time.perf_counter() - started)
            self._schedule_checks()
        elif isinstance(message, msg.BlobOffer):
            await self._send(msg.BlobWant(sha256=await self._missing(message.sha256)))
        elif isinstance(message, msg.BlobPut):
            await self._send(msg.BlobStored(sha256=message.sha256, ok=await self._put_blob(message)))
        elif isinstance(message, msg.Heartbeat):
            await self._heartbeat(message)
        elif isinstance(message, msg.CommandResult):
            self.log.info("hub.command_result", command_id=message.command_id, ok=message.ok)
            await commands.record_result(self.database, self.who, message)
        elif isinstance(message, msg.PrecheckRequest):
            self._precheck(message)
        elif isinstance(message, msg.EvidenceAttach | msg.WeighingAttach):
            await self._send(await self._attach(message))
        elif isinstance(message, msg.Error):
            self.log.warning("hub.agent_error", code=message.code, message=message.message)
        else:
            raise msg.ProtocolError(f"代理不应发送 {type(message).__name__}")
        return True

    def _precheck(self, request: msg.PrecheckRequest) -> None:
        """Answer a pre-pass check in its own task: ingest and acks never wait for a platform."""
        service = precheck.service_of(self.socket.app.state)
        task = asyncio.create_task(self._answer_precheck(service, request))
        self._prechecks.add(task)
        task.add_done_callback(self._prechecks.discard)

    async def _answer_precheck(self, service: precheck.PrecheckService, request: msg.PrecheckRequest) -> None:
        result = await service.answer(self.database, self.who.principal, self.who.site_id, request)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self._send(result)

    def _schedule_checks(self) -> None:
        """Ask the process's checks runner for this tenant's logic checks (never on the ack path; coalesced)."""
        runner: ChecksRunner | None = getattr(self.socket.app.state, "hub_checks", None)
        if runner is not None:
            runner.request(self.who.principal)

    async def _load_state(self) -> tuple[int, str]:
        async with self.database.session(self.who.principal) as session, session.begin():
            rows = await session.execute(
                select(m.Lane.id).join(m.Gate, m.Gate.id == m.Lane.gate_id).where(m.Gate.site_id == self.who.site_id)
            )
            self.lanes = frozenset(str(r[0]) for r in rows)
            self._head_hint = await self._head(session)
            return self._head_hint

    async def _locked_head(self, session: AsyncConnection) -> tuple[int, str]:
        """The stored head of this agent's chain, read under the agent's lock (``cloud.ledger.passes``)."""
        await ledger_passes.lock_agent(session, self.who.agent_id)
        return await self._head(session)

    async def _head(self, session: AsyncSession | AsyncConnection) -> tuple[int, str]:
        row = (
            await session.execute(
                select(m.PassEvent.seq, m.PassEvent.hash)
                .where(m.PassEvent.agent_id == self.who.agent_id)
                .order_by(m.PassEvent.seq.desc())
                .limit(1)
            )
        ).one_or_none()
        return (0, GENESIS_HASH) if row is None else (int(row.seq), str(row.hash))

    @staticmethod
    def _fresh(events: list[PassEvent], head: tuple[int, str]) -> tuple[list[PassEvent], _RefusedError | None]:
        """The events after ``head``, or why they cannot follow it (a gap or a broken hash chain)."""
        head_seq, head_hash = head
        fresh = [e for e in events if e.seq > head_seq]
        if not fresh:
            return fresh, None
        if fresh[0].seq != head_seq + 1:
            return fresh, _RefusedError("seq_gap", f"序号不连续：云端已存到 {head_seq}，收到 {fresh[0].seq}")
        report = verify_chain(fresh, head_hash)
        if not report.ok:
            return fresh, _RefusedError("chain_broken", report.detail or "哈希链断裂")
        return fresh, None

    def _check(self, events: list[PassEvent]) -> None:
        agent, site = str(self.who.agent_id), str(self.who.site_id)
        for event in events:
            if event.agent_id != agent:
                raise _RefusedError("wrong_agent", f"事件 {event.event_id} 属于另一个代理")
            if event.site_id != site:
                raise _RefusedError("wrong_site", f"事件 {event.event_id} 的厂区不是本代理所属厂区")
            if event.lane_id not in self.lanes:
                raise _RefusedError("unknown_lane", f"事件 {event.event_id} 的道闸不属于本厂区")

    async def _ingest(self, events: list[PassEvent]) -> int:
        """Store a batch in one transaction (idempotent on the event ids); the seq to ack after commit.

        The chain head comes from this connection's hint (what it stored last) instead of a query per
        batch. The hint can only lag behind the database (rows are never deleted, the hint is set after
        commit): when another writer of the same agent (a stale second connection) stored more, the
        batch either repeats those events (same ids: the insert skips them) or does not follow the hint,
        and then the head is read under the agent's lock before anything is refused. Events with the
        same sequence number but other ids hit the unique (tenant, agent, seq) constraint: nothing is
        stored, the connection closes with 4503 (retry-after) and the agent resends after reconnecting.
        """
        if not events:
            raise _RefusedError("empty_batch", "空的事件批次")
        events = sorted(events, key=lambda e: e.seq)
        self._check(events)
        hint, self._head_hint = self._head_hint, None  # restored only after a commit
        pool = _ingest_pool(self.socket)
        async with pool.slots, pool.transaction(self.who.principal) as session:
            # Two connections of one agent (a stale one not yet timed out) must not interleave: the
            # head is read under the agent's lock, and the ledger's insert takes the same lock (one
            # statement: lock, vehicles, rows, uplink queue — each round trip is ack latency).
            head = hint if hint is not None else await self._locked_head(session)
            fresh, refused = self._fresh(events, head)
            if refused is not None and hint is not None:  # the hint may lag: the database decides
                head = await self._locked_head(session)
                fresh, refused = self._fresh(events, head)
            if refused is not None:
                raise refused
            if fresh:
                await ledger_passes.store_batch(session, self._source, fresh)
                head = (fresh[-1].seq, fresh[-1].hash)
        self._head_hint = head
        metrics.INGEST_EVENTS.labels("stored").inc(len(fresh))
        metrics.INGEST_EVENTS.labels("duplicate").inc(len(events) - len(fresh))
        return events[-1].seq

    async def _missing(self, offered: list[str]) -> list[str]:
        if not offered:
            return []
        async with self.database.session(self.who.principal) as session, session.begin():
            known = set((await session.scalars(select(m.Blob.sha256).where(m.Blob.sha256.in_(offered)))).all())
        # The store's look-ups off the event loop: with an S3 bucket each is an HTTP request (issue 20).
        return await asyncio.to_thread(
            lambda: [h for h in dict.fromkeys(offered) if h not in known or not self.blobs.has(h)]
        )

    async def _put_blob(self, put: msg.BlobPut) -> bool:
        if hashlib.sha256(put.data).hexdigest() != put.sha256:
            log.warning("hub.blob_hash_mismatch", sha256=put.sha256)
            return False
        await asyncio.to_thread(self.blobs.put, put.data)
        async with self.database.session(self.who.principal) as session, session.begin():
            await blob_records.record(session, self.who.tenant_id, put.sha256, len(put.data), put.mime)
        return True

    async def _attach(self, attach: msg.EvidenceAttach | msg.WeighingAttach) -> msg.AttachAck:
        """Store a late clip of one of this agent's events, once per attachment id (ADR 0020)."""
        if isinstance(attach, msg.WeighingAttach):
            return await self._attach_weighing(attach)
        event_id = uuid.UUID(attach.event_id)
        clip = attach.clip
        async with self.database.session(self.who.principal) as session, session.begin():
            owner = await session.scalar(
                select(m.PassEvent.agent_id).where(m.PassEvent.id == event_id)  # RLS: this tenant's only
            )
            if owner != self.who.agent_id:
                self.log.warning("hub.attach_refused", attachment_id=attach.attachment_id, event_id=attach.event_id)
                return msg.AttachAck(
                    attachment_id=attach.attachment_id,
                    ok=False,
                    code="unknown_event",
                    message=f"事件 {attach.event_id} 不存在或不属于本代理，视频片段未保存",
                )
            await session.execute(
                pg_insert(m.PassClip)
                .values(
                    tenant_id=self.who.tenant_id,
                    id=uuid.UUID(attach.attachment_id),
                    pass_event_id=event_id,
                    agent_id=self.who.agent_id,
                    sha256=clip.sha256,
                    size_bytes=clip.size,
                    start=clip.start,
                    end=max(clip.start, clip.end),
                    mime=clip.mime,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "id"])
            )
        self.log.info("hub.clip_attached", attachment_id=attach.attachment_id, event_id=attach.event_id)
        return msg.AttachAck(attachment_id=attach.attachment_id)

    async def _attach_weighing(self, attach: msg.WeighingAttach) -> msg.AttachAck:
        """Store a late weighing of one of this agent's passes through the ledger (issue 15), once per id."""
        from cloud.ledger import weighings  # noqa: PLC0415 - the ledger's weighing writer

        async with self.database.session(self.who.principal) as session, session.begin():
            stored = await weighings.record_attachment(
                session, self.who.tenant_id, self.who.agent_id, self.who.site_id, attach
            )
        if not stored:
            self.log.warning("hub.weighing_refused", attachment_id=attach.attachment_id, event_id=attach.event_id)
            return msg.AttachAck(
                attachment_id=attach.attachment_id,
                ok=False,
                code="unknown_event",
                message=f"事件 {attach.event_id} 不存在或不属于本代理，称重记录未保存",
            )
        self.log.info("hub.weighing_attached", attachment_id=attach.attachment_id, event_id=attach.event_id)
        return msg.AttachAck(attachment_id=attach.attachment_id)

    async def _heartbeat(self, beat: msg.Heartbeat) -> None:
        now = dt.datetime.now(dt.UTC)
        skew = (beat.agent_clock - now).total_seconds()
        self.queue_depths = [*self.queue_depths[-QUEUE_GROWTH_BEATS:], beat.queue_depth]
        depths = self.queue_depths
        growing = len(depths) > QUEUE_GROWTH_BEATS and all(b > a for a, b in itertools.pairwise(depths))
        health: dict[str, object] = {
            "queue_depth": beat.queue_depth,
            "oldest_unsent_age_s": beat.oldest_unsent_age_s,
            "disk_free_bytes": beat.disk_free_bytes,
            "head_seq": beat.head_seq,
            "devices": msgspec.to_builtins(beat.devices),
            "alarms": list(beat.alarms),
            "agent_clock": beat.agent_clock.isoformat(),
            "clock_skew_s": round(skew, 3),
            "clock_skew": abs(skew) > CLOCK_SKEW_LIMIT_S,
            "queue_growing": growing,
            "registry_version": self.held_versions.get("registry"),
            "policy_version": self.held_versions.get("policy"),
            "features": sorted(self.features),
        }
        metrics.observe_heartbeat(
            str(self.who.agent_id),
            queue_depth=beat.queue_depth,
            oldest_unsent_s=beat.oldest_unsent_age_s or 0.0,
            disk_free_bytes=beat.disk_free_bytes,
            clock_skew_s=skew,
        )
        async with self.database.session(self.who.principal) as session, session.begin():
            await session.execute(
                update(m.Agent)
                .where(m.Agent.id == self.who.agent_id)
                .values(health=health, last_seen_at=func.now(), health_at=func.now())
            )
