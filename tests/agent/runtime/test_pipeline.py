"""Lane pipeline: the event is committed before the barrier opens; refused or unstored passes never open it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.decision.engine import DecisionRequest
from agent.devices.types import BarrierStatus
from agent.outbox.store import Outbox, OutboxError
from agent.runtime.pipeline import CommandJournal, LanePipeline, LaneRead
from agent.runtime.virtual import VirtualBarrier
from agent_protocol.events import Decision, Direction
from hj1321.plates import PlateColour
from tests.agent.lane_kit import KNOWN, make_lane

pytestmark = pytest.mark.anyio

UNKNOWN = "鄂B54321"


class CheckingBarrier(VirtualBarrier):
    """Records, at each open command, how many events the outbox had committed."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__("test-barrier")
        self.outbox = outbox
        self.committed_at_open: list[int] = []

    async def open(self) -> BarrierStatus:
        self.committed_at_open.append(len(self.outbox.events()))
        return await super().open()


def _lane(outbox: Outbox, barrier: VirtualBarrier, journal: CommandJournal | None = None) -> LanePipeline:
    return make_lane(outbox, barrier, journal=journal)


def _read(read_id: str, plate: str) -> LaneRead:
    return LaneRead(read_id=read_id, plate=plate, colour=PlateColour.YELLOW, confidence=0.97, moment=datetime.now(UTC))


async def test_allowed_pass_is_committed_before_the_open_command(outbox: Outbox, tmp_path: Path) -> None:
    barrier = CheckingBarrier(outbox)
    journal = CommandJournal(tmp_path / "barrier-commands.log")
    lane = _lane(outbox, barrier, journal)
    event = await lane.handle_read(_read("r1", KNOWN))
    journal.close()
    assert event is not None
    assert event.decision is Decision.ALLOW
    assert barrier.committed_at_open == [1]
    assert outbox.unactuated() == []
    intent, outcome = (json.loads(x) for x in (tmp_path / "barrier-commands.log").read_text("utf-8").splitlines())
    assert (intent["event_id"], intent["command"]) == (event.event_id, "open")  # journaled before the command
    assert (outcome["event_id"], outcome["command"]) == (event.event_id, "open_ok")  # the relay's confirmation


async def test_refused_pass_is_stored_and_never_opens(outbox: Outbox) -> None:
    barrier = CheckingBarrier(outbox)
    lane = _lane(outbox, barrier)
    event = await lane.handle_read(_read("r2", UNKNOWN))
    assert event is not None
    assert event.decision is Decision.REFUSE
    assert barrier.opened == 0
    assert lane.last_refused == event
    assert len(outbox.events()) == 1


async def test_unstorable_pass_keeps_the_barrier_shut(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = CheckingBarrier(outbox)
    lane = _lane(outbox, barrier)

    def broken(*args: object, **kwargs: object) -> None:
        raise OutboxError("磁盘已满")

    monkeypatch.setattr(outbox, "append", broken)
    assert await lane.handle_read(_read("r3", KNOWN)) is None
    assert barrier.opened == 0


async def test_replayed_read_is_stored_once_and_finishes_unsent_commands(outbox: Outbox) -> None:
    barrier = CheckingBarrier(outbox)
    lane = _lane(outbox, barrier)
    first = await lane.handle_read(_read("r4", KNOWN))
    assert first is not None
    again = await lane.handle_read(_read("r4", KNOWN))
    assert again is not None
    assert again.event_id == first.event_id
    assert barrier.opened == 1  # already actuated: not opened twice
    # A crash between the commit and the command: the restarted lane sends it.
    crashed = _lane(outbox, barrier)
    draft = crashed._draft(
        await crashed.engine.decide(
            DecisionRequest(
                lane_id="east-in", direction=Direction.IN, moment=datetime.now(UTC), plate=KNOWN, confidence=0.97
            )
        ),
        plate=KNOWN,
        colour=None,
        internal_code=None,
        confidence=0.97,
        moment=datetime.now(UTC),
        read_id="r5",
        trigger=first.trigger,
    )
    outbox.append(draft)
    assert [e.read_id for e in outbox.unactuated()] == ["r5"]
    assert await crashed.finish_unactuated() == 1
    assert barrier.opened == 2
    assert outbox.unactuated() == []
    assert len(outbox.events()) == 2
