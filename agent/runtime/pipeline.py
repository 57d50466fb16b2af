"""The lane pipeline: read → decision → durable outbox write → barrier / LED commands.

The one invariant: **no barrier command before the pass event (with its photos) is committed**.
:meth:`LanePipeline.handle_read` awaits :meth:`agent.outbox.Outbox.append` (fsync'd blobs, then
a ``synchronous=FULL`` commit) and only then, for an allowed pass, journals and sends the open
command. A refused pass never reaches ``barrier.open()``. If the outbox cannot store the event
the barrier stays shut and the guard is alarmed. Manual releases and manual plate entries by a
signed-in guard go through the same path and become pass events too.

A read whose ``read_id`` is already stored (a replayed source after a crash) is not stored twice;
if the crash came between the commit and the commands, the commands are sent now — but at most one
opening per pass, across restarts (issue 16): the command journal records the intent before the
open command and the relay's confirmation after it; a pass whose open was journaled but not
confirmed when the agent died is checked against the barrier's position (arm up: done; otherwise the
guard is asked, never a second automatic open). A read older than the lane's ``max_read_age_s``
(replayed after an outage, or delayed by a full outbox) is recorded with the ``stale_read`` anomaly
and never acted on. ``actuated`` in the outbox means the relay confirmed; an open the relay never
confirmed after its retries raises an alarm for the booth and the cloud (heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import msgspec
import structlog

from agent.decision.engine import DecisionEngine, DecisionOutcome, DecisionRequest
from agent.devices.interfaces import Barrier, LedDisplay
from agent.devices.notice import GateNotice, control_text
from agent.devices.types import BarrierState, LedColour, LedLine, LedScreen
from agent.devices.weighing import TripWeighingPairer
from agent.ops import metrics
from agent.outbox.store import Alarm, ClipData, Outbox, OutboxError, PhotoData
from agent.runtime.weighing import WeighClaim, WeighStation, record_for
from agent_protocol.events import (
    Decision,
    Direction,
    Evidence,
    ManualReason,
    NvrRef,
    PassEvent,
    PlateSource,
    ReleaseChannel,
    SnapshotRole,
    Trigger,
    TriggerKind,
    new_event_id,
)
from hj1321.errors import InvalidValueError
from hj1321.plates import PlateColour, canonical_plate, parse_plate

__all__ = [
    "ClipProvider",
    "CommandJournal",
    "LaneEvent",
    "LanePipeline",
    "LaneRead",
    "ReadSource",
]

log = structlog.get_logger(__name__)


class LaneRead(msgspec.Struct, frozen=True, kw_only=True):
    """One vehicle read on one lane (from the voter, or a spool line)."""

    read_id: str
    plate: str | None
    colour: PlateColour | None = None
    confidence: float = 0.0
    moment: datetime
    internal_code: str | None = None
    photos: tuple[PhotoData, ...] = ()
    needs_review: bool = False
    cargo: str | None = None


class ReadSource(Protocol):
    """Where a lane's reads come from."""

    def reads(self) -> AsyncIterator[LaneRead]:
        """Reads as vehicles arrive."""
        ...


class ClipProvider(Protocol):
    """Cuts the evidence clip of a pass from a frame ring buffer."""

    def clip(self, start: datetime, end: datetime) -> ClipData | None:
        """Encoded frames between ``start`` and ``end`` (None when none are buffered)."""
        ...

    def newest_ts(self) -> float | None:
        """Unix time of the newest buffered frame (None when empty)."""
        ...


#: A late clip is cut once the ring holds a frame past its end, or at the latest this long after the
#: end in wall-clock time (a stalled camera must not keep the clip waiting forever).
LATE_CLIP_GRACE_S = 2.0


#: Journal lines of an open command: the intent (before the command), then one outcome.
OPEN = "open"
OPEN_OK = "open_ok"  # the relay confirmed (answer + read-back, or the position input)
OPEN_FAILED = "open_failed"  # not confirmed after the driver's retries (alarm raised)
OPEN_STALE = "open_skipped_stale"  # the read was older than the lane's limit: recorded, not opened
OPEN_UNKNOWN = "open_unknown"  # intent journaled before a crash, arm found down: the guard decides
#: How much of the journal's end is read at start to know the state of recent events.
JOURNAL_TAIL_BYTES = 4 * 1024 * 1024


