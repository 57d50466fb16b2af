"""Protocol messages: round trips and typed refusals of malformed, unknown, newer and oversized frames."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction, PassEvent, new_event_id, seal_event

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_round_trips() -> None:
    event = seal_event(
        PassEvent(
            event_id=new_event_id(),
            agent_id="a",
            site_id="s",
            lane_id="l",
            direction=Direction.IN,
            occurred_at=NOW,
            plate="鄂A12345",
            decision=Decision.ALLOW,
        ),
        seq=1,
        prev_hash="0" * 64,
    )
    for message in (
        msg.Hello(agent_id="a", agent_clock=NOW, last_acked_seq=3),
        msg.Welcome(server_clock=NOW, last_stored_seq=3, registry_version="r1"),
        msg.EventBatch(events=[event]),
        msg.Ack(up_to_seq=1),
        msg.BlobOffer(sha256=["a" * 64]),
        msg.BlobWant(sha256=[]),
        msg.BlobPut(sha256="b" * 64, data=b"\x00\xff"),
        msg.Heartbeat(agent_clock=NOW, queue_depth=2, devices=[msg.DeviceState(device="cam1", ok=True)]),
        msg.Command(command_id="c1", name="open_barrier", args={"lane": "l"}),
        msg.CommandResult(command_id="c1", ok=True),
        msg.Error(code="x", message="错误"),
    ):
        assert msg.decode(msg.encode(message)) == message
    decoded = msg.decode(msg.encode(msg.EventBatch(events=[event])))
    assert isinstance(decoded, msg.EventBatch)
    assert decoded.events[0].hash == event.hash


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xc1", msg.CLOSE_PROTOCOL),
        ("text", msg.CLOSE_PROTOCOL),
        (msgspec.msgpack.encode({"type": "ack", "v": 1, "up_to_seq": -1}), msg.CLOSE_PROTOCOL),
        (msgspec.msgpack.encode({"type": "ack", "v": 1}), msg.CLOSE_PROTOCOL),
        (msgspec.msgpack.encode({"type": "nope", "v": 1}), msg.CLOSE_VERSION),
        (msgspec.msgpack.encode({"type": "ack", "v": 2, "up_to_seq": 1}), msg.CLOSE_VERSION),
        (b"\x00" * (msg.MAX_FRAME_BYTES + 1), msg.CLOSE_TOO_BIG),
    ],
)
def test_refused_frames(frame: bytes | str, code: int) -> None:
    with pytest.raises(msg.ProtocolError) as refused:
        msg.decode(frame)
    assert refused.value.close_code == code
    assert refused.value.message


def test_unknown_fields_are_ignored() -> None:
    frame = msgspec.msgpack.encode({"type": "ack", "v": 1, "up_to_seq": 5, "later": "x"})
    assert msg.decode(frame) == msg.Ack(up_to_seq=5)
