"""The durable outbox: every pass event, with its photos, on disk before the barrier moves.

Storage is SQLite in WAL mode with ``synchronous=FULL`` (a commit survives power loss) plus a
content-addressed blob folder (:mod:`agent.outbox.blobs`). :meth:`Outbox.append` writes and
fsyncs the blobs first, then seals the event into the agent's hash chain and commits its row in
one ``BEGIN IMMEDIATE`` transaction; only after it returns may the caller command the barrier.

Delivery state per row: ``pending`` → ``sent`` → ``acked``. On open, rows left ``sent`` by a
crash go back to ``pending`` (replay; the cloud dedupes on event id). The sync layer uses
:meth:`next_batch`, :meth:`mark_sent`, :meth:`mark_acked` and :meth:`stats`.

Late clips (docs/adr/0020-late-clip-attachment.md): the sealed event keeps the clip cut at commit
time; ``clip_after_s`` after the pass the lane cuts the full clip and stores it as an *attachment*
row (:meth:`expect_clip` records the intent, :meth:`attach_clip` the fsync'd blob and metadata). A
crash in between loses only that clip (the row is marked ``lost`` on the next open and logged).
Attachments travel ``pending`` → ``sent`` → ``acked`` once their event is acked
(:meth:`next_attachments`, :meth:`mark_attachments_sent`, :meth:`mark_attachment_acked`).

Disk pressure never costs an event. In order, the outbox (1) raises an alarm early, (2) deletes
acked events older than the retention budget, (3) downsamples media of the oldest events (drops
clips, shrinks photos), (4) drops media of the oldest events, acked ones first. Event rows are
small; if even a row cannot be written, :class:`OutboxFullError` tells the lane to keep the
barrier shut and the guard is alarmed. See docs/adr/0003-agent-outbox-durability.md.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Final

import msgspec
import structlog

from agent.outbox.blobs import BlobStore, sha256_hex
from agent.outbox.migrations import migrate
from agent.outbox.weighings import WeighingAttachments
from agent_protocol.events import (
    GENESIS_HASH,
    Evidence,
    PassEvent,
    Snapshot,
    SnapshotRole,
    VideoClip,
    decode_event,
    encode_event,
    format_time,
    new_event_id,
    seal_event,
)

__all__ = [
    "Alarm",
    "AppendResult",
    "AttachmentStatus",
    "ClipData",
    "LateClip",
    "Outbox",
    "OutboxError",
    "OutboxFullError",
    "OutboxSettings",
    "OutboxStats",
    "PhotoData",
    "SpaceState",
    "Status",
]

log = structlog.get_logger(__name__)

MiB: Final = 1024 * 1024
#: The same alarm code is announced at most once in this many seconds (it is always logged).
ALARM_REPEAT_S: Final = 600.0


class OutboxSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Size budget and disk-pressure thresholds of the outbox."""

    budget_days: Annotated[
        int, msgspec.Meta(ge=1, le=3650, description="保留天数预算：按此天数的通行量预留空间，已确认且超期的记录可清理")
    ] = 30
    passes_per_day: Annotated[int, msgspec.Meta(ge=1, le=1_000_000, description="预计每日通行次数（用于容量预算）")] = (
        2000
    )
    bytes_per_pass: Annotated[
        int, msgspec.Meta(ge=1024, le=200 * MiB, description="每次通行的照片与视频片段平均字节数（用于容量预算）")
    ] = 600_000
    alarm_days: Annotated[float, msgspec.Meta(ge=0.0, le=365.0, description="剩余空间少于这么多天的用量时报警")] = 3.0
    degrade_days: Annotated[
        float,
        msgspec.Meta(ge=0.0, le=365.0, description="剩余空间少于这么多天的用量时开始压缩并删除媒体（先于任何事件）"),
    ] = 1.0
    downsample_quality: Annotated[int, msgspec.Meta(ge=10, le=95, description="压缩照片的 JPEG 质量")] = 40

    @property
    def budget_bytes(self) -> int:
        """Media bytes the budget allows."""
        return self.budget_days * self.passes_per_day * self.bytes_per_pass

    @property
    def alarm_free_bytes(self) -> int:
        """Free space under which the outbox raises a low-space alarm."""
        return int(self.alarm_days * self.passes_per_day * self.bytes_per_pass)

    @property
    def degrade_free_bytes(self) -> int:
        """Free space under which the outbox degrades media to save events."""
        return int(self.degrade_days * self.passes_per_day * self.bytes_per_pass)


class Status(IntEnum):
    """Delivery state of an outbox row."""

    PENDING = 0
    SENT = 1
    ACKED = 2


