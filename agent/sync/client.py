"""Stream the outbox to the cloud hub: blobs by content hash, events in order, acks after commit.

One :class:`SyncClient` per agent. :meth:`SyncClient.run` keeps a websocket open with its own
reconnect loop on the shared backoff (:class:`agent_protocol.backoff.Backoff`: full jitter, so a
fleet that lost the cloud together does not reconnect in lock-step; the growth resets only after a
session stayed up ``healthy_after_s``; a close :data:`~agent_protocol.messages.CLOSE_TRY_LATER`
sets the floor of the next wait to its ``retry-after``). Not the websockets library's ``connect()``
iterator: it resets its backoff after every successful handshake, which turned a hub that accepts
and closes (its database down) into a reconnect storm (issue 16, docs/sync.md). On every (re)connection,
events that were sent but never acknowledged are put back to ``pending`` and sent again (the cloud
stores each event id once, so a replay never duplicates). A refused credential (close code 4401 or
HTTP 401/403) and an unsupported protocol version (4400) are fatal: retrying cannot help.

A batch the cloud refuses (``error`` with ``fatal`` then close 1002: broken chain, sequence gap,
unknown lane) is never dropped: the client raises an alarm (shown at the booth and sent in every
heartbeat), waits a growing pause (:attr:`SyncClient.refused_delays`, up to 5 minutes) and tries
again, so a fix on the cloud side (a lane added, a chain repaired) lets the queue drain on its own.

Late clip attachments (ADR 0020) follow their acknowledged events: the clip's blob is offered and
put, then ``evidence_attach`` is sent and the attachment is marked acked on ``attach_ack`` (a refusal
marks it refused and raises an alarm). Only a cloud announcing ``late_clips`` in its welcome gets
them; with an older cloud they stay pending on the agent.

Outbox calls (SQLite with ``synchronous=FULL``: an fsync per write) run in a worker thread so the
event loop keeps reading acks and answering pings while the disk is slow (docs/sync-faults.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Final, Protocol

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import process_exception
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent.decision.engine import DecisionRequest, PrecheckVerdict
from agent.ops import metrics
from agent.outbox import Outbox
from agent.sync.precheck import PrecheckBroker
from agent_protocol import messages as msg
from agent_protocol.backoff import HEALTHY_AFTER_S, Backoff, delays
from agent_protocol.events import PassEvent

__all__ = ["CommandHook", "SyncAuthError", "SyncClient", "SyncFatalError", "jittered_backoff"]

log = structlog.get_logger(__name__)

#: Events per EventBatch.
DEFAULT_BATCH: Final = 100
#: Batches sent and not yet acknowledged.
DEFAULT_WINDOW: Final = 4
#: Late clip attachments sent and not yet acknowledged.
ATTACH_WINDOW: Final = 4
#: A connection whose oldest unacked batch waited this long is closed and opened again (issue 16: a hub
#: stuck in its database after PostgreSQL kills kept answering pings and never acked).
ACK_TIMEOUT_S: Final = 60.0


def jittered_backoff(
    initial_s: float = 1.0, max_s: float = 60.0, factor: float = 2.0, rng: random.Random | None = None
) -> Generator[float]:
    """Reconnect delays of the shared backoff (:func:`agent_protocol.backoff.delays`: full jitter)."""
    return delays(initial_s=initial_s, max_s=max_s, factor=factor, rng=rng)


def _refused_backoff() -> Generator[float]:
    return jittered_backoff(initial_s=5.0, max_s=300.0)


class CommandHook(Protocol):
    """What the client needs to apply cloud commands and snapshots (``agent.sync.commands.CommandHandler``)."""

    @property
    def features(self) -> list[str]:
        """Capabilities announced in hello."""
        ...

    registry_version: str | None
    policy_version: str | None

    async def on_command(self, command: msg.Command) -> msg.CommandResult:
        """Apply a command and answer it."""
        ...

    async def on_snapshot(self, snapshot: msg.Snapshot) -> None:
        """Store and apply a snapshot."""
        ...


class SyncFatalError(RuntimeError):
    """The cloud refused this agent in a way retrying cannot fix."""


class SyncAuthError(SyncFatalError):
    """The cloud refused the agent's credential (unknown, wrong or revoked)."""


