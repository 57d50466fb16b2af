"""Late weighing attachments in the outbox (issue 15, docs/devices.md "Weighing ↔ pass").

The deck usually stands behind the barrier: the truck is weighed after its pass is sealed and the
barrier opened. The sealed event never changes (its hash is chained); the weight is stored as a
``weighing_attachment`` row with its own id (UUIDv7), like a late clip (ADR 0020):

* :meth:`WeighingAttachments.expect_weighing` records the claim (``waiting``) right after the pass, so a
  crash or stop before the plateau settles is found on the next open: the row becomes ``missing``
  (the cloud raises ``weighing_missing`` on the pass) — never a weight guessed later.
* :meth:`WeighingAttachments.attach_weighing` stores the stable weight (or ``missing`` when none came in
  the lane's window) and makes the row ``pending``.
* :meth:`WeighingAttachments.add_unattributed_weighing` stores a plateau no pass claimed (event None).

Rows travel ``pending`` → ``sent`` → ``acked`` once their event is acked (:meth:`next_weighings`,
:meth:`mark_weighings_sent`, :meth:`mark_weighing_acked`); a refusal is final.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Final, Literal

import msgspec
import structlog

from agent_protocol.events import new_event_id
from agent_protocol.messages import WeighingAttach, WeighingRecord

__all__ = ["StoredWeighing", "WeighingAttachments", "WeighingStatus"]

log = structlog.get_logger(__name__)

_RECORD_ENCODER: Final = msgspec.json.Encoder()
_RECORD_DECODER: Final = msgspec.json.Decoder(WeighingRecord)


class WeighingStatus(IntEnum):
    """State of a late weighing attachment (``waiting`` → ``pending`` → ``sent`` → ``acked``)."""

    PENDING = 0
    SENT = 1
    ACKED = 2
    WAITING = 3  # claimed by a pass, the plateau has not settled yet
    REFUSED = 5  # the cloud refused it (the pass is not this agent's): not retried


Outcome = Literal["waiting", "weighed", "missing"]


class StoredWeighing(msgspec.Struct, frozen=True, kw_only=True):
    """A weighing attachment as stored in the outbox."""

    id: str
    event_id: str | None
    outcome: Outcome
    status: WeighingStatus
    record: WeighingRecord | None = None
    note: str | None = None

    def message(self, *, flags: bool = True) -> WeighingAttach:
        """The wire form (``weighing_attach``); ``flags`` False leaves the record's trip flags out (a cloud
        that did not announce :data:`agent_protocol.messages.FEATURE_WEIGHING_FLAGS` refuses the field)."""
        record = self.record
        if record is not None and record.flags and not flags:
            record = msgspec.structs.replace(record, flags=())
        return WeighingAttach(
            attachment_id=self.id,
            event_id=self.event_id,
            outcome="missing" if self.outcome != "weighed" else "weighed",
            weighing=record,
        )


_COLUMNS: Final = "w.id, w.event_id, w.outcome, w.status, w.body, w.note"


def _row(row: tuple[object, ...]) -> StoredWeighing:
    wid, event_id, outcome, status, body, note = row
    return StoredWeighing(
        id=str(wid),
        event_id=None if event_id is None else str(event_id),
        outcome="weighed" if outcome == "weighed" else "missing" if outcome == "missing" else "waiting",
        status=WeighingStatus(int(str(status))),
        record=None if not isinstance(body, bytes) else _RECORD_DECODER.decode(body),
        note=None if note is None else str(note),
    )


class WeighingAttachments:
    """Mixed into :class:`agent.outbox.Outbox` (shares its connection, lock and clock)."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _clock: Callable[[], float]

    def _open_weighings(self) -> int:
        """On open: back to ``pending`` what a crash left ``sent``; claims still ``waiting`` become missing."""
        with self._lock:
            self._db.execute(
                "UPDATE weighing_attachment SET status = ?, sent_at = NULL WHERE status = ?",
                (WeighingStatus.PENDING, WeighingStatus.SENT),
            )
            cur = self._db.execute(
                "UPDATE weighing_attachment SET status = ?, outcome = 'missing', note = ? WHERE status = ?",
                (WeighingStatus.PENDING, "程序在称重完成前退出，未取得稳定重量", WeighingStatus.WAITING),
            )
        if cur.rowcount:
            log.warning("outbox.weighings_interrupted", count=cur.rowcount)
        return cur.rowcount

    def _requeue_stale_weighings(self, cutoff: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE weighing_attachment SET status = ?, sent_at = NULL WHERE status = ? AND sent_at < ?",
                (WeighingStatus.PENDING, WeighingStatus.SENT, cutoff),
            )

    def expect_weighing(self, event_id: str) -> str:
        """Record that ``event_id`` waits for its weight; return the attachment id (UUIDv7).

        Raises:
            sqlite3.Error: the row could not be written (the caller logs it; the pass is stored anyway).
        """
        attachment_id = new_event_id()
        with self._lock:
            self._db.execute(
                "INSERT INTO weighing_attachment (id, event_id, outcome, status, created_at)"
                " VALUES (?, ?, 'waiting', ?, ?)",
                (attachment_id, event_id, WeighingStatus.WAITING, self._clock()),
            )
        return attachment_id

    def attach_weighing(self, attachment_id: str, record: WeighingRecord | None, note: str | None = None) -> bool:
        """Store the weight of a waiting claim (``record`` None: none came in the window); True when stored."""
        outcome = "missing" if record is None else "weighed"
        body = None if record is None else _RECORD_ENCODER.encode(record)
        with self._lock:
            changed = self._db.execute(
                "UPDATE weighing_attachment SET outcome = ?, body = ?, note = ?, status = ?"
                " WHERE id = ? AND status = ?",
                (outcome, body, note, WeighingStatus.PENDING, attachment_id, WeighingStatus.WAITING),
            ).rowcount
        if changed:
            log.info("outbox.weighing_stored", attachment_id=attachment_id, outcome=outcome)
        return changed > 0

    def add_unattributed_weighing(self, record: WeighingRecord, note: str) -> str:
        """Store a plateau no pass claimed (sent with ``event_id`` None, listed for review in the cloud)."""
        attachment_id = new_event_id()
        with self._lock:
            self._db.execute(
                "INSERT INTO weighing_attachment (id, event_id, outcome, body, note, status, created_at)"
                " VALUES (?, NULL, 'weighed', ?, ?, ?, ?)",
                (attachment_id, _RECORD_ENCODER.encode(record), note, WeighingStatus.PENDING, self._clock()),
            )
        return attachment_id

    def next_weighings(self, limit: int = 10) -> list[StoredWeighing]:
        """The oldest ``pending`` weighings whose event the cloud has acked (or that have no event)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM weighing_attachment w LEFT JOIN event e ON e.event_id = w.event_id"  # noqa: S608
                " WHERE w.status = ? AND (w.event_id IS NULL OR e.status = 2) ORDER BY w.created_at, w.id LIMIT ?",
                (WeighingStatus.PENDING, int(limit)),
            ).fetchall()
        return [_row(r) for r in rows]

    def weighings(self, event_id: str | None = None) -> list[StoredWeighing]:
        """Weighing attachments (of one event, or all), oldest first."""
        where, args = ("WHERE w.event_id = ?", (event_id,)) if event_id is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM weighing_attachment w {where} ORDER BY w.created_at, w.id",  # noqa: S608
                args,
            ).fetchall()
        return [_row(r) for r in rows]

    def mark_weighings_sent(self, attachment_ids: Iterable[str]) -> int:
        """Mark weighings handed to the network."""
        ids = list(attachment_ids)
        with self._lock:
            return self._db.executemany(
                "UPDATE weighing_attachment SET status = ?, sent_at = ? WHERE id = ? AND status = ?",
                [(WeighingStatus.SENT, self._clock(), a, WeighingStatus.PENDING) for a in ids],
            ).rowcount

    def mark_weighing_acked(self, attachment_id: str) -> bool:
        """The cloud stored this weighing; True when its state changed."""
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE weighing_attachment SET status = ?, acked_at = ? WHERE id = ? AND status IN (?, ?)",
                    (
                        WeighingStatus.ACKED,
                        self._clock(),
                        attachment_id,
                        WeighingStatus.PENDING,
                        WeighingStatus.SENT,
                    ),
                ).rowcount
                > 0
            )

    def mark_weighing_refused(self, attachment_id: str, why: str) -> bool:
        """The cloud refused this weighing for good; True when its state changed."""
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE weighing_attachment SET status = ?, note = ? WHERE id = ? AND status IN (?, ?)",
                    (WeighingStatus.REFUSED, why[:500], attachment_id, WeighingStatus.PENDING, WeighingStatus.SENT),
                ).rowcount
                > 0
            )

    def weighings_pending(self) -> int:
        """Weighings not yet acked by the cloud (waiting, pending or sent)."""
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT count(*) FROM weighing_attachment WHERE status IN (?, ?, ?)",
                    (WeighingStatus.PENDING, WeighingStatus.SENT, WeighingStatus.WAITING),
                ).fetchone()[0]
            )