class AttachmentStatus(IntEnum):
    """State of a late clip attachment (``pending`` → ``sent`` → ``acked``; the rest are final)."""

    PENDING = 0
    SENT = 1
    ACKED = 2
    CUTTING = 3  # the intent is recorded, the clip is not cut yet
    LOST = 4  # never cut (a crash, or no frames): the event keeps its commit-time clip
    REFUSED = 5  # the cloud refused it (the event is not this agent's): not retried


class LateClip(msgspec.Struct, frozen=True, kw_only=True):
    """A late clip attachment as stored in the outbox (``clip`` None while cutting or when lost)."""

    id: str
    event_id: str
    status: AttachmentStatus
    clip: VideoClip | None = None
    note: str | None = None


class SpaceState(StrEnum):
    """How much room is left."""

    OK = "ok"
    LOW = "low"  # alarm raised
    DEGRADING = "degrading"  # media being downsampled / dropped
    FULL = "full"  # even an event row could not be written


class OutboxError(RuntimeError):
    """The outbox could not keep an event; the barrier must stay shut."""


class OutboxFullError(OutboxError):
    """No room left even for the event row (after every media reclaim step)."""


class PhotoData(msgspec.Struct, frozen=True, kw_only=True):
    """A photo to keep with an event."""

    role: SnapshotRole
    data: bytes
    mime: str = "image/jpeg"


class ClipData(msgspec.Struct, frozen=True, kw_only=True):
    """A video clip to keep with an event (bytes already encoded)."""

    data: bytes
    start: datetime
    end: datetime
    mime: str = "video/x-motion-jpeg"


