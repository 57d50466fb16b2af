"""One truck, one record, one opening (issue 16): stale reads, at-most-once opens across restarts,
unconfirmed opens alarmed, the camera lane's duplicate window rebuilt from the outbox."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.devices.types import BarrierState, BarrierStatus
from agent.outbox.store import Alarm, Outbox
from agent.runtime.pipeline import OPEN, OPEN_OK, OPEN_STALE, OPEN_UNKNOWN, CommandJournal, LaneRead
from agent.runtime.virtual import VirtualBarrier
from agent.vision.types import PlateRead
from agent.vision.voter import PlateVoter
from agent_protocol.events import Decision
from hj1321.plates import PlateColour
from tests.agent.lane_kit import KNOWN, make_lane

pytestmark = pytest.mark.anyio


def _read(read_id: str, *, age_s: float = 0.0) -> LaneRead:
    return LaneRead(
        read_id=read_id,
        plate=KNOWN,
        colour=PlateColour.YELLOW,
        confidence=0.97,
        moment=datetime.now(UTC) - timedelta(seconds=age_s),
    )


def _commands(path: Path) -> list[str]:
    return [json.loads(x)["command"] for x in path.read_text(encoding="utf-8").splitlines()]


class DeadBarrier(VirtualBarrier):
    """Takes no command: every open comes back unconfirmed."""

    async def open(self) -> BarrierStatus:
        self.opened += 1
        return BarrierStatus(BarrierState.FAULT, datetime.now(UTC), fault=True, message="抬杆指令未送达")


async def test_a_stale_read_is_recorded_and_never_opens(outbox: Outbox, tmp_path: Path) -> None:
    barrier = VirtualBarrier("b")
    journal = CommandJournal(tmp_path / "j.log")
    alarms: list[Alarm] = []
    lane = make_lane(outbox, barrier, journal=journal, max_read_age_s=15.0, on_alarm=alarms.append)
    event = await lane.handle_read(_read("old", age_s=40.0))
    assert event is not None
    assert event.decision is Decision.ALLOW  # the decision stands; the barrier does not act on it
    assert "stale_read" in event.anomalies
    assert barrier.opened == 0
    assert _commands(tmp_path / "j.log") == [OPEN_STALE]
    assert [a.code for a in alarms] == ["stale_read"]
    # Replayed again after another restart: still recorded once, still not opened.
    again = make_lane(outbox, barrier, journal=CommandJournal(tmp_path / "j.log"), max_read_age_s=15.0)
    assert await again.finish_unactuated() == 1
    assert (await again.handle_read(_read("old", age_s=40.0))) is not None
    assert barrier.opened == 0
    assert len(outbox.events()) == 1
    fresh = await lane.handle_read(_read("new"))
    assert fresh is not None
    assert barrier.opened == 1


async def test_an_open_confirmed_before_a_crash_is_never_repeated(outbox: Outbox, tmp_path: Path) -> None:
    barrier = VirtualBarrier("b")
    journal = CommandJournal(tmp_path / "j.log")
    lane = make_lane(outbox, barrier, journal=journal)
    event = await lane.handle_read(_read("r1"))
    assert event is not None
    assert barrier.opened == 1
    # The agent dies after the relay confirmed and before the outbox row was marked: simulate it.
    outbox._db.execute("UPDATE event SET actuated_at = NULL")
    restarted = make_lane(outbox, barrier, journal=CommandJournal(tmp_path / "j.log"))
    await restarted.finish_unactuated()
    assert barrier.opened == 1
    assert outbox.unactuated() == []
    assert _commands(tmp_path / "j.log") == [OPEN, OPEN_OK]


@pytest.mark.parametrize("arm", [BarrierState.OPEN, BarrierState.CLOSED])
async def test_an_open_journaled_but_unconfirmed_is_checked_against_the_arm(
    outbox: Outbox, tmp_path: Path, arm: BarrierState
) -> None:
    barrier = VirtualBarrier("b")
    lane = make_lane(outbox, barrier)  # no journal: commit only, as if killed before the command
    event = await lane.handle_read(_read("r1"))
    assert event is not None
    outbox._db.execute("UPDATE event SET actuated_at = NULL")
    journal = CommandJournal(tmp_path / "j.log")
    journal.record(lane_id=lane.lane_id, event_id=event.event_id, command=OPEN)  # intent, then SIGKILL
    journal.close()
    barrier._status = dataclasses.replace(barrier._status, state=arm)
    alarms: list[Alarm] = []
    restarted = make_lane(outbox, barrier, journal=CommandJournal(tmp_path / "j.log"), on_alarm=alarms.append)
    opened_before = barrier.opened
    await restarted.finish_unactuated()
    assert barrier.opened == opened_before  # never a second automatic opening
    if arm is BarrierState.OPEN:
        assert _commands(tmp_path / "j.log") == [OPEN, OPEN_OK]
        assert outbox.unactuated() == []
    else:
        assert _commands(tmp_path / "j.log") == [OPEN, OPEN_UNKNOWN]
        assert [a.code for a in alarms] == ["barrier_unknown"]
        assert any(a.code == "barrier_unknown" for a in outbox.stats().alarms)  # reaches the cloud


async def test_an_unconfirmed_open_is_alarmed_to_booth_and_cloud_and_not_actuated(
    outbox: Outbox, tmp_path: Path
) -> None:
    barrier = DeadBarrier("b")
    alarms: list[Alarm] = []
    lane = make_lane(outbox, barrier, journal=CommandJournal(tmp_path / "j.log"), on_alarm=alarms.append)
    event = await lane.handle_read(_read("r1"))
    assert event is not None
    assert [a.code for a in alarms] == ["barrier_fault"]
    assert "抬杆指令未送达" in alarms[0].message
    assert [a.code for a in outbox.stats().alarms] == ["barrier_fault"]
    assert [e.event_id for e in outbox.unactuated()] == [event.event_id]  # not "actuated"


async def test_the_duplicate_window_is_rebuilt_from_the_outbox(outbox: Outbox) -> None:
    lane = make_lane(outbox, VirtualBarrier("b"))
    stored = await lane.handle_read(_read("r1", age_s=2.0))
    assert stored is not None
    since = datetime.now(UTC) - timedelta(seconds=60)
    assert outbox.recent_plates("east-in", since) == [(KNOWN, stored.occurred_at)]
    assert outbox.recent_plates("other-lane", since) == []
    # A restarted camera lane: a fresh voter remembers the stored pass and suppresses the same truck.
    voter = PlateVoter(duplicate_window_s=60.0, min_reads=1)
    now_wall, now_mono = time.time(), time.monotonic()
    for plate, at in outbox.recent_plates("east-in", since):
        voter.remember("east-in", plate, now_mono - (now_wall - at.timestamp()))
    read = PlateRead(plate=KNOWN, colour="yellow", confidence=0.99, box=(0, 0, 10, 10))
    out = voter.feed([read], now_mono, lane="east-in") + voter.flush()
    assert out == []
    other = PlateVoter(duplicate_window_s=60.0, min_reads=1)  # without the outbox: a second record
    assert [v.plate for v in other.feed([read], now_mono, lane="east-in") + other.flush()] == [KNOWN]