class CommandJournal:
    """Append-only, fsync'd log of every barrier command and its outcome (audit trail; the soak checks it).

    The last line per event is its state (:data:`OPEN` … :data:`OPEN_UNKNOWN`): read back at start
    (the file's last :data:`JOURNAL_TAIL_BYTES`), it is what makes an opening happen at most once per
    pass across restarts.
    """

    def __init__(self, path: Path) -> None:
        """Open (creating) the journal for appending and load the recent events' states."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._states: dict[str, str] = {}
        self._load()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - JOURNAL_TAIL_BYTES))
            data = fh.read()
        for raw in data.splitlines():
            try:
                item = json.loads(raw)
            except ValueError:
                continue  # a line torn by a kill, or the first, cut line of the tail
            if isinstance(item, dict) and isinstance(item.get("event_id"), str):
                self._states[item["event_id"]] = str(item.get("command"))

    def state(self, event_id: str) -> str | None:
        """The last journaled command/outcome of ``event_id`` (None: nothing journaled)."""
        return self._states.get(event_id)

    def record(self, *, lane_id: str, event_id: str, command: str) -> None:
        """Durably note ``command`` for ``event_id`` (an intent before it is sent, or its outcome)."""
        self._states[event_id] = command
        line = json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "lane": lane_id,
                "event_id": event_id,
                "command": command,
                "pid": os.getpid(),
            },
            ensure_ascii=False,
        )
        os.write(self._fd, (line + "\n").encode())
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


class LaneEvent(msgspec.Struct, frozen=True, kw_only=True):
    """What the booth is told after each pass (or failure) on a lane."""

    lane_id: str
    event: PassEvent | None
    prompt_guard: bool = False
    barrier_opened: bool = False
    error: str | None = None


def _stage_text(event: PassEvent) -> str:
    stage = event.vehicle.emission_stage if event.vehicle else None
    if stage is None:
        return "排放阶段未知"
    return {"D": "电动", "X": "无排放阶段"}.get(
        stage, f"国{'0一二三四五六七'[int(stage)]}" if stage.isdigit() else stage
    )


class LanePipeline:
    """Everything that happens on one lane."""

    def __init__(
        self,
        *,
        lane_id: str,
        lane_name: str,
        direction: Direction,
        agent_id: str,
        site_id: str,
        engine: DecisionEngine,
        outbox: Outbox,
        barrier: Barrier | None = None,
        led: LedDisplay | None = None,
        journal: CommandJournal | None = None,
        clips: ClipProvider | None = None,
        clip_before_s: float = 5.0,
        clip_after_s: float = 0.0,
        nvr: tuple[str, int] | None = None,
        listeners: list[Callable[[LaneEvent], None]] | None = None,
        on_alarm: Callable[[Alarm], None] | None = None,
        weigh: WeighStation | None = None,
        pairer: TripWeighingPairer | None = None,
        max_read_age_s: float | None = None,
    ) -> None:
        """Wire a lane to its decision engine, outbox and devices (``weigh``: the lane's weighbridge).

        ``max_read_age_s``: an automatic read older than this is recorded, never acted on (issue 16).
        """
        self.lane_id = lane_id
        self.lane_name = lane_name
        self.direction = direction
        self.agent_id = agent_id
        self.site_id = site_id
        self.engine = engine
        self.outbox = outbox
        self.barrier = barrier
        self.led = led
        self.journal = journal
        self.clips = clips
        self.clip_before_s = clip_before_s
        #: Seconds after the pass the late clip covers (0: none, only the commit-time clip; ADR 0020).
        self.clip_after_s = clip_after_s
        self._late_clips: set[asyncio.Task[None]] = set()
        self._flush_clips = asyncio.Event()
        self.nvr = nvr
        self.listeners = listeners if listeners is not None else []
        self.on_alarm = on_alarm
        self.weigh = weigh
        self.pairer = pairer
        self.max_read_age_s = max_read_age_s
        self._late_weighings: set[asyncio.Task[None]] = set()
        self.last_event: PassEvent | None = None
        self.last_refused: PassEvent | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ automatic passes

    async def run(self, source: ReadSource) -> None:
        """Handle every read of ``source`` in order (the supervisor restarts this on failure)."""
        structlog.contextvars.bind_contextvars(lane_id=self.lane_id)  # this lane's task: every line says its lane
        await self.finish_unactuated()
        async for read in source.reads():
            await self.handle_read(read)

    async def finish_unactuated(self) -> int:
        """After a crash: send the commands of committed events of this lane that never got them."""
        pending = [e for e in await asyncio.to_thread(self.outbox.unactuated) if e.lane_id == self.lane_id]
        for event in pending:
            log.info("lane.finish_unactuated", lane=self.lane_id, event_id=event.event_id, decision=event.decision)
            await self._actuate(event, recovering=True)
        return len(pending)

    async def handle_read(self, read: LaneRead) -> PassEvent | None:
        """Decide, persist, then command the barrier. Returns the stored event (None if not stored)."""
        plate = canonical_plate(read.plate) if read.plate else None
        req = DecisionRequest(
            lane_id=self.lane_id,
            direction=self.direction,
            moment=read.moment,
            plate=plate,
            plate_colour=read.colour,
            internal_code=read.internal_code,
            confidence=read.confidence,
        )
        outcome = await self.engine.decide(req)
        metrics.observe_read(self.lane_id, str(outcome.decision), plate=plate is not None)
        draft = self._draft(
            outcome,
            plate=plate,
            colour=read.colour,
            internal_code=read.internal_code,
            confidence=read.confidence,
            moment=read.moment,
            read_id=read.read_id,
            trigger=Trigger(kind=TriggerKind.AUTO),
            extra_anomalies=("needs_review",) if read.needs_review else (),
        )
        if read.cargo:
            draft = msgspec.structs.replace(draft, cargo=read.cargo)
        if self._stale(draft):
            # Recorded (the pass happened), never acted on: the truck has most likely left (issue 16).
            log.warning("lane.stale_read", lane=self.lane_id, read_id=read.read_id, age_s=round(self._age(draft), 1))
            draft = msgspec.structs.replace(draft, anomalies=(*draft.anomalies, "stale_read"))
        return await self._record_and_actuate(draft, photos=read.photos, prompt=outcome.prompt_guard)

    # ------------------------------------------------------------------ manual actions (booth)

    async def manual_release(
        self,
        *,
        operator: str,
        reason: ManualReason,
        text: str,
        plate: str | None = None,
        confirm_plate: bool = False,
        operator_name: str | None = None,
        channel: ReleaseChannel = ReleaseChannel.BOOTH,
        photo: bytes | None = None,
        cargo: str | None = None,
    ) -> PassEvent | None:
        """A person raises the barrier by hand, with a reason: a pass event like any other (issue 15).

        The record says who and what: ``operator`` (account) and ``operator_name`` (display name),
        ``channel`` (booth or remote), the reason, the lane's current frame (``photo``, snapshot role
        ``release``) and the plate the operator typed (checked with the HJ 1321 plate grammar) or, with
        ``confirm_plate``, the plate of the lane's last refused read that the operator confirmed.
        Without either the pass has no plate: the previous refused plate is never filed silently.

        Raises:
            InvalidValueError: a typed plate that is no plate (Chinese reason, code ``plate.*``), or
                ``confirm_plate`` without a refused read on the lane (``plate.confirm``).
        """
        ref = self.last_refused
        if plate:
            plate = parse_plate(plate).number
            source = PlateSource.TYPED
        elif confirm_plate:
            if ref is None or not ref.plate:
                raise InvalidValueError("plate.confirm", "本车道没有可确认的被拦截车牌，请输入车牌号", None)
            plate, source = ref.plate, PlateSource.CONFIRMED
        else:
            plate, source = None, PlateSource.NONE
        related = ref if ref is not None and plate is not None and ref.plate == plate else None
        trigger = Trigger(
            kind=TriggerKind.MANUAL_RELEASE,
            operator=operator,
            operator_name=operator_name or operator,
            channel=channel,
            plate_source=source,
            reason_code=reason,
            reason_text=text,
        )
        who = "门岗人工放行" if channel is ReleaseChannel.BOOTH else f"远程放行，{operator_name or operator}"
        photos = (PhotoData(role=SnapshotRole.RELEASE, data=photo),) if photo else ()
        draft = PassEvent(
            event_id=new_event_id(),
            agent_id=self.agent_id,
            site_id=self.site_id,
            lane_id=self.lane_id,
            direction=self.direction,
            occurred_at=datetime.now(UTC),
            plate=plate,
            plate_colour=related.plate_colour if related is not None else None,
            internal_code=related.internal_code if related is not None else None,
            confidence=1.0 if plate else 0.0,
            evidence=Evidence(snapshots=related.evidence.snapshots) if related is not None else Evidence(),
            decision=Decision.ALLOW,
            reasons=("manual_release",),
            message=f"放行：{who}（{reason.label}）",
            trigger=trigger,
            related_event_id=related.event_id if related is not None else None,
            vehicle=related.vehicle if related is not None else None,
            emergency_level=self.engine.level.value,
            policy_version=self.engine.policy.version,
            anomalies=("manual_release",),
            cargo=cargo,
        )
        event = await self._record_and_actuate(draft, photos=photos, prompt=False)
        if event is not None and related is not None:
            self.last_refused = None
        return event

    async def manual_entry(
        self,
        *,
        operator: str,
        plate: str,
        colour: PlateColour | None = None,
        internal_code: str | None = None,
        cargo: str | None = None,
    ) -> PassEvent | None:
        """A guard types the plate the camera missed; the normal decision applies."""
        canon = canonical_plate(plate) if plate else None
        now = datetime.now(UTC)
        req = DecisionRequest(
            lane_id=self.lane_id,
            direction=self.direction,
            moment=now,
            plate=canon,
            plate_colour=colour,
            internal_code=internal_code,
            confidence=1.0,
            manual=True,
        )
        outcome = await self.engine.decide(req)
        ref = self.last_refused
        draft = self._draft(
            outcome,
            plate=canon,
            colour=colour,
            internal_code=internal_code,
            confidence=1.0,
            moment=now,
            read_id=None,
            trigger=Trigger(kind=TriggerKind.MANUAL_ENTRY, operator=operator),
            extra_anomalies=("manual_entry",),
        )
        if cargo:
            draft = msgspec.structs.replace(draft, cargo=cargo)
        if ref is not None:
            draft = msgspec.structs.replace(
                draft, related_event_id=ref.event_id, evidence=Evidence(snapshots=ref.evidence.snapshots)
            )
        return await self._record_and_actuate(draft, photos=(), prompt=outcome.prompt_guard)

    # ------------------------------------------------------------------ internals

    def _draft(
        self,
        outcome: DecisionOutcome,
        *,
        plate: str | None,
        colour: PlateColour | None,
        internal_code: str | None,
        confidence: float,
        moment: datetime,
        read_id: str | None,
        trigger: Trigger,
        extra_anomalies: tuple[str, ...] = (),
    ) -> PassEvent:
        nvr = None
        if self.nvr is not None:
            nvr = NvrRef(
                nvr=self.nvr[0],
                channel=self.nvr[1],
                start=datetime.fromtimestamp(moment.timestamp() - self.clip_before_s, UTC),
                end=moment,
            )
        return PassEvent(
            event_id=new_event_id(),
            agent_id=self.agent_id,
            site_id=self.site_id,
            lane_id=self.lane_id,
            direction=self.direction,
            occurred_at=moment,
            plate=plate,
            plate_colour=colour,
            internal_code=internal_code,
            confidence=round(max(0.0, min(1.0, confidence)), 4),
            read_id=read_id,
            evidence=Evidence(nvr=nvr),
            decision=outcome.decision,
            reasons=outcome.reasons,
            message=outcome.message,
            trigger=trigger,
            vehicle=outcome.vehicle,
            emergency_level=outcome.emergency_level,
            policy_version=outcome.policy_version,
            anomalies=outcome.anomalies + extra_anomalies,
        )

    async def _record_and_actuate(
        self, draft: PassEvent, *, photos: tuple[PhotoData, ...], prompt: bool
    ) -> PassEvent | None:
        async with self._lock:
            clip = None
            if self.clips is not None and draft.read_id is not None:
                start = datetime.fromtimestamp(draft.occurred_at.timestamp() - self.clip_before_s, UTC)
                clip = self.clips.clip(start, datetime.now(UTC))
            try:
                result = await asyncio.to_thread(self.outbox.append, draft, photos=photos, clip=clip)
            except OutboxError as exc:
                log.exception("lane.outbox_failed", lane=self.lane_id)
                await self._show_error("系统存储故障", "请稍候 联系门岗")
                self._notify(LaneEvent(lane_id=self.lane_id, event=None, prompt_guard=True, error=str(exc)))
                return None
            event = result.event
            if result.duplicate and result.actuated:
                return event
            opened = await self._actuate(event)
            if not result.duplicate and self.clips is not None and draft.read_id is not None and self.clip_after_s > 0:
                self._schedule_late_clip(event)  # after the barrier command: never delays it (ADR 0020)
            if not result.duplicate and self.weigh is not None:
                self._claim_weighing(event)  # after the barrier command: the weight is attached later
            self.last_event = event
            if event.decision is Decision.REFUSE:
                self.last_refused = event
            failed = event.decision is Decision.ALLOW and self.barrier is not None and not opened
            self._notify(
                LaneEvent(lane_id=self.lane_id, event=event, prompt_guard=prompt or failed, barrier_opened=opened)
            )
            return event

    def _schedule_late_clip(self, event: PassEvent) -> None:
        task = asyncio.create_task(self._late_clip(event), name=f"late-clip-{event.event_id}")
        self._late_clips.add(task)
        task.add_done_callback(self._late_clips.discard)

    async def _late_clip(self, event: PassEvent) -> None:
        """Cut [pass − clip_before_s, pass + clip_after_s] once the ring has it; store it as an attachment."""
        clips = self.clips
        if clips is None:
            return
        moment = event.occurred_at.timestamp()
        start = datetime.fromtimestamp(moment - self.clip_before_s, UTC)
        end_ts = moment + self.clip_after_s
        try:
            attachment_id = await asyncio.to_thread(self.outbox.expect_clip, event.event_id)
        except OutboxError:
            log.warning("lane.late_clip_not_recorded", lane=self.lane_id, event_id=event.event_id)
            return
        deadline = time.time() + max(0.0, end_ts - time.time()) + LATE_CLIP_GRACE_S
        while not self._flush_clips.is_set():
            newest = clips.newest_ts()
            now = time.time()
            if (newest is not None and newest >= end_ts) or now >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_clips.wait(), min(0.25, deadline - now))
        clip = clips.clip(start, datetime.fromtimestamp(end_ts, UTC))
        try:
            stored = await asyncio.to_thread(self.outbox.attach_clip, attachment_id, clip)
        except Exception:  # a late clip is media: its failure never touches the lane
            log.warning("lane.late_clip_failed", lane=self.lane_id, event_id=event.event_id, exc_info=True)
            return
        if stored is not None and stored.clip is not None:
            log.info(
                "lane.late_clip",
                lane=self.lane_id,
                event_id=event.event_id,
                start=stored.clip.start.isoformat(),
                end=stored.clip.end.isoformat(),
                size=stored.clip.size,
            )

    async def flush_clips(self) -> int:
        """Cut the late clips still waiting now, with the frames buffered so far (at shutdown)."""
        pending = list(self._late_clips)
        self._flush_clips.set()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._flush_clips.clear()
        return len(pending)

    def _claim_weighing(self, event: PassEvent) -> None:
        """Allowed: claim the vehicle's weight (attached later); refused: its weight expires with it."""
        weigh = self.weigh
        if weigh is None:
            return
        if event.decision is not Decision.ALLOW:
            weigh.refused(event)
            return
        if "stale_read" in event.anomalies:  # recorded long after the truck was there: not on the deck now
            log.info("lane.weighing_not_claimed", lane=self.lane_id, event_id=event.event_id, why="stale_read")
            return
        claim = weigh.claim(event, release=event.trigger.kind is TriggerKind.MANUAL_RELEASE)
        task = asyncio.create_task(self._late_weighing(event, claim), name=f"late-weighing-{event.event_id}")
        self._late_weighings.add(task)
        task.add_done_callback(self._late_weighings.discard)

    async def _late_weighing(self, event: PassEvent, claim: WeighClaim) -> None:
        """Store the claim's weight (or ``missing``) as a late weighing attachment (docs/devices.md)."""
        weigh = self.weigh
        assert weigh is not None
        try:
            attachment_id = await asyncio.to_thread(self.outbox.expect_weighing, event.event_id)
        except Exception:  # a weighing row is not the pass: its failure never touches the lane
            log.warning("lane.weighing_not_recorded", lane=self.lane_id, event_id=event.event_id, exc_info=True)
            return
        stable = await claim.result
        if stable is None:
            log.warning("lane.weighing_missing", lane=self.lane_id, event_id=event.event_id, plate=event.plate)
            note = f"放行后 {weigh.window_s:g} 秒内地磅没有该车的稳定重量"
            await asyncio.to_thread(self.outbox.attach_weighing, attachment_id, None, note)
            return
        record = record_for(event, stable, weigh.name, self.pairer)
        await asyncio.to_thread(self.outbox.attach_weighing, attachment_id, record)
        log.info(
            "lane.weighed",
            lane=self.lane_id,
            event_id=event.event_id,
            plate=event.plate,
            kg=record.weight_kg,
            net_kg=record.net_kg,
        )

    async def flush_weighings(self) -> int:
        """Wait for the late weighings whose claims are resolved (call after the stations stopped)."""
        pending = list(self._late_weighings)
        if pending:
            _, still = await asyncio.wait(pending, timeout=2.0)
            for task in still:  # unresolved claims: their rows stay waiting -> missing on the next start
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)

    def _age(self, event: PassEvent) -> float:
        return time.time() - event.occurred_at.timestamp()

    def _stale(self, event: PassEvent) -> bool:
        """An automatic read older than the lane's limit (manual actions happen now, by definition)."""
        limit = self.max_read_age_s
        return limit is not None and event.trigger.kind is TriggerKind.AUTO and self._age(event) > limit

    async def _journal(self, event: PassEvent, command: str) -> None:
        if self.journal is not None:
            await asyncio.to_thread(self.journal.record, lane_id=self.lane_id, event_id=event.event_id, command=command)

    def _alarm(self, code: str, text: str, *, cloud: bool) -> None:
        """Tell the booth (every time) and, with ``cloud``, the cloud (heartbeat alarms, via the outbox)."""
        if self.on_alarm is not None:
            self.on_alarm(Alarm(code=code, message=text, at=time.time()))
        if cloud:
            try:
                self.outbox.record_alarm(code, text, notify=False)
            except Exception:  # noqa: BLE001 - an alarm that cannot be stored is still logged and shown
                log.warning("lane.alarm_not_stored", lane=self.lane_id, code=code)

    async def _actuate(self, event: PassEvent, *, recovering: bool = False) -> bool:
        """Send the barrier/LED commands of a committed event; True when the relay confirmed the open.

        The outbox marks the event actuated only when its commands are done: a refusal shown, or an
        open the relay confirmed (now or, per the journal, before a crash).
        """
        if event.decision is not Decision.ALLOW or self.barrier is None:
            await self._show(event)
            await asyncio.to_thread(self.outbox.mark_actuated, event.event_id)
            return False
        opened = await self._open(event, recovering=recovering)
        if opened is None:
            return False  # deliberately not opened (stale read, or an unknown open before a crash)
        await self._show(event)
        if opened:
            await asyncio.to_thread(self.outbox.mark_actuated, event.event_id)
        return opened

    async def _open(self, event: PassEvent, *, recovering: bool) -> bool | None:
        """Open for ``event`` at most once: True confirmed, False failed (alarmed), None not attempted."""
        assert self.barrier is not None
        state = self.journal.state(event.event_id) if self.journal is not None else None
        if state == OPEN_OK:
            return True  # confirmed before a crash: never a second opening
        if state in {OPEN_STALE, OPEN_UNKNOWN}:
            return None
        if state == OPEN:
            return await self._after_crash(event)  # the arm decides, however old the read is
        if self._stale(event):
            await self._skip_stale(event)
            return None
        await self._journal(event, OPEN)
        status = await self.barrier.open()
        metrics.BARRIER_COMMANDS.labels(self.lane_id, "confirmed" if status.confirmed else "failed").inc()
        if status.confirmed:
            await self._journal(event, OPEN_OK)
            return True
        await self._journal(event, OPEN_FAILED)
        log.warning("lane.barrier_fault", lane=self.lane_id, message=status.message, recovering=recovering)
        self._alarm(
            "barrier_fault",
            f"{self.lane_name}道闸指令失败（{status.message or '无响应'}），通行已记录，请人工抬杆",
            cloud=True,
        )
        return False

    async def _skip_stale(self, event: PassEvent) -> None:
        age = self._age(event)
        log.warning("lane.stale_not_opened", lane=self.lane_id, event_id=event.event_id, age_s=round(age, 1))
        await self._journal(event, OPEN_STALE)
        self._alarm(
            "stale_read",
            f"{self.lane_name}：{event.plate or '未识别车辆'}的识别结果已过 {age:.0f} 秒，未自动抬杆（已记录）；"
            "车辆仍在请人工放行",
            cloud=False,
        )

    async def _after_crash(self, event: PassEvent) -> bool | None:
        """The agent died between journaling the intent and the relay's answer: ask the arm, never resend."""
        assert self.barrier is not None
        status = await self.barrier.status()
        if status.state in {BarrierState.OPEN, BarrierState.MOVING}:
            await self._journal(event, OPEN_OK)
            return True
        await self._journal(event, OPEN_UNKNOWN)
        self._alarm(
            "barrier_unknown",
            f"{self.lane_name}：程序重启前的抬杆指令（{event.plate or '未识别车辆'}）是否送达未知，道闸未抬起；"
            "请确认车辆后人工放行",
            cloud=True,
        )
        return None

    async def _show(self, event: PassEvent) -> None:
        if self.led is None:
            return
        allowed = event.decision is Decision.ALLOW
        colour = LedColour.GREEN if allowed else LedColour.RED
        text = event.message.split("：", 1)[-1][:16]
        announce = getattr(self.led, "announce", None)
        if announce is not None:  # a screen family with HJ 1321 templates (and voice): it words the notice
            notice = GateNotice(
                plate=event.plate or event.internal_code or "",
                emission_stage=_stage_text(event),
                control=control_text(event.emergency_level),  # HJ 1321: the current control status
                allowed=allowed,
                reason=text,
            )
            try:
                await announce(notice)
            except Exception:  # noqa: BLE001 - a broken screen must never stop the lane
                log.warning("lane.led_failed", lane=self.lane_id)
            return
        screen = LedScreen(
            (
                LedLine(event.plate or event.internal_code or "未识别", LedColour.YELLOW),
                LedLine(_stage_text(event), colour),
                LedLine("欢迎光临 请通行" if allowed else "禁止通行", colour),
                LedLine(text, colour),
            )
        )
        try:
            await self.led.show(screen)
        except Exception:  # noqa: BLE001 - a broken screen must never stop the lane
            log.warning("lane.led_failed", lane=self.lane_id)

    async def _show_error(self, line1: str, line2: str) -> None:
        if self.led is None:
            return
        try:
            await self.led.show(LedScreen((LedLine(line1, LedColour.RED), LedLine(line2, LedColour.RED))))
        except Exception:  # noqa: BLE001
            log.warning("lane.led_failed", lane=self.lane_id)

    def _notify(self, item: LaneEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(item)
            except Exception:  # noqa: BLE001 - a listener (booth) must never break the lane
                log.warning("lane.listener_failed", lane=self.lane_id)


def monotonic_to_utc(ts: float) -> datetime:
    """Convert a ``time.monotonic()`` stamp to UTC wall-clock time (for reads from the voter)."""
    return datetime.fromtimestamp(time.time() - (time.monotonic() - ts), UTC)