class Alarm(msgspec.Struct, frozen=True, kw_only=True):
    """Something a person must know about (shown in the booth, sent in heartbeats)."""

    code: str
    message: str
    at: float


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`Outbox.append` stored."""

    event: PassEvent
    duplicate: bool = False  # the read id was already stored: ``event`` is the earlier one
    actuated: bool = False  # for a duplicate: whether its barrier commands were already sent
    media_dropped: bool = False  # media could not be stored (disk full); the event still was


class OutboxStats(msgspec.Struct, frozen=True, kw_only=True):
    """Queue and space figures for heartbeats and the booth."""

    pending: int
    sent: int
    acked: int
    queue_depth: int
    oldest_unsent_age_s: float | None
    head_seq: int
    head_hash: str
    media_bytes: int
    free_bytes: int
    space_state: SpaceState
    alarms: tuple[Alarm, ...]
    late_clips_pending: int = 0  # late clip attachments cut and not yet acked by the cloud


def _default_free_space(root: Path) -> Callable[[], int]:
    def probe() -> int:
        return shutil.disk_usage(root).free

    return probe


def _is_full(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and (
        "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", 0) == sqlite3.SQLITE_FULL
    )


class Outbox(WeighingAttachments):
    """Durable, hash-chained store of an agent's pass events and their media. Thread-safe.

    Late weighing attachments (issue 15) are in :class:`agent.outbox.weighings.WeighingAttachments`.
    """

    def __init__(
        self,
        folder: Path,
        *,
        agent_id: str,
        settings: OutboxSettings | None = None,
        free_space: Callable[[], int] | None = None,
        max_page_count: int | None = None,
        on_alarm: Callable[[Alarm], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating and migrating if needed) the outbox in ``folder``.

        Args:
            folder: holds ``outbox.db`` and ``blobs/``.
            agent_id: the agent whose chain this is; an outbox never mixes agents.
            settings: size budget and thresholds.
            free_space: probe returning free bytes on the outbox's disk (injectable for tests).
            max_page_count: SQLite page cap (tests simulate a full disk with it).
            on_alarm: called for every new alarm.
            clock: unix-time source.

        Raises:
            OutboxError: when the folder belongs to another agent.
        """
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.agent_id = agent_id
        self.settings = settings or OutboxSettings()
        self.blobs = BlobStore(folder / "blobs")
        self._free_space = free_space or _default_free_space(folder)
        self._on_alarm = on_alarm
        self._clock = clock
        self._lock = threading.RLock()
        self._space_state = SpaceState.OK
        self._alarms: list[Alarm] = []
        self._last_alarm: dict[str, float] = {}
        self.path = folder / "outbox.db"
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        if max_page_count is not None:
            self._db.execute(f"PRAGMA max_page_count = {int(max_page_count)}")
        migrate(self._db, self.path)
        self._bind_agent()
        self.replayed = self._requeue_sent()
        self.lost_clips = self._lose_uncut_clips()
        self.interrupted_weighings = self._open_weighings()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                log.warning("outbox.checkpoint_failed")
            self._db.close()

    def _bind_agent(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'agent_id'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('agent_id', ?)", (self.agent_id,))
        elif row[0] != self.agent_id:
            raise OutboxError(f"发件箱 {self.folder} 属于代理 {row[0]}，不能由代理 {self.agent_id} 使用")

    def _requeue_sent(self) -> int:
        with self._lock:
            cur = self._db.execute(
                "UPDATE event SET status = ?, sent_at = NULL WHERE status = ?", (Status.PENDING, Status.SENT)
            )
            if cur.rowcount:
                log.info("outbox.replay", count=cur.rowcount)
            att = self._db.execute(
                "UPDATE attachment SET status = ?, sent_at = NULL WHERE status = ?",
                (AttachmentStatus.PENDING, AttachmentStatus.SENT),
            )
            if att.rowcount:
                log.info("outbox.replay_attachments", count=att.rowcount)
            return cur.rowcount

    def _lose_uncut_clips(self) -> int:
        """Late clips whose cut a crash (or kill) interrupted: mark them lost; their events are intact."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event_id FROM attachment WHERE status = ?", (AttachmentStatus.CUTTING,)
            ).fetchall()
            if not rows:
                return 0
            self._db.execute(
                "UPDATE attachment SET status = ?, note = ? WHERE status = ?",
                (AttachmentStatus.LOST, "程序在剪辑完成前退出", AttachmentStatus.CUTTING),
            )
        log.warning("outbox.late_clips_lost", count=len(rows), event_ids=[r[1] for r in rows][:50])
        return len(rows)

    # ------------------------------------------------------------------ append

    def head(self) -> tuple[int, str]:
        """The chain head: last sequence number and hash (0 and the genesis hash when empty)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        if row is None:
            return 0, GENESIS_HASH
        seq, _, digest = str(row[0]).partition(":")
        return int(seq), digest

    def append(
        self,
        draft: PassEvent,
        *,
        photos: Sequence[PhotoData] = (),
        clip: ClipData | None = None,
    ) -> AppendResult:
        """Store media and the sealed event durably; return the event as stored.

        The draft's ``seq``, ``prev_hash``, ``hash`` and evidence snapshots/clip are filled here.
        A draft whose ``read_id`` is already stored is not stored twice: the earlier event is
        returned with ``duplicate=True``.

        Raises:
            OutboxFullError: when not even the event row fits; the barrier must stay shut.
            OutboxError: for any other storage failure.
        """
        with self._lock:
            if draft.read_id is not None:
                existing = self._by_read_id(draft.read_id)
                if existing is not None:
                    return existing
            self._ensure_space()
            media_dropped = False
            snapshots: list[Snapshot] = list(draft.evidence.snapshots)
            clip_ref: VideoClip | None = draft.evidence.clip
            blob_rows: list[tuple[str, str, str, int]] = []
            try:
                for photo in photos:
                    digest = self.blobs.put(photo.data)
                    snapshots.append(Snapshot(role=photo.role, sha256=digest, size=len(photo.data), mime=photo.mime))
                    blob_rows.append((digest, "photo", photo.mime, len(photo.data)))
                if clip is not None:
                    digest = self.blobs.put(clip.data)
                    clip_ref = VideoClip(
                        sha256=digest,
                        size=len(clip.data),
                        start=clip.start,
                        end=clip.end,
                        mime=clip.mime,
                    )
                    blob_rows.append((digest, "clip", clip.mime, len(clip.data)))
            except OSError as exc:
                # The disk refused the media: keep the event, flag it, raise the alarm.
                log.warning("outbox.media_write_failed", error=str(exc))
                self._alarm("media_write_failed", f"照片/视频写入失败（{exc.strerror or exc}），事件照常记录")
                media_dropped = True
                snapshots = list(draft.evidence.snapshots)
                clip_ref = draft.evidence.clip
                blob_rows = []
            anomalies = draft.anomalies + (("media_dropped_disk_full",) if media_dropped else ())
            evidence = Evidence(snapshots=tuple(snapshots), clip=clip_ref, nvr=draft.evidence.nvr)
            draft = msgspec.structs.replace(draft, evidence=evidence, anomalies=anomalies, agent_id=self.agent_id)
            event = self._commit(draft, blob_rows)
            return AppendResult(event=event, media_dropped=media_dropped)

    def _commit(self, draft: PassEvent, blob_rows: list[tuple[str, str, str, int]]) -> PassEvent:
        now = self._clock()
        for attempt in range(2):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    seq, prev_hash = self.head()
                    event = seal_event(draft, seq=seq + 1, prev_hash=prev_hash)
                    self._db.execute(
                        "INSERT INTO event (seq, event_id, read_id, lane_id, occurred_at, decision, hash, body, status,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                        (
                            event.seq,
                            event.event_id,
                            event.read_id,
                            event.lane_id,
                            format_time(event.occurred_at),
                            event.decision.value,
                            event.hash,
                            encode_event(event),
                            now,
                        ),
                    )
                    for digest, kind, mime, size in blob_rows:
                        self._db.execute(
                            "INSERT INTO blob (sha256, kind, mime, size, stored_size, first_seq, created_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                            (digest, kind, mime, size, size, event.seq, now),
                        )
                        self._db.execute(
                            "INSERT OR IGNORE INTO event_blob (seq, sha256) VALUES (?, ?)", (event.seq, digest)
                        )
                    self._db.execute(
                        "INSERT INTO meta (key, value) VALUES ('head', ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (f"{event.seq}:{event.hash}",),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _is_full(exc) and attempt == 0:
                    log.warning("outbox.db_full", error=str(exc))
                    self._reclaim(emergency=True)
                    continue
                if _is_full(exc):
                    self._space_state = SpaceState.FULL
                    self._alarm("outbox_full", "台账存储已满，无法记录通行事件：道闸保持关闭，请立即清理磁盘")
                    raise OutboxFullError("发件箱已满，事件无法写入") from exc
                raise OutboxError(f"发件箱写入失败：{exc}") from exc
            else:
                return event
        raise OutboxFullError("发件箱已满，事件无法写入")  # pragma: no cover - loop always returns/raises

    def stored_read(self, read_id: str) -> bool:
        """Tell whether an event of this ``read_id`` is already stored (a replayed source)."""
        return self._by_read_id(read_id) is not None

    def _by_read_id(self, read_id: str) -> AppendResult | None:
        row = self._db.execute("SELECT body, actuated_at FROM event WHERE read_id = ?", (read_id,)).fetchone()
        if row is None:
            return None
        return AppendResult(event=decode_event(row[0]), duplicate=True, actuated=row[1] is not None)

    def mark_actuated(self, event_id: str) -> None:
        """Record that the event's barrier/LED commands were sent (used to finish them after a crash)."""
        with self._lock:
            self._db.execute(
                "UPDATE event SET actuated_at = ? WHERE event_id = ? AND actuated_at IS NULL", (self._clock(), event_id)
            )

    # ------------------------------------------------------------------ late clips (docs/adr/0020)

    def expect_clip(self, event_id: str) -> str:
        """Record that a late clip of ``event_id`` will be cut; return the attachment id (UUIDv7).

        Written before the wait so a crash before the cut is found (and logged) on the next open.

        Raises:
            OutboxError: the event is unknown or the row could not be written.
        """
        attachment_id = new_event_id()
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO attachment (id, event_id, kind, status, created_at) VALUES (?, ?, 'clip', ?, ?)",
                    (attachment_id, event_id, AttachmentStatus.CUTTING, self._clock()),
                )
            except sqlite3.Error as exc:
                raise OutboxError(f"视频片段记录写入失败：{exc}") from exc
        return attachment_id

    def attach_clip(self, attachment_id: str, clip: ClipData | None) -> LateClip | None:
        """Store the cut clip of an expected attachment durably (blob fsync'd, then the row committed).

        ``clip`` None (no frames buffered) marks the attachment lost. Returns the stored attachment,
        None when nothing was stored (no frames, disk refused the blob, or the event was pruned under
        disk pressure meanwhile). Never raises for media trouble: a late clip is media, not an event.
        """
        with self._lock:
            if clip is None:
                self._lose_clip(attachment_id, "缓存中没有可用画面")
                return None
            self._ensure_space()
            try:
                digest = self.blobs.put(clip.data)
            except OSError as exc:
                log.warning("outbox.late_clip_write_failed", attachment_id=attachment_id, error=str(exc))
                self._alarm("media_write_failed", f"视频片段写入失败（{exc.strerror or exc}），事件不受影响")
                self._lose_clip(attachment_id, "磁盘拒绝写入")
                return None
            ref = VideoClip(sha256=digest, size=len(clip.data), start=clip.start, end=clip.end, mime=clip.mime)
            now = self._clock()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    row = self._db.execute(
                        "SELECT a.event_id, e.seq FROM attachment a JOIN event e ON e.event_id = a.event_id"
                        " WHERE a.id = ? AND a.status = ?",
                        (attachment_id, AttachmentStatus.CUTTING),
                    ).fetchone()
                    if row is None:
                        self._db.execute("ROLLBACK")
                        log.warning("outbox.late_clip_orphan", attachment_id=attachment_id)
                        return None
                    event_id, seq = str(row[0]), int(row[1])
                    self._db.execute(
                        "INSERT INTO blob (sha256, kind, mime, size, stored_size, first_seq, created_at)"
                        " VALUES (?, 'clip', ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                        (digest, clip.mime, len(clip.data), len(clip.data), seq, now),
                    )
                    self._db.execute("INSERT OR IGNORE INTO event_blob (seq, sha256) VALUES (?, ?)", (seq, digest))
                    self._db.execute(
                        "UPDATE attachment SET sha256 = ?, size = ?, clip_start = ?, clip_end = ?, mime = ?,"
                        " status = ? WHERE id = ?",
                        (
                            digest,
                            len(clip.data),
                            format_time(clip.start),
                            format_time(clip.end),
                            clip.mime,
                            AttachmentStatus.PENDING,
                            attachment_id,
                        ),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                log.warning("outbox.late_clip_not_stored", attachment_id=attachment_id, error=str(exc))
                self._lose_clip(attachment_id, "数据库写入失败")
                return None
        log.info("outbox.late_clip_stored", attachment_id=attachment_id, event_id=event_id, size=len(clip.data))
        return LateClip(id=attachment_id, event_id=event_id, status=AttachmentStatus.PENDING, clip=ref)

    def _lose_clip(self, attachment_id: str, why: str) -> None:
        log.warning("outbox.late_clip_lost", attachment_id=attachment_id, reason=why)
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(
                "UPDATE attachment SET status = ?, note = ? WHERE id = ? AND status = ?",
                (AttachmentStatus.LOST, why, attachment_id, AttachmentStatus.CUTTING),
            )

    def next_attachments(self, limit: int = 10) -> list[LateClip]:
        """The oldest ``pending`` late clips whose event the cloud has acked (does not change their state)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ATTACHMENT_COLUMNS} FROM attachment a JOIN event e ON e.event_id = a.event_id"  # noqa: S608
                " WHERE a.status = ? AND e.status = ? ORDER BY a.created_at, a.id LIMIT ?",
                (AttachmentStatus.PENDING, Status.ACKED, int(limit)),
            ).fetchall()
        return [_late_clip(r) for r in rows]

    def attachments(self, event_id: str | None = None) -> list[LateClip]:
        """Late clip attachments (of one event, or all), oldest first."""
        where, args = ("WHERE a.event_id = ?", (event_id,)) if event_id is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ATTACHMENT_COLUMNS} FROM attachment a {where} ORDER BY a.created_at, a.id",  # noqa: S608
                args,
            ).fetchall()
        return [_late_clip(r) for r in rows]

    def mark_attachments_sent(self, attachment_ids: Iterable[str]) -> int:
        """Mark late clips handed to the network; return how many changed state."""
        ids = list(attachment_ids)
        with self._lock:
            return self._db.executemany(
                "UPDATE attachment SET status = ?, sent_at = ? WHERE id = ? AND status = ?",
                [(AttachmentStatus.SENT, self._clock(), a, AttachmentStatus.PENDING) for a in ids],
            ).rowcount

    def mark_attachment_acked(self, attachment_id: str) -> bool:
        """The cloud stored this late clip; True when its state changed."""
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE attachment SET status = ?, acked_at = ? WHERE id = ? AND status IN (?, ?)",
                    (
                        AttachmentStatus.ACKED,
                        self._clock(),
                        attachment_id,
                        AttachmentStatus.PENDING,
                        AttachmentStatus.SENT,
                    ),
                ).rowcount
                > 0
            )

    def mark_attachment_refused(self, attachment_id: str, why: str) -> bool:
        """The cloud refused this late clip for good; True when its state changed (it is not sent again)."""
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE attachment SET status = ?, note = ? WHERE id = ? AND status IN (?, ?)",
                    (
                        AttachmentStatus.REFUSED,
                        why[:500],
                        attachment_id,
                        AttachmentStatus.PENDING,
                        AttachmentStatus.SENT,
                    ),
                ).rowcount
                > 0
            )

    # ------------------------------------------------------------------ sync API

    def next_batch(self, limit: int = 100) -> list[PassEvent]:
        """The oldest ``pending`` events, in seq order (does not change their state)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM event WHERE status = ? ORDER BY seq LIMIT ?", (Status.PENDING, int(limit))
            ).fetchall()
        return [decode_event(r[0]) for r in rows]

    def mark_sent(self, event_ids: Iterable[str]) -> int:
        """Mark events handed to the network; return how many changed state."""
        ids = list(event_ids)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.executemany(
                    "UPDATE event SET status = ?, sent_at = ? WHERE event_id = ? AND status = ?",
                    [(Status.SENT, self._clock(), eid, Status.PENDING) for eid in ids],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return cur.rowcount

    def mark_acked(self, *, up_to_seq: int | None = None, event_ids: Iterable[str] = ()) -> int:
        """Mark events the cloud has durably stored: all up to ``up_to_seq`` and/or the given ids."""
        ids = list(event_ids)
        now = self._clock()
        changed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if up_to_seq is not None:
                    changed += self._db.execute(
                        "UPDATE event SET status = ?, acked_at = ? WHERE seq <= ? AND status < ?",
                        (Status.ACKED, now, int(up_to_seq), Status.ACKED),
                    ).rowcount
                if ids:
                    changed += self._db.executemany(
                        "UPDATE event SET status = ?, acked_at = ? WHERE event_id = ? AND status < ?",
                        [(Status.ACKED, now, eid, Status.ACKED) for eid in ids],
                    ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return changed

    def requeue_stale(self, older_than_s: float) -> int:
        """Put ``sent`` rows (events and late clips) not acked within ``older_than_s`` back to ``pending``.

        Returns the number of events requeued.
        """
        cutoff = self._clock() - older_than_s
        self._requeue_stale_weighings(cutoff)
        with self._lock:
            self._db.execute(
                "UPDATE attachment SET status = ?, sent_at = NULL WHERE status = ? AND sent_at < ?",
                (AttachmentStatus.PENDING, AttachmentStatus.SENT, cutoff),
            )
            return self._db.execute(
                "UPDATE event SET status = ?, sent_at = NULL WHERE status = ? AND sent_at < ?",
                (Status.PENDING, Status.SENT, cutoff),
            ).rowcount

    def read_blob(self, sha256: str) -> bytes | None:
        """A blob's bytes (None when never stored or dropped under disk pressure)."""
        return self.blobs.read(sha256)

    def blob_state(self, sha256: str) -> str | None:
        """present / downsampled / dropped, or None when unknown."""
        row = self._db.execute("SELECT state FROM blob WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else str(row[0])

    def get(self, event_id: str) -> PassEvent | None:
        """One stored event by id."""
        row = self._db.execute("SELECT body FROM event WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else decode_event(row[0])

    def events(self, *, after_seq: int = 0, limit: int = 1000) -> list[PassEvent]:
        """Stored events in seq order (for verification, the booth and tests)."""
        rows = self._db.execute(
            "SELECT body FROM event WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, int(limit))
        ).fetchall()
        return [decode_event(r[0]) for r in rows]

    def recent(self, lane_id: str | None = None, limit: int = 20) -> list[PassEvent]:
        """The newest events, newest first, optionally for one lane."""
        if lane_id is None:
            rows = self._db.execute("SELECT body FROM event ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        else:
            rows = self._db.execute(
                "SELECT body FROM event WHERE lane_id = ? ORDER BY seq DESC LIMIT ?", (lane_id, limit)
            ).fetchall()
        return [decode_event(r[0]) for r in rows]

    def unactuated(self) -> list[PassEvent]:
        """Events committed but whose barrier/LED commands were never confirmed (a crash in between)."""
        rows = self._db.execute("SELECT body FROM event WHERE actuated_at IS NULL ORDER BY seq").fetchall()
        return [decode_event(r[0]) for r in rows]

    def recent_plates(self, lane_id: str, since: datetime) -> list[tuple[str, datetime]]:
        """``(plate, occurred_at)`` of the lane's events since ``since``, oldest first (issue 16).

        What a restarted camera lane rebuilds its duplicate window from: the same truck still in front
        of the camera after a restart is the same physical pass, not a new one.
        """
        rows = self._db.execute(
            "SELECT body FROM event WHERE lane_id = ? AND occurred_at >= ? ORDER BY seq",
            (lane_id, format_time(since)),
        ).fetchall()
        out: list[tuple[str, datetime]] = []
        for (body,) in rows:
            event = decode_event(body)
            if event.plate:
                out.append((event.plate, event.occurred_at))
        return out

    def record_alarm(self, code: str, message: str, *, notify: bool = True) -> None:
        """Record an alarm raised elsewhere in the agent (a barrier that never confirmed an open) so it
        reaches the cloud in heartbeats; ``notify=False`` when the caller told the booth already."""
        with self._lock:
            if notify:
                self._alarm(code, message)
                return
            on_alarm, self._on_alarm = self._on_alarm, None
            try:
                self._alarm(code, message)
            finally:
                self._on_alarm = on_alarm

    def stats(self) -> OutboxStats:
        """Queue depth, oldest unsent age, chain head, media bytes and space state."""
        with self._lock:
            counts = dict(self._db.execute("SELECT status, count(*) FROM event GROUP BY status").fetchall())
            oldest = self._db.execute("SELECT min(created_at) FROM event WHERE status < ?", (Status.ACKED,)).fetchone()[
                0
            ]
            media = self._db.execute("SELECT coalesce(sum(stored_size), 0) FROM blob").fetchone()[0]
            late = self._db.execute(
                "SELECT count(*) FROM attachment WHERE status IN (?, ?)",
                (AttachmentStatus.PENDING, AttachmentStatus.SENT),
            ).fetchone()[0]
            seq, digest = self.head()
            pending = int(counts.get(Status.PENDING, 0))
            sent = int(counts.get(Status.SENT, 0))
            return OutboxStats(
                pending=pending,
                sent=sent,
                acked=int(counts.get(Status.ACKED, 0)),
                queue_depth=pending + sent,
                oldest_unsent_age_s=None if oldest is None else max(0.0, self._clock() - float(oldest)),
                head_seq=seq,
                head_hash=digest,
                media_bytes=int(media),
                free_bytes=self._free_space(),
                space_state=self._space_state,
                alarms=tuple(self._alarms[-20:]),
                late_clips_pending=int(late),
            )

    # ------------------------------------------------------------------ space management

    def _alarm(self, code: str, message: str) -> None:
        """Record and announce an alarm; the same code within 10 minutes is only logged."""
        now = self._clock()
        last = self._last_alarm.get(code)
        if last is not None and now - last < ALARM_REPEAT_S:
            log.warning("outbox.alarm_repeat", code=code, message=message)
            return
        self._last_alarm[code] = now
        alarm = Alarm(code=code, message=message, at=now)
        self._alarms.append(alarm)
        del self._alarms[:-100]
        try:
            self._db.execute("INSERT INTO alarm (at, code, message) VALUES (?, ?, ?)", (alarm.at, code, message))
        except sqlite3.Error:
            log.warning("outbox.alarm_not_stored", code=code)
        log.warning("outbox.alarm", code=code, message=message)
        if self._on_alarm is not None:
            self._on_alarm(alarm)

    def _media_bytes(self) -> int:
        return int(self._db.execute("SELECT coalesce(sum(stored_size), 0) FROM blob").fetchone()[0])

    def _ensure_space(self) -> None:
        """Raise alarms and reclaim media as free space shrinks (sticky states, so no alarm flapping).

        OK → LOW below the alarm line; LOW → DEGRADING below the degrade line or over the media
        budget (media are then reclaimed back up to the alarm line); back to OK only once free
        space is 1.5 × the alarm line again (operator cleaned up, or acked rows were pruned).
        """
        s = self.settings
        free = self._free_space()
        if free < s.degrade_free_bytes or self._media_bytes() > s.budget_bytes:
            if self._space_state not in {SpaceState.DEGRADING, SpaceState.FULL}:
                self._alarm("disk_degrading", "磁盘空间紧张：开始压缩并删除最早的照片和视频（事件记录保留）")
            self._space_state = SpaceState.DEGRADING
            self._reclaim(emergency=False)
            return
        if free >= s.alarm_free_bytes * 1.5:
            if self._space_state is not SpaceState.OK:
                log.info("outbox.space_ok", free=free)
            self._space_state = SpaceState.OK
        elif free < s.alarm_free_bytes and self._space_state is SpaceState.OK:
            self._alarm("disk_low", f"磁盘剩余空间不足 {s.alarm_days:g} 天用量（剩余 {free // MiB} MiB）")
            self._space_state = SpaceState.LOW

    def _room_ok(self, target_free: int) -> bool:
        return self._free_space() >= target_free and self._media_bytes() <= self.settings.budget_bytes

    def _reclaim(self, *, emergency: bool) -> None:
        """Free space without losing an event: prune old acked rows, then downsample, then drop media.

        ``emergency`` (a write already failed) prunes every acked row and drops a batch of media
        regardless of the thresholds.
        """
        s = self.settings
        target = s.alarm_free_bytes
        freed = self._prune_acked(older_than_s=0.0 if emergency else s.budget_days * 86400.0)
        if not emergency and self._room_ok(target):
            return
        freed += self._drop_media("clip", until=target, emergency=emergency)
        freed += self._downsample_photos(until=target, emergency=emergency)
        freed += self._drop_media("photo", until=target, emergency=emergency)
        log.warning("outbox.reclaimed", bytes=freed, free=self._free_space())

    def _prune_acked(self, older_than_s: float) -> int:
        cutoff = self._clock() - older_than_s
        rows = self._db.execute(
            "SELECT seq FROM event WHERE status = ? AND created_at < ? ORDER BY seq", (Status.ACKED, cutoff)
        ).fetchall()
        if not rows:
            return 0
        freed = 0
        seqs = [r[0] for r in rows]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("DELETE FROM event WHERE seq = ?", [(q,) for q in seqs])
            orphans = self._db.execute(
                "SELECT sha256 FROM blob WHERE sha256 NOT IN (SELECT sha256 FROM event_blob)"
            ).fetchall()
            self._db.executemany("DELETE FROM blob WHERE sha256 = ?", orphans)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        for (digest,) in orphans:
            freed += self.blobs.delete(digest)
        log.info("outbox.pruned_acked", events=len(seqs), bytes=freed)
        return freed

    def _candidates(self, kind: str, states: tuple[str, ...]) -> list[tuple[str, int]]:
        # Oldest first; media of acked events before media of events still waiting for the cloud (a
        # late clip counts as delivered once its attachment is acked too).
        marks = ",".join("?" * len(states))
        return [
            (str(r[0]), int(r[1]))
            for r in self._db.execute(
                f"SELECT b.sha256, b.stored_size FROM blob b LEFT JOIN event e ON e.seq = b.first_seq"  # noqa: S608
                f" WHERE b.kind = ? AND b.state IN ({marks})"
                " ORDER BY (coalesce(e.status, 2) = 2 AND NOT EXISTS (SELECT 1 FROM attachment a"
                " WHERE a.sha256 = b.sha256 AND a.status IN (0, 1))) DESC, b.first_seq LIMIT 200",
                (kind, *states),
            ).fetchall()
        ]

    def _set_blob_state(self, digest: str, state: str, stored: int) -> None:
        self._db.execute("UPDATE blob SET state = ?, stored_size = ? WHERE sha256 = ?", (state, stored, digest))

    def _drop_media(self, kind: str, *, until: int, emergency: bool) -> int:
        freed = 0
        count = 0
        done = False
        while not done:
            batch = self._candidates(kind, ("present", "downsampled"))
            if not batch:
                break
            for digest, _ in batch:
                if (not emergency and self._room_ok(until)) or (emergency and count >= 50):
                    done = True
                    break
                freed += self.blobs.delete(digest)
                self._set_blob_state(digest, "dropped", 0)
                count += 1
        if count:
            label = "视频片段" if kind == "clip" else "照片"
            self._alarm(f"media_dropped_{kind}", f"磁盘空间不足：已删除最早的 {count} 个{label}（事件记录保留）")
        return freed

    def _downsample_photos(self, *, until: int, emergency: bool) -> int:
        freed = 0
        count = 0
        for digest, stored in self._candidates("photo", ("present",)):
            if not emergency and self._room_ok(until):
                break
            data = self.blobs.read(digest)
            smaller = _shrink_jpeg(data, self.settings.downsample_quality) if data else None
            if smaller is None or len(smaller) >= stored:
                self._set_blob_state(digest, "downsampled", stored)  # cannot shrink: mark to skip next time
                continue
            try:
                written = self.blobs.replace(digest, smaller)
            except OSError:
                break
            self._set_blob_state(digest, "downsampled", written)
            freed += stored - written
            count += 1
        if count:
            self._alarm("media_downsampled", f"磁盘空间不足：已压缩最早的 {count} 张照片（原图哈希仍在事件中）")
        return freed

    def verify_blob(self, sha256: str) -> bool:
        """Tell whether the stored file still has its original content (False once downsampled/dropped)."""
        data = self.blobs.read(sha256)
        return data is not None and sha256_hex(data) == sha256


_ATTACHMENT_COLUMNS: Final = "a.id, a.event_id, a.status, a.sha256, a.size, a.clip_start, a.clip_end, a.mime, a.note"


def _late_clip(row: tuple[object, ...]) -> LateClip:
    att_id, event_id, status, digest, size, start, end, mime, note = row
    clip = None
    if digest is not None:
        clip = VideoClip(
            sha256=str(digest),
            size=int(str(size)),
            start=datetime.fromisoformat(str(start)),
            end=datetime.fromisoformat(str(end)),
            mime=str(mime),
        )
    return LateClip(
        id=str(att_id),
        event_id=str(event_id),
        status=AttachmentStatus(int(str(status))),
        clip=clip,
        note=None if note is None else str(note),
    )


def _shrink_jpeg(data: bytes, quality: int) -> bytes | None:
    """Half-size, lower-quality copy of a photo; None when it cannot be decoded."""
    try:
        from PIL import Image  # noqa: PLC0415 - Pillow is optional for the outbox
    except ImportError:  # pragma: no cover
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((max(1, img.width // 2), max(1, img.height // 2)))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=quality)
            return out.getvalue()
    except (OSError, ValueError):
        return None
