"""Late weighing attachments in the outbox (issue 15): the claim is recorded before the weight, a
restart turns a waiting claim into ``missing`` (never a later plateau), rows leave only after their
event is acked, a crash after sending puts them back to pending, a refusal is final; the wire form."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from agent.outbox import Outbox, WeighingStatus
from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction, PassEvent, new_event_id

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def draft(n: int) -> PassEvent:
    return PassEvent(
        event_id=new_event_id(),
        agent_id="agent-1",
        site_id="site-1",
        lane_id="in",
        direction=Direction.IN,
        occurred_at=AT,
        plate="鄂A12345",
        decision=Decision.ALLOW,
        read_id=f"r{n}",
    )


def record(kg: float) -> msg.WeighingRecord:
    return msg.WeighingRecord(weight_kg=kg, at=AT, indicator="scale", direction="in", plate="鄂A12345")


def test_weighing_rows_wait_for_their_event_and_survive_a_crash(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    first, second = box.append(draft(1)).event, box.append(draft(2)).event
    w1, w2 = box.expect_weighing(first.event_id), box.expect_weighing(second.event_id)
    assert box.next_weighings() == []  # waiting: nothing to send
    assert box.attach_weighing(w1, record(32_000))
    assert not box.attach_weighing(w1, record(1))  # resolved once
    stray = box.add_unattributed_weighing(record(9_000), "没有放行记录认领的稳定重量")
    assert [w.id for w in box.next_weighings()] == [stray]  # no event to wait for
    box.mark_acked(event_ids=[first.event_id])
    assert [w.id for w in box.next_weighings()] == [w1, stray]
    box.mark_weighings_sent([w1, stray])
    assert box.weighings_pending() == 3
    box.close()

    box = Outbox(tmp_path, agent_id="agent-1")  # a crash: sent -> pending, waiting -> missing
    assert box.interrupted_weighings == 1
    rows = {w.id: w for w in box.weighings()}
    assert (rows[w1].status, rows[stray].status) == (WeighingStatus.PENDING, WeighingStatus.PENDING)
    assert (rows[w2].outcome, rows[w2].status, rows[w2].record) == ("missing", WeighingStatus.PENDING, None)
    assert rows[w2].note is not None
    assert not box.attach_weighing(w2, record(30_000))  # a plateau after the restart is not attributed
    assert box.mark_weighing_acked(w1)
    assert box.mark_weighing_refused(stray, "unknown_event：拒收")
    assert not box.mark_weighing_acked(stray)  # refused is final
    assert box.weighings_pending() == 1  # the missing one, still to send
    box.close()


def test_weighing_attach_round_trips_on_the_wire(tmp_path: Path) -> None:
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1)).event
    wid = box.expect_weighing(event.event_id)
    box.attach_weighing(wid, record(15_200))
    missing = box.expect_weighing(event.event_id)
    box.attach_weighing(missing, None, "超时")
    box.mark_acked(event_ids=[event.event_id])
    sent = [w.message() for w in box.next_weighings()]
    decoded = [msg.decode(msg.encode(m)) for m in sent]
    assert decoded == sent
    weighed, none = decoded
    assert isinstance(weighed, msg.WeighingAttach)
    assert isinstance(none, msg.WeighingAttach)
    assert (weighed.outcome, weighed.event_id, weighed.weighing) == ("weighed", event.event_id, record(15_200))
    assert (none.outcome, none.weighing) == ("missing", None)
    box.close()


class _RecordBeforeFlags(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The record as a cloud built before ``flags`` decodes it (unknown fields refused)."""

    weight_kg: float
    at: datetime
    indicator: str = ""
    direction: str | None = None
    plate: str | None = None
    gross_kg: float | None = None
    tare_kg: float | None = None
    net_kg: float | None = None
    cargo: str | None = None
    min_kg: float | None = None
    max_kg: float | None = None


def test_trip_flags_travel_only_to_a_cloud_that_takes_them(tmp_path: Path) -> None:
    """A record's trip flags survive the outbox; an older cloud gets the record without them, readable."""
    box = Outbox(tmp_path, agent_id="agent-1")
    event = box.append(draft(1)).event
    wid = box.expect_weighing(event.event_id)
    flagged = msg.WeighingRecord(
        weight_kg=11_000, at=AT, direction="out", plate="鄂A12345", net_kg=19_000, flags=("cargo_missing",)
    )
    box.attach_weighing(wid, flagged)
    box.mark_acked(event_ids=[event.event_id])
    (stored,) = box.next_weighings()
    new_cloud = msg.decode(msg.encode(stored.message()))
    assert isinstance(new_cloud, msg.WeighingAttach)
    assert new_cloud.weighing is not None
    assert new_cloud.weighing.flags == ("cargo_missing",)
    old_cloud = stored.message(flags=False)
    assert old_cloud.weighing is not None
    assert old_cloud.weighing.flags == ()
    # Defaults are left out of the encoded record: the older cloud's strict decoder reads it.
    wire = msgspec.msgpack.encode(old_cloud.weighing)
    assert b"flags" not in wire
    assert msgspec.msgpack.decode(wire, type=_RecordBeforeFlags).net_kg == 19_000
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(flagged), type=_RecordBeforeFlags)
    box.close()
