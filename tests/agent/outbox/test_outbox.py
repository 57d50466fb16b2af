"""Durable outbox: sealing, dedupe, delivery state machine, replay, migrations and disk pressure."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from agent.outbox import (
    ClipData,
    Outbox,
    OutboxError,
    OutboxFullError,
    OutboxSettings,
    PhotoData,
    SpaceState,
    sha256_hex,
)
from agent.outbox.migrations import SCHEMA_VERSION
from agent_protocol.events import Decision, Direction, PassEvent, SnapshotRole, new_event_id, verify_chain

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def draft(n: int = 0, *, read_id: str | None = None, decision: Decision = Decision.ALLOW) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id="agent-1",
        site_id="site-1",
        lane_id="in-1",
        direction=Direction.IN,
        occurred_at=T0 + timedelta(seconds=n),
        plate=f"鄂A{n % 100000:05d}",
        confidence=0.9,
        decision=decision,
        read_id=read_id,
    )


def jpeg(seed: int, size: int = 320) -> bytes:
    img = Image.effect_noise((size, size), 40 + seed % 50).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


class Disk:
    """A disk of fixed capacity whose use is what the outbox folder really holds."""

    def __init__(self, folder: Path, capacity: int) -> None:
        self.folder = folder
        self.capacity = capacity

    def free(self) -> int:
        used = sum(p.stat().st_size for p in (self.folder / "blobs").rglob("*") if p.is_file())
        return self.capacity - used


def test_append_seals_chain_and_stores_blobs(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    photo = jpeg(1)
    res = box.append(
        draft(1),
        photos=[PhotoData(role=SnapshotRole.SCENE, data=photo)],
        clip=ClipData(data=b"clip-bytes", start=T0, end=T0 + timedelta(seconds=5)),
    )
    ev = res.event
    assert ev.seq == 1
    assert ev.sealed
    assert ev.evidence.snapshots[0].sha256 == sha256_hex(photo)
    assert ev.evidence.clip is not None
    assert box.read_blob(ev.evidence.snapshots[0].sha256) == photo
    assert box.blobs.path(sha256_hex(photo)).parent.name == sha256_hex(photo)[:2]
    for n in range(2, 6):
        box.append(draft(n))
    assert verify_chain(box.events()).ok
    assert box.head()[0] == 5
    assert box.get(ev.event_id) == ev
    box.close()


def test_wal_and_synchronous_full(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert box._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    box.close()


def test_same_read_id_is_stored_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    first = box.append(draft(1, read_id="r-1"))
    again = box.append(draft(1, read_id="r-1"))
    assert again.duplicate
    assert not again.actuated
    assert again.event == first.event
    box.mark_actuated(first.event.event_id)
    assert box.append(draft(1, read_id="r-1")).actuated
    assert box.stats().queue_depth == 1
    assert box.unactuated() == []
    box.close()


def test_state_machine_and_replay_after_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    for n in range(10):
        box.append(draft(n))
    batch = box.next_batch(4)
    assert [e.seq for e in batch] == [1, 2, 3, 4]
    assert box.mark_sent(e.event_id for e in batch) == 4
    assert [e.seq for e in box.next_batch(4)] == [5, 6, 7, 8]
    assert box.mark_acked(up_to_seq=2) == 2
    stats = box.stats()
    assert (stats.pending, stats.sent, stats.acked, stats.queue_depth) == (6, 2, 2, 8)
    assert stats.oldest_unsent_age_s is not None
    box.close()

    reopened = Outbox(tmp_path, agent_id="agent-1")
    assert reopened.replayed == 2
    assert [e.seq for e in reopened.next_batch(3)] == [3, 4, 5]
    assert reopened.mark_acked(event_ids=[e.event_id for e in reopened.next_batch(100)]) == 8
    assert reopened.stats().queue_depth == 0
    assert reopened.stats().oldest_unsent_age_s is None
    # The chain continues across the restart.
    reopened.append(draft(11))
    assert verify_chain(reopened.events()).ok
    reopened.close()


def test_requeue_stale(tmp_path: Path) -> None:
    now = [1000.0]
    box = Outbox(tmp_path, agent_id="agent-1", clock=lambda: now[0])
    box.append(draft(1))
    box.mark_sent([e.event_id for e in box.next_batch()])
    now[0] += 120
    assert box.requeue_stale(60) == 1
    assert len(box.next_batch()) == 1
    box.close()


def test_other_agent_refused(tmp_path: Path) -> None:
    Outbox(tmp_path, agent_id="agent-1").close()
    with pytest.raises(OutboxError, match="属于代理"):
        Outbox(tmp_path, agent_id="agent-2")


def test_newer_schema_refused(tmp_path: Path) -> None:
    Outbox(tmp_path, agent_id="agent-1").close()
    db = sqlite3.connect(tmp_path / "outbox.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="拒绝降级"):
        Outbox(tmp_path, agent_id="agent-1")


def _settings() -> OutboxSettings:
    # 1 pass/day of 100 kB: alarm under 300 kB free, degrade under 100 kB free.
    return OutboxSettings(budget_days=30, passes_per_day=1, bytes_per_pass=100_000, alarm_days=3, degrade_days=1)


def test_low_space_alarm_then_degrade_media_never_events(tmp_path: Path) -> None:
    disk = Disk(tmp_path, capacity=1_500_000)
    alarms: list[str] = []
    box = Outbox(
        tmp_path,
        agent_id="agent-1",
        settings=_settings(),
        free_space=disk.free,
        on_alarm=lambda a: alarms.append(a.code),
    )
    stored = 0
    for n in range(60):
        res = box.append(
            draft(n),
            photos=[PhotoData(role=SnapshotRole.SCENE, data=jpeg(n))],
            clip=ClipData(data=bytes([n]) * 20_000, start=T0, end=T0),
        )
        stored += 1
        assert res.event.seq == n + 1
    assert "disk_low" in alarms
    assert "disk_degrading" in alarms
    assert "media_dropped_clip" in alarms  # clips go first
    stats = box.stats()
    assert stats.space_state in {SpaceState.DEGRADING, SpaceState.LOW}
    events = box.events()
    assert len(events) == stored == 60  # no event lost
    assert verify_chain(events).ok  # dropping media never breaks the chain
    assert disk.free() > 0
    # The newest event still has its photo; the oldest lost its clip first.
    newest = events[-1]
    assert box.read_blob(newest.evidence.snapshots[0].sha256) is not None
    oldest = events[0]
    assert oldest.evidence.clip is not None
    assert box.blob_state(oldest.evidence.clip.sha256) == "dropped"
    box.close()


def test_downsample_before_dropping_photos(tmp_path: Path) -> None:
    disk = Disk(tmp_path, capacity=2_000_000)
    alarms: list[str] = []
    box = Outbox(
        tmp_path,
        agent_id="agent-1",
        settings=_settings(),
        free_space=disk.free,
        on_alarm=lambda a: alarms.append(a.code),
    )
    for n in range(80):
        box.append(draft(n), photos=[PhotoData(role=SnapshotRole.SCENE, data=jpeg(n, 400))])
    assert "media_downsampled" in alarms
    first = box.events(limit=1)[0]
    digest = first.evidence.snapshots[0].sha256
    assert box.blob_state(digest) in {"downsampled", "dropped"}
    assert not box.verify_blob(digest)
    assert len(box.events()) == 80
    box.close()


def test_media_write_failure_keeps_event_and_flags_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    tmp_dir = tmp_path / "blobs" / "tmp"
    tmp_dir.rmdir()
    tmp_dir.write_bytes(b"not a folder")  # every blob write now fails like a full/broken disk
    res = box.append(draft(1), photos=[PhotoData(role=SnapshotRole.SCENE, data=jpeg(1))])
    assert res.media_dropped
    assert "media_dropped_disk_full" in res.event.anomalies
    assert res.event.evidence.snapshots == ()
    assert any(a.code == "media_write_failed" for a in box.stats().alarms)
    box.close()


def test_db_full_prunes_acked_then_refuses_loudly(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1", max_page_count=40)
    written = 0
    full: OutboxFullError | None = None
    for n in range(10_000):
        try:
            box.append(draft(n))
        except OutboxFullError as exc:
            full = exc
            break
        written += 1
    assert full is not None
    # Every event that append() returned is on disk; the failed one left nothing behind.
    assert len(box.events(limit=100_000)) == written
    assert box.stats().space_state is SpaceState.FULL
    assert any(a.code == "outbox_full" for a in box.stats().alarms)
    # Once the cloud acks, the outbox makes room by pruning acked rows and accepts events again.
    box.mark_acked(up_to_seq=written)
    res = box.append(draft(99_999))
    assert res.event.seq == written + 1
    assert verify_chain([res.event], anchor_prev_hash=res.event.prev_hash).ok
    box.close()
