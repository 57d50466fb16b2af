"""Manual releases say who and what (issue 15 item 3): the operator's account and display name, the
channel, the plate typed or confirmed (never the previous refused plate silently), the reason and
the lane's frame as a photo; the new trigger fields leave the hashes of older events unchanged."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec
import pytest

from agent.outbox.store import Outbox
from agent.runtime.pipeline import LaneRead
from agent.runtime.virtual import VirtualBarrier
from agent_protocol.events import (
    CHAIN_DOMAIN,
    Decision,
    Direction,
    ManualReason,
    PassEvent,
    PlateSource,
    ReleaseChannel,
    SnapshotRole,
    canonical_bytes,
    event_hash,
    new_event_id,
    verify_chain,
)
from hj1321.errors import InvalidValueError
from hj1321.plates import PlateColour
from tests.agent.lane_kit import make_lane

pytestmark = pytest.mark.anyio

UNKNOWN = "鄂B54321"
FRAME = b"\xff\xd8\xff" + bytes(range(256)) * 8 + b"\xff\xd9"


def _read(read_id: str, plate: str) -> LaneRead:
    return LaneRead(read_id=read_id, plate=plate, colour=PlateColour.YELLOW, confidence=0.97, moment=datetime.now(UTC))


async def test_remote_release_names_the_user_and_not_the_previous_refused_plate(outbox: Outbox) -> None:
    barrier = VirtualBarrier("b")
    lane = make_lane(outbox, barrier)
    refused = await lane.handle_read(_read("r1", UNKNOWN))
    assert refused is not None
    assert refused.decision is Decision.REFUSE
    event = await lane.manual_release(
        operator="zhang.jl",
        operator_name="张经理",
        channel=ReleaseChannel.REMOTE,
        reason=ManualReason.SUPERVISOR_ORDER,
        text="救护车",
        photo=FRAME,
    )
    assert event is not None
    assert (event.plate, event.related_event_id, event.vehicle) == (None, None, None)
    trigger = event.trigger
    assert (trigger.operator, trigger.operator_name, trigger.channel, trigger.plate_source) == (
        "zhang.jl",
        "张经理",
        ReleaseChannel.REMOTE,
        PlateSource.NONE,
    )
    assert "张经理" in event.message
    photo = next(s for s in event.evidence.snapshots if s.role is SnapshotRole.RELEASE)
    assert photo.sha256 == hashlib.sha256(FRAME).hexdigest()
    assert outbox.read_blob(photo.sha256) == FRAME
    assert lane.last_refused is not None  # still waiting for its own release

    confirmed = await lane.manual_release(
        operator="zhang.jl", operator_name="张经理", reason=ManualReason.OTHER, text="核实后放行", confirm_plate=True
    )
    assert confirmed is not None
    assert (confirmed.plate, confirmed.related_event_id) == (UNKNOWN, refused.event_id)
    assert confirmed.trigger.plate_source is PlateSource.CONFIRMED
    assert confirmed.evidence.snapshots == refused.evidence.snapshots
    assert lane.last_refused is None
    assert verify_chain(outbox.events()).ok


async def test_typed_plate_is_checked_like_any_plate(outbox: Outbox) -> None:
    lane = make_lane(outbox, VirtualBarrier("b"))
    with pytest.raises(InvalidValueError) as bad:
        await lane.manual_release(operator="g", reason=ManualReason.OTHER, text="手工", plate="鄂A12O45")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in bad.value.message)
    with pytest.raises(InvalidValueError) as nothing:  # nothing refused on this lane to confirm
        await lane.manual_release(operator="g", reason=ManualReason.OTHER, text="手工", confirm_plate=True)
    assert nothing.value.code == "plate.confirm"
    assert outbox.events() == []  # nothing stored, nothing opened
    typed = await lane.manual_release(operator="g", reason=ManualReason.OTHER, text="手工", plate="鄂a 7m416")
    assert typed is not None
    assert (typed.plate, typed.trigger.plate_source, typed.trigger.operator_name) == (
        "鄂A7M416",
        PlateSource.TYPED,
        "g",
    )


def test_the_new_trigger_fields_leave_older_events_hashes_unchanged() -> None:
    """Canonical bytes rule 5: a field added later is left out while null (agents in the field)."""
    event = PassEvent(
        event_id=new_event_id(),
        agent_id="a",
        site_id="s",
        lane_id="l",
        direction=Direction.IN,
        occurred_at=datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
        decision=Decision.ALLOW,
        prev_hash="0" * 64,
    )
    raw = msgspec.json.decode(canonical_bytes(event))
    assert set(raw["trigger"]) == {"kind", "operator", "reason_code", "reason_text"}  # exactly version 1's keys
    legacy = msgspec.json.encode(raw, order="sorted")
    assert event_hash(event, "0" * 64) == hashlib.sha256(CHAIN_DOMAIN + legacy).hexdigest()