class SyncClient:
    """Deliver an :class:`~agent.outbox.Outbox` to the cloud hub over a websocket."""

    def __init__(
        self,
        url: str,
        token: str,
        outbox: Outbox,
        *,
        batch_size: int = DEFAULT_BATCH,
        window: int = DEFAULT_WINDOW,
        heartbeat_s: float = 15.0,
        poll_s: float = 0.5,
        reconnect_delays: Callable[[], Generator[float]] = jittered_backoff,
        refused_delays: Callable[[], Generator[float]] = _refused_backoff,
        commands: CommandHook | None = None,
        prechecks: PrecheckBroker | None = None,
        healthy_after_s: float = HEALTHY_AFTER_S,
        ack_timeout_s: float = ACK_TIMEOUT_S,
    ) -> None:
        """Prepare a client; nothing connects before :meth:`run`.

        ``commands`` applies the cloud's commands and snapshots (without it every command is answered
        "not supported" and no snapshot is asked for). ``prechecks`` carries the regulator pre-pass
        checks (:meth:`precheck`; agent/sync/precheck.py). ``reconnect_delays`` shapes the reconnect
        waits; the backoff restarts from its first delay only after a connection stayed up
        ``healthy_after_s``.
        """
        self.url = url
        self.token = token
        self.outbox = outbox
        self.batch_size = max(1, min(batch_size, msg.MAX_BATCH_EVENTS))
        self.window = max(1, window)
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.reconnect_delays = reconnect_delays
        self.backoff = Backoff(schedule=reconnect_delays, healthy_after_s=healthy_after_s)
        self.ack_timeout_s = ack_timeout_s
        self.refused_delays = refused_delays
        self.last_acked_seq = 0
        self.connections = 0
        #: Batches the cloud refused so far (each one raised an alarm; the events stay queued).
        self.refusals = 0
        #: Chinese alarm texts the client raised (the newest 20), sent in heartbeats.
        self.alarms: list[str] = []
        self._cloud_has: set[str] = set()
        self.commands = commands
        #: True while a connection is established (after welcome): ``Agent.online``.
        self.connected = False
        self._refused_wait: Generator[float] | None = None
        self._retry_after = 0.0
        self.prechecks = prechecks or PrecheckBroker()

    async def precheck(self, req: DecisionRequest) -> PrecheckVerdict:
        """Ask the regulator platform through the cloud (the engine's ``regulator_check``; issue 4/8)."""
        return await self.prechecks.precheck(req)

    def _raise_alarm(self, text: str) -> None:
        self.alarms = [*self.alarms[-19:], text]

    async def _after_refusal(self, refusal: msg.Error, stop: asyncio.Event) -> None:
        """Alarm and pause after a refused batch; the events stay queued and are offered again."""
        self.refusals += 1
        self._raise_alarm(f"云端拒收事件批次（{refusal.code}）：{refusal.message[:200]}；事件保留在本地，将稍后重试")
        if self._refused_wait is None:
            self._refused_wait = self.refused_delays()
        delay = next(self._refused_wait)
        log.error("sync.batch_refused", code=refusal.code, retry_in_s=round(delay, 1), refusals=self.refusals)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    async def _closed(self, exc: ConnectionClosed, connection: _Connection, stop: asyncio.Event) -> None:
        """Classify a closed connection: fatal refusals raise, a refused batch pauses, the rest reconnect."""
        code = exc.rcvd.code if exc.rcvd is not None else None
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        if code == msg.CLOSE_AUTH:
            raise SyncAuthError(f"云端拒绝了代理凭据：{reason}") from exc
        if code == msg.CLOSE_VERSION:
            raise SyncFatalError(f"云端不支持本代理的协议版本：{reason}") from exc
        log.warning("sync.disconnected", code=code, reason=reason)
        if connection.fatal is not None:
            await self._after_refusal(connection.fatal, stop)
        if code == msg.CLOSE_TRY_LATER:
            self._retry_after = msg.retry_after(reason) or 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until ``stop`` is set.

        Raises:
            SyncAuthError: the credential was refused.
            SyncFatalError: the cloud speaks a protocol version this agent does not.
        """
        while not stop.is_set():
            self._retry_after = 0.0
            try:
                await self._session(stop)
            finally:
                self.backoff.ended()
            if stop.is_set():
                return
            delay = await self.backoff.wait(stop, floor_s=self._retry_after)
            log.info("sync.reconnect_wait", seconds=round(delay, 2), retry_after=self._retry_after or None)

    async def _session(self, stop: asyncio.Event) -> None:
        """One connection attempt and, when it opens, the session on it (errors worth retrying return)."""
        try:
            async with connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                max_size=msg.MAX_FRAME_BYTES,
                open_timeout=10,
            ) as ws:
                self.connections += 1
                metrics.CLOUD_CONNECTIONS.inc()
                self.backoff.started()
                connection = _Connection(self, ws)
                try:
                    await connection.run(stop)
                except ConnectionClosed as exc:
                    await self._closed(exc, connection, stop)
                except msg.ProtocolError as exc:
                    log.warning("sync.protocol_error", detail=exc.message)
                    await ws.close(exc.close_code, exc.message[:120])
        except InvalidStatus as exc:
            if exc.response.status_code in {401, 403}:
                raise SyncAuthError(f"云端拒绝了代理凭据（HTTP {exc.response.status_code}）") from exc
            if process_exception(exc) is not None:
                raise SyncFatalError(f"云端拒绝了连接（HTTP {exc.response.status_code}）") from exc
            log.warning("sync.connect_failed", status=exc.response.status_code)
        except SyncFatalError:
            raise
        except Exception as exc:
            if process_exception(exc) is exc:  # the library's rule decides what is worth retrying
                raise
            log.warning("sync.connect_failed", error=f"{type(exc).__name__}: {exc}"[:200])


class _Connection:
    """One websocket connection's worth of sync state."""

    def __init__(self, client: SyncClient, ws: ClientConnection) -> None:
        self.client = client
        self.outbox = client.outbox
        self.ws = ws
        self.inflight: list[int] = []  # last seq of each unacked batch
        self.progress_at = time.monotonic()  # last ack progress (or the first batch sent after none)
        self.wants: asyncio.Queue[list[str]] = asyncio.Queue()
        self.wake = asyncio.Event()
        self.fatal: msg.Error | None = None
        #: The cloud takes late clip attachments (it announced :data:`msg.FEATURE_LATE_CLIPS`).
        self.late_clips = False
        self.attach_inflight: set[str] = set()
        #: The cloud takes late weighing attachments (:data:`msg.FEATURE_LATE_WEIGHINGS`, issue 15).
        self.late_weighings = False
        #: The cloud takes trip flags on weighing records (:data:`msg.FEATURE_WEIGHING_FLAGS`).
        self.weighing_flags = False

    async def _send(self, message: msg.Message) -> None:
        await self.ws.send(msg.encode(message))

    async def run(self, stop: asyncio.Event) -> None:
        requeued = await asyncio.to_thread(self.outbox.requeue_stale, -1.0)  # sent on an earlier connection
        if requeued:
            log.info("sync.replay", count=requeued)
        hook = self.client.commands
        await self._send(
            msg.Hello(
                agent_id=self.outbox.agent_id,
                last_acked_seq=self.client.last_acked_seq,
                agent_clock=datetime.now(UTC),
                features=[
                    *(hook.features if hook is not None else []),
                    msg.FEATURE_PRECHECK,
                    msg.FEATURE_LATE_CLIPS,
                    msg.FEATURE_LATE_WEIGHINGS,
                ],
                registry_version=hook.registry_version if hook is not None else None,
                policy_version=hook.policy_version if hook is not None else None,
            )
        )
        welcome = msg.decode(await self.ws.recv(decode=False))
        if not isinstance(welcome, msg.Welcome):
            raise SyncFatalError(f"云端未回应 welcome：{type(welcome).__name__}")
        if welcome.last_stored_seq > 0:
            await self._acked(welcome.last_stored_seq)
        log.info("sync.connected", stored_seq=welcome.last_stored_seq)
        metrics.CLOCK_SKEW.set((datetime.now(UTC) - welcome.server_clock).total_seconds())
        reader = asyncio.create_task(self._read())
        stopper = asyncio.create_task(stop.wait())
        self.client.connected = True
        metrics.CLOUD_CONNECTED.set(1)
        # Pre-pass checks only with a cloud that offers them (an older cloud would close on the message).
        self.client.prechecks.attach(self._send if msg.FEATURE_PRECHECK in welcome.features else None)
        self.late_clips = msg.FEATURE_LATE_CLIPS in welcome.features
        self.late_weighings = msg.FEATURE_LATE_WEIGHINGS in welcome.features
        self.weighing_flags = msg.FEATURE_WEIGHING_FLAGS in welcome.features
        try:
            await self._write(stop, reader, stopper)
        finally:
            self.client.prechecks.detach()
            self.client.connected = False
            metrics.CLOUD_CONNECTED.set(0)
            stopper.cancel()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader
        if stop.is_set():
            await self.ws.close()

    async def _acked(self, up_to: int) -> None:
        await asyncio.to_thread(self.outbox.mark_acked, up_to_seq=up_to)
        if up_to > self.client.last_acked_seq:
            self.client._refused_wait = None  # noqa: SLF001 - progress: the next refusal starts a fresh backoff
        self.client.last_acked_seq = max(self.client.last_acked_seq, up_to)
        self.inflight = [s for s in self.inflight if s > up_to]
        self.progress_at = time.monotonic()

    async def _read(self) -> None:
        async for frame in self.ws:
            message = msg.decode(frame)
            if isinstance(message, msg.Ack):
                await self._acked(message.up_to_seq)
            elif isinstance(message, msg.BlobWant):
                self.wants.put_nowait(message.sha256)
            elif isinstance(message, msg.BlobStored):
                if message.ok:
                    self.client._cloud_has.add(message.sha256)  # noqa: SLF001
            elif isinstance(message, msg.AttachAck):
                await self._attach_acked(message)
            else:
                await self._other(message)
            self.wake.set()

    async def _other(self, message: msg.Message) -> None:
        """Errors, pre-pass check answers, commands and snapshots from the cloud."""
        if isinstance(message, msg.Error):
            log.error("sync.cloud_error", code=message.code, message=message.message, fatal=message.fatal)
            if message.fatal:
                self.fatal = message
        elif isinstance(message, msg.PrecheckResult):
            self.client.prechecks.resolve(message)
        elif isinstance(message, msg.Command | msg.Snapshot):
            await self._from_cloud(message)

    async def _attach_acked(self, ack: msg.AttachAck) -> None:
        self.attach_inflight.discard(ack.attachment_id)
        if ack.ok:
            if not await asyncio.to_thread(self.outbox.mark_attachment_acked, ack.attachment_id):
                await asyncio.to_thread(self.outbox.mark_weighing_acked, ack.attachment_id)
            return
        why = f"{ack.code}：{ack.message}"
        if await asyncio.to_thread(self.outbox.mark_weighing_refused, ack.attachment_id, why):
            log.error("sync.weighing_refused", attachment_id=ack.attachment_id, code=ack.code, message=ack.message)
            self.client._raise_alarm(f"云端拒收称重记录（{ack.code}）：{ack.message[:200]}")  # noqa: SLF001
            return
        if await asyncio.to_thread(self.outbox.mark_attachment_refused, ack.attachment_id, why):
            log.error("sync.attachment_refused", attachment_id=ack.attachment_id, code=ack.code, message=ack.message)
            self.client._raise_alarm(f"云端拒收视频片段（{ack.code}）：{ack.message[:200]}")  # noqa: SLF001

    async def _send_weighings(self) -> bool:
        """Send the next late weighings whose events are acked (issue 15); True when some were sent."""
        room = ATTACH_WINDOW - len(self.attach_inflight)
        if not self.late_weighings or room <= 0:
            return False
        ready = await asyncio.to_thread(self.outbox.next_weighings, room)
        ready = [w for w in ready if w.id not in self.attach_inflight]
        for stored in ready:
            await self._send(stored.message(flags=self.weighing_flags))
            self.attach_inflight.add(stored.id)
        await asyncio.to_thread(self.outbox.mark_weighings_sent, [w.id for w in ready])
        return bool(ready)

    async def _send_attachments(self, reader: asyncio.Task[None]) -> bool:
        """Send the next late clips whose events are acked; True when some were sent."""
        if await self._send_weighings():
            return True
        room = ATTACH_WINDOW - len(self.attach_inflight)
        if not self.late_clips or room <= 0:
            return False
        ready = await asyncio.to_thread(self.outbox.next_attachments, room)
        ready = [a for a in ready if a.clip is not None and a.id not in self.attach_inflight]
        if not ready:
            return False
        await self._upload([(a.clip.sha256, a.clip.mime) for a in ready if a.clip is not None], reader)
        for att in ready:
            assert att.clip is not None
            await self._send(msg.EvidenceAttach(attachment_id=att.id, event_id=att.event_id, clip=att.clip))
            self.attach_inflight.add(att.id)
        await asyncio.to_thread(self.outbox.mark_attachments_sent, [a.id for a in ready])
        return True

    async def _from_cloud(self, message: msg.Command | msg.Snapshot) -> None:
        """Hand a command or snapshot to the command hook (commands are always answered)."""
        hook = self.client.commands
        if isinstance(message, msg.Snapshot):
            if hook is not None:
                await hook.on_snapshot(message)
        elif hook is None:
            await self._send(msg.CommandResult(command_id=message.command_id, ok=False, message="代理尚不支持远程指令"))
        else:
            result = await hook.on_command(message)
            take = getattr(hook, "take_upload", None)  # a command that produced a blob (camera snapshot)
            data = take(result.blob_sha256) if take is not None and result.blob_sha256 else None
            if isinstance(data, bytes) and len(data) <= msg.MAX_BLOB_BYTES:
                await self._send(msg.BlobPut(sha256=str(result.blob_sha256), data=data))  # stored before the result
            await self._send(result)

    async def _write(self, stop: asyncio.Event, reader: asyncio.Task[None], stopper: asyncio.Task[bool]) -> None:
        next_beat = 0.0
        while not stop.is_set():
            if reader.done():
                reader.result()  # re-raise ConnectionClosed / ProtocolError
                raise ConnectionClosed(None, None)
            now = time.monotonic()
            if now >= next_beat:
                await self._heartbeat()
                next_beat = now + self.client.heartbeat_s
            sent = False
            if self.inflight and now - self.progress_at > self.client.ack_timeout_s:
                log.warning(
                    "sync.ack_timeout", unacked_batches=len(self.inflight), waited_s=round(now - self.progress_at)
                )
                await self.ws.close(1011, "ack timeout")
                return
            if len(self.inflight) < self.client.window:
                batch = await asyncio.to_thread(self.outbox.next_batch, self.client.batch_size)
                if batch:
                    await self._upload_blobs(batch, reader)
                    await self._send(msg.EventBatch(events=batch))
                    await asyncio.to_thread(self.outbox.mark_sent, [e.event_id for e in batch])
                    if not self.inflight:
                        self.progress_at = time.monotonic()
                    self.inflight.append(batch[-1].seq)
                    sent = True
            if not sent:
                sent = await self._send_attachments(reader)
            if not sent:
                self.wake.clear()
                waker = asyncio.create_task(self.wake.wait())
                await asyncio.wait(
                    {waker, reader, stopper},
                    timeout=min(self.client.poll_s, max(0.0, next_beat - time.monotonic())),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()

    async def _upload_blobs(self, batch: list[PassEvent], reader: asyncio.Task[None]) -> None:
        if len(self.client._cloud_has) > 200_000:  # noqa: SLF001 - a cache of confirmed hashes, kept bounded
            self.client._cloud_has.clear()  # noqa: SLF001
        cached = self.client._cloud_has  # noqa: SLF001
        mimes: dict[str, str] = {}
        for event in batch:
            mimes.update((s.sha256, s.mime) for s in event.evidence.snapshots if s.sha256 not in cached)
            clip = event.evidence.clip
            if clip is not None and clip.sha256 not in cached:
                mimes[clip.sha256] = clip.mime
        await self._upload(list(mimes.items()), reader)

    async def _upload(self, blobs: list[tuple[str, str]], reader: asyncio.Task[None]) -> None:
        """Offer ``(sha256, mime)`` blobs and put the ones the cloud wants."""
        hashes = [h for h, _ in blobs]
        mimes = dict(blobs)
        if not hashes:
            return
        await self._send(msg.BlobOffer(sha256=hashes))
        getter = asyncio.create_task(self.wants.get())
        await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            reader.result()
            raise ConnectionClosed(None, None)
        wanted = set(getter.result())
        for digest in hashes:
            if digest not in wanted:
                self.client._cloud_has.add(digest)  # noqa: SLF001
                continue
            data = await asyncio.to_thread(self.outbox.read_blob, digest)
            if data is None or hashlib.sha256(data).hexdigest() != digest:
                log.warning("sync.blob_unavailable", sha256=digest)  # dropped or downsampled under disk pressure
                continue
            if len(data) > msg.MAX_BLOB_BYTES:
                log.warning("sync.blob_too_large", sha256=digest, size=len(data))
                continue
            await self._send(msg.BlobPut(sha256=digest, data=data, mime=mimes[digest]))

    async def _heartbeat(self) -> None:
        stats = await asyncio.to_thread(self.outbox.stats)
        metrics.observe_outbox(stats)
        await self._send(
            msg.Heartbeat(
                agent_clock=datetime.now(UTC),
                queue_depth=stats.queue_depth,
                oldest_unsent_age_s=stats.oldest_unsent_age_s,
                disk_free_bytes=max(0, stats.free_bytes),
                head_seq=stats.head_seq,
                alarms=[*(a.message[:500] for a in stats.alarms), *self.client.alarms],
            )
        )
