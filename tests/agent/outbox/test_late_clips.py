"""Late clip attachments in the outbox (ADR 0020): intent, durable cut, delivery states, replay,
crash before the cut, migration of a version-1 database and disk pressure (media, never events)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.outbox import AttachmentStatus, ClipData, Outbox, OutboxSettings, sha256_hex
from agent.outbox.migrations import MIGRATIONS, SCHEMA_VERSION
from agent_protocol.events import Decision, Direction, PassEvent, encode_event, new_event_id, verify_chain

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def draft(n: int = 0) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id="agent-1",
        site_id="site-1",
        lane_id="in-1",
        direction=Direction.IN,
        occurred_at=T0 + timedelta(seconds=n),
        plate=f"鄂A{n % 100000:05d}",
        confidence=0.9,
        decision=Decision.ALLOW,
        read_id=f"read-{n}",
    )


def clip(n: int, size: int = 5000) -> ClipData:
    moment = T0 + timedelta(seconds=n)
    return ClipData(
        data=bytes([n % 251]) * size, start=moment - timedelta(seconds=5), end=moment + timedelta(seconds=3)
    )


def test_late_clip_is_stored_durably_and_leaves_the_event_untouched(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1), clip=ClipData(data=b"early", start=T0, end=T0)).event
    body_before = encode_event(event)
    att_id = box.expect_clip(event.event_id)
    assert [a.status for a in box.attachments(event.event_id)] == [AttachmentStatus.CUTTING]
    stored = box.attach_clip(att_id, clip(1))
    assert stored is not None
    assert stored.clip is not None
    assert stored.status is AttachmentStatus.PENDING
    assert box.read_blob(stored.clip.sha256) == clip(1).data
    assert stored.clip.sha256 == sha256_hex(clip(1).data)
    assert box.blob_state(stored.clip.sha256) == "present"
    assert encode_event(box.events()[0]) == body_before  # the sealed event never changes
    assert box.stats().late_clips_pending == 1
    [again] = box.attachments(event.event_id)
    assert again == stored
    box.close()


def test_attachment_waits_for_its_event_then_sent_acked_and_replayed(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1)).event
    att = box.attach_clip(box.expect_clip(event.event_id), clip(1))
    assert att is not None
    assert box.next_attachments() == []  # its event is not acked by the cloud yet
    box.mark_sent([event.event_id])
    box.mark_acked(up_to_seq=event.seq)
    assert [a.id for a in box.next_attachments()] == [att.id]
    assert box.mark_attachments_sent([att.id]) == 1
    assert box.next_attachments() == []
    box.close()
    # Restart with the attachment sent but never acknowledged: it is pending again (replayed).
    box = Outbox(tmp_path, agent_id="agent-1")
    assert [(a.id, a.status) for a in box.next_attachments()] == [(att.id, AttachmentStatus.PENDING)]
    box.mark_attachments_sent([att.id])
    assert box.requeue_stale(-1.0) == 0  # no event requeued, the attachment is
    assert [a.id for a in box.next_attachments()] == [att.id]
    box.mark_attachments_sent([att.id])
    assert box.mark_attachment_acked(att.id)
    assert not box.mark_attachment_acked(att.id)  # idempotent
    assert box.attachments()[0].status is AttachmentStatus.ACKED
    assert box.stats().late_clips_pending == 0
    box.close()


def test_refused_attachment_is_not_sent_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1)).event
    att = box.attach_clip(box.expect_clip(event.event_id), clip(1))
    assert att is not None
    box.mark_acked(up_to_seq=event.seq)
    box.mark_attachments_sent([att.id])
    assert box.mark_attachment_refused(att.id, "事件不属于本代理")
    assert box.next_attachments() == []
    [refused] = box.attachments()
    assert refused.status is AttachmentStatus.REFUSED
    assert refused.note == "事件不属于本代理"
    box.close()


def test_crash_before_the_cut_loses_only_the_clip(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1)).event
    att_id = box.expect_clip(event.event_id)
    box.close()  # the process dies while waiting for the frames after the pass
    box = Outbox(tmp_path, agent_id="agent-1")
    assert box.lost_clips == 1
    [lost] = box.attachments(event.event_id)
    assert (lost.id, lost.status, lost.clip) == (att_id, AttachmentStatus.LOST, None)
    assert box.get(event.event_id) == event
    assert box.attach_clip(att_id, clip(1)) is None  # a cut arriving after that is not stored
    assert box.next_attachments() == []
    box.close()


def test_no_frames_marks_the_clip_lost(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1)).event
    assert box.attach_clip(box.expect_clip(event.event_id), None) is None
    assert box.attachments()[0].status is AttachmentStatus.LOST
    box.close()


def test_version_1_database_is_migrated_with_its_events(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.db")
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.close()
    box = Outbox(tmp_path, agent_id="agent-1")
    box.append(draft(1))
    box.close()
    # Downgrade the file to version 1 again to check a populated database migrates (and is backed up).
    db = sqlite3.connect(tmp_path / "outbox.db")
    db.executescript("DROP TABLE weighing_attachment; DROP TABLE attachment; PRAGMA user_version = 1;")
    db.close()
    box = Outbox(tmp_path, agent_id="agent-1")
    assert int(box._db.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION
    assert (tmp_path / "outbox.db.bak-v1").is_file()
    event = box.events()[0]
    assert box.attach_clip(box.expect_clip(event.event_id), clip(1)) is not None
    box.close()


class Disk:
    """A disk of fixed capacity whose use is what the outbox folder really holds."""

    def __init__(self, folder: Path, capacity: int) -> None:
        self.folder = folder
        self.capacity = capacity

    def free(self) -> int:
        used = sum(p.stat().st_size for p in (self.folder / "blobs").rglob("*") if p.is_file())
        return self.capacity - used


def test_disk_pressure_drops_late_clips_never_events(tmp_path: Path) -> None:
    disk = Disk(tmp_path, capacity=1_000_000)
    settings = OutboxSettings(budget_days=30, passes_per_day=1, bytes_per_pass=100_000, alarm_days=3, degrade_days=1)
    alarms: list[str] = []
    box = Outbox(
        tmp_path, agent_id="agent-1", settings=settings, free_space=disk.free, on_alarm=lambda a: alarms.append(a.code)
    )
    late: list[str] = []
    for n in range(60):
        event = box.append(draft(n)).event
        stored = box.attach_clip(box.expect_clip(event.event_id), clip(n, size=30_000))
        assert stored is not None
        assert stored.clip is not None
        late.append(stored.clip.sha256)
    assert "media_dropped_clip" in alarms
    events = box.events()
    assert len(events) == 60
    assert verify_chain(events).ok
    assert box.blob_state(late[0]) == "dropped"  # the oldest late clips went first
    assert box.blob_state(late[-1]) == "present"
    assert disk.free() > 0
    box.close()
