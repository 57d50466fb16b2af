"""Pass events: canonical serialization, sealing and chain verification."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from agent_protocol.events import (
    CHAIN_DOMAIN,
    GENESIS_HASH,
    Decision,
    Direction,
    Evidence,
    ManualReason,
    PassEvent,
    Snapshot,
    SnapshotRole,
    Trigger,
    TriggerKind,
    canonical_bytes,
    decode_event,
    encode_event,
    event_hash,
    format_time,
    new_event_id,
    seal_event,
    verify_chain,
)
from hj1321.plates import PlateColour

T0 = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)


def make_event(n: int = 0, **overrides: object) -> PassEvent:
    fields: dict[str, object] = {
        "event_id": new_event_id(),
        "agent_id": "agent-1",
        "site_id": "site-1",
        "lane_id": "in-1",
        "direction": Direction.IN,
        "occurred_at": T0 + timedelta(seconds=n),
        "plate": "鄂A12345",
        "plate_colour": PlateColour.YELLOW,
        "confidence": 0.97,
        "decision": Decision.ALLOW,
        "evidence": Evidence(snapshots=(Snapshot(role=SnapshotRole.SCENE, sha256="a" * 64, size=10),)),
    }
    fields.update(overrides)
    return PassEvent(**fields)  # type: ignore[arg-type]


def make_chain(count: int) -> list[PassEvent]:
    chain: list[PassEvent] = []
    prev = GENESIS_HASH
    for n in range(count):
        ev = seal_event(make_event(n), seq=n + 1, prev_hash=prev)
        chain.append(ev)
        prev = ev.hash
    return chain


def test_new_event_id_is_uuid7() -> None:
    eid = new_event_id()
    assert len(eid) == 36
    assert eid[14] == "7"


def test_canonical_bytes_sorted_keys_fixed_time_and_no_hash() -> None:
    ev = make_event(hash="f" * 64)
    raw = canonical_bytes(ev)
    text = raw.decode()
    assert '"occurred_at":"2026-11-28T08:30:00.000000Z"' in text
    assert '"hash"' not in text.replace('"prev_hash"', "")
    assert "鄂A12345" in text  # UTF-8, unescaped
    keys = list(msgspec.json.decode(raw).keys())
    assert keys == sorted(keys)
    assert ", " not in text  # no whitespace added


def test_canonical_time_is_utc_whatever_the_input_offset() -> None:
    shanghai = timezone(timedelta(hours=8))
    a = make_event(event_id="01a22345-7f2b-7725-b07b-c492fd3134e3")
    b = msgspec.structs.replace(a, occurred_at=a.occurred_at.astimezone(shanghai))
    assert canonical_bytes(a) == canonical_bytes(b)


def test_format_time_rejects_naive() -> None:
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 1))  # noqa: DTZ001


def test_event_hash_definition_is_reproducible_by_hand() -> None:
    ev = make_event()
    prev = "1" * 64
    expected = hashlib.sha256(CHAIN_DOMAIN + canonical_bytes(msgspec.structs.replace(ev, prev_hash=prev))).hexdigest()
    assert event_hash(ev, prev) == expected
    assert event_hash(ev, prev) != event_hash(ev, "2" * 64)


def test_seal_sets_seq_prev_and_hash() -> None:
    ev = seal_event(make_event(), seq=7, prev_hash=GENESIS_HASH)
    assert ev.seq == 7
    assert ev.prev_hash == GENESIS_HASH
    assert ev.sealed
    assert ev.hash == event_hash(ev, GENESIS_HASH)


def test_seal_enforces_bounds() -> None:
    with pytest.raises(msgspec.ValidationError):
        seal_event(make_event(confidence=1.5), seq=1, prev_hash=GENESIS_HASH)


def test_encode_decode_round_trip_keeps_hash_valid() -> None:
    manual = make_event(
        trigger=Trigger(
            kind=TriggerKind.MANUAL_RELEASE,
            operator="张三",
            reason_code=ManualReason.DEVICE_FAULT,
            reason_text="相机黑屏",
        ),
        reasons=("manual_release",),
    )
    ev = seal_event(manual, seq=1, prev_hash=GENESIS_HASH)
    back = decode_event(encode_event(ev))
    assert back == ev
    assert verify_chain([back]).ok


def test_decode_rejects_unknown_fields() -> None:
    ev = seal_event(make_event(), seq=1, prev_hash=GENESIS_HASH)
    raw = msgspec.json.decode(encode_event(ev))
    raw["sneaky"] = 1
    with pytest.raises(msgspec.ValidationError):
        decode_event(msgspec.json.encode(raw))


def test_verify_chain_ok() -> None:
    chain = make_chain(5)
    report = verify_chain(chain)
    assert report.ok
    assert report.checked == 5
    assert report.head_hash == chain[-1].hash


def test_verify_chain_from_anchor_mid_way() -> None:
    chain = make_chain(5)
    assert verify_chain(chain[2:], anchor_prev_hash=chain[1].hash).ok
    assert not verify_chain(chain[2:]).ok


@pytest.mark.parametrize(
    ("mutate", "index", "reason"),
    [
        (lambda c: c.__setitem__(2, msgspec.structs.replace(c[2], plate="鄂A99999")), 2, "hash"),
        (lambda c: c.__setitem__(2, msgspec.structs.replace(c[2], decision=Decision.REFUSE)), 2, "hash"),
        (lambda c: c.pop(2), 2, "seq"),
        (lambda c: c.__setitem__(1, c[3]), 1, "seq"),
        (lambda c: c.__setitem__(0, msgspec.structs.replace(c[0], prev_hash="e" * 64)), 0, "prev_hash"),
        (lambda c: c.__setitem__(3, msgspec.structs.replace(c[3], agent_id="other")), 3, "agent"),
    ],
    ids=["content", "decision", "deleted", "reordered", "anchor", "agent"],
)
def test_verify_chain_reports_first_broken_link(mutate: object, index: int, reason: str) -> None:
    chain = make_chain(5)
    mutate(chain)  # type: ignore[operator]
    report = verify_chain(chain)
    assert not report.ok
    assert report.broken_index == index
    assert report.reason == reason
    assert report.checked == index
    assert report.detail


def test_rehashed_tampering_detected_against_anchor() -> None:
    chain = make_chain(3)
    forged = [seal_event(msgspec.structs.replace(chain[0], plate="鄂B00000"), seq=1, prev_hash=GENESIS_HASH)]
    forged.append(seal_event(chain[1], seq=2, prev_hash=forged[0].hash))
    forged.append(seal_event(chain[2], seq=3, prev_hash=forged[1].hash))
    assert verify_chain(forged).ok  # self-consistent ...
    assert verify_chain(forged).head_hash != chain[-1].hash  # ... but the anchored head differs
