"""The pass event (进出记录) as born on the agent, and its tamper-evident hash chain.

A pass event is one vehicle crossing one lane once (ARCHITECTURE.md, "Data model essentials").
The agent makes it, seals it into its per-agent chain, keeps it in the durable outbox and
streams it to the cloud, which verifies the chain with the very same functions.

Canonical serialization (``canonical_bytes``), version 1 — the cloud and any third-party verifier
must reproduce it byte for byte:

1. Take every field of :class:`PassEvent` except ``hash`` (``prev_hash`` *is* included), nested
   records included, as JSON values. ``None`` stays ``null``; empty tuples stay ``[]``.
2. Times are UTC and written as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits).
3. Enumerations are written as their string values; integers as integers; floats in the shortest
   round-trip form (msgspec/Python ``repr``), never NaN or infinity.
4. Objects are written with keys sorted by code point, no whitespace, UTF-8, non-ASCII
   characters unescaped (``msgspec.json.encode(..., order="sorted")``).
5. Fields added to the schema after version 1 (:data:`LATE_FIELDS`: the manual-action fields of
   :class:`Trigger`, issue 15) are left out while they are ``null``, so every event made before
   them keeps its canonical bytes and its hash. Once set they are written like any field.

``event_hash(event, prev_hash)`` is the lowercase hex SHA-256 of
``b"ecogate.pass.v1\\n" + canonical_bytes(event with prev_hash replaced by the given one)``.
The first event of an agent chains to :data:`GENESIS_HASH`. A chain is intact when every event's
``prev_hash`` equals the previous event's ``hash``, every ``hash`` recomputes, ``seq`` grows by
exactly one, and every event belongs to the same agent. Evidence blobs are chained by their
SHA-256 only, so dropping a photo under disk pressure never breaks the chain.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

import msgspec
import uuid_utils

from hj1321.plates import PlateColour

__all__ = [
    "CHAIN_DOMAIN",
    "GENESIS_HASH",
    "LATE_FIELDS",
    "SCHEMA_VERSION",
    "ChainReport",
    "Decision",
    "Direction",
    "Evidence",
    "ManualReason",
    "NvrRef",
    "PassEvent",
    "PlateSource",
    "ReleaseChannel",
    "Snapshot",
    "SnapshotRole",
    "Trigger",
    "TriggerKind",
    "VehicleSnapshot",
    "VideoClip",
    "WeighingLink",
    "canonical_bytes",
    "decode_event",
    "encode_event",
    "event_hash",
    "format_time",
    "new_event_id",
    "seal_event",
    "verify_chain",
]

#: Version of the event schema and of the canonical serialization.
SCHEMA_VERSION: Final = 1
#: Domain separator hashed in front of the canonical bytes.
CHAIN_DOMAIN: Final = b"ecogate.pass.v1\n"
#: ``prev_hash`` of the first event an agent ever makes.
GENESIS_HASH: Final = "0" * 64

Sha256Hex = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$", description="lowercase hex SHA-256")]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Code = Annotated[str, msgspec.Meta(pattern="^[a-z0-9_.]{1,64}$", description="machine reason / flag code")]


class Direction(StrEnum):
    """Direction of a lane: into or out of the plant."""

    IN = "in"
    OUT = "out"

    @property
    def label(self) -> str:
        """The Chinese name."""
        return "入场" if self is Direction.IN else "出场"


class Decision(StrEnum):
    """What the gate did: 放行 (allow) or 拦截 (refuse)."""

    ALLOW = "allow"
    REFUSE = "refuse"

    @property
    def label(self) -> str:
        """The Chinese name."""
        return "放行" if self is Decision.ALLOW else "拦截"


class TriggerKind(StrEnum):
    """How the pass came about."""

    AUTO = "auto"  # camera read + automatic decision
    MANUAL_RELEASE = "manual_release"  # guard raised the barrier by hand, with a reason
    MANUAL_ENTRY = "manual_entry"  # guard typed the plate the camera missed

    @property
    def label(self) -> str:
        """The Chinese name."""
        return {"auto": "自动识别", "manual_release": "人工放行", "manual_entry": "人工录入"}[self.value]


class ManualReason(StrEnum):
    """Reason choices offered to a guard for a manual release (the free text adds detail)."""

    PLATE_UNREADABLE = "plate_unreadable"
    REGISTRY_OUTDATED = "registry_outdated"
    EMERGENCY_SERVICE = "emergency_service"
    SUPERVISOR_ORDER = "supervisor_order"
    DEVICE_FAULT = "device_fault"
    OTHER = "other"

    @property
    def label(self) -> str:
        """The Chinese name shown in the booth and the ledger."""
        return _MANUAL_REASON_LABELS[self]


_MANUAL_REASON_LABELS: Final = {
    ManualReason.PLATE_UNREADABLE: "车牌无法识别",
    ManualReason.REGISTRY_OUTDATED: "台账信息未同步",
    ManualReason.EMERGENCY_SERVICE: "抢险救援/民生保障车辆",
    ManualReason.SUPERVISOR_ORDER: "主管指令放行",
    ManualReason.DEVICE_FAULT: "设备故障",
    ManualReason.OTHER: "其他",
}


class SnapshotRole(StrEnum):
    """What a photo shows."""

    SCENE = "scene"
    PLATE = "plate"
    BODY = "body"
    RELEASE = "release"  # the lane's frame when a person released the barrier (issue 15)


class ReleaseChannel(StrEnum):
    """Where a person released the barrier from."""

    BOOTH = "booth"  # the guard booth on the agent
    REMOTE = "remote"  # a portal user, through the cloud's open_barrier command

    @property
    def label(self) -> str:
        """The Chinese name."""
        return "门岗" if self is ReleaseChannel.BOOTH else "云端远程"


class PlateSource(StrEnum):
    """Where the plate of a manual action came from."""

    CONFIRMED = "confirmed"  # the operator confirmed the plate the camera read (the refused pass)
    TYPED = "typed"  # the operator typed it (validated with the HJ 1321 plate grammar)
    NONE = "none"  # no plate: the operator released an unidentified vehicle


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A photo kept as evidence, referenced by content hash (the blob travels separately)."""

    role: SnapshotRole
    sha256: Sha256Hex
    size: Annotated[int, msgspec.Meta(ge=0)]
    mime: ShortText = "image/jpeg"


class VideoClip(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A short clip around the pass, cut from the frame source's ring buffer."""

    sha256: Sha256Hex
    size: Annotated[int, msgspec.Meta(ge=0)]
    start: datetime
    end: datetime
    mime: ShortText = "video/x-motion-jpeg"


class NvrRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the NVR keeps the video of the pass, when the agent keeps no clip itself."""

    nvr: ShortText
    channel: Annotated[int, msgspec.Meta(ge=0, le=1024)]
    start: datetime
    end: datetime


class Evidence(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Photos and video of a pass."""

    snapshots: tuple[Snapshot, ...] = ()
    clip: VideoClip | None = None
    nvr: NvrRef | None = None

    def blob_hashes(self) -> tuple[str, ...]:
        """Every blob hash this evidence references."""
        hashes = [s.sha256 for s in self.snapshots]
        if self.clip is not None:
            hashes.append(self.clip.sha256)
        return tuple(hashes)


class Trigger(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The cause of a pass; manual ones name the operator and the reason.

    The lane's frame at a manual release is in ``evidence.snapshots`` with role ``release``.

    Attributes:
        kind: automatic, manual release or manual plate entry.
        operator: the operator's account (booth guard login, or the portal user's login).
        reason_code: the reason chosen for a manual release.
        reason_text: the operator's words.
        operator_name: the operator's display name (issue 15; late field, see the module docstring).
        channel: booth or remote (cloud) release.
        plate_source: whether the plate was confirmed from the camera's read, typed, or absent.
    """

    kind: TriggerKind = TriggerKind.AUTO
    operator: ShortText | None = None
    reason_code: ManualReason | None = None
    reason_text: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    operator_name: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    channel: ReleaseChannel | None = None
    plate_source: PlateSource | None = None


#: Fields added after schema version 1, left out of the canonical bytes while null (rule 5 above):
#: ``(path of the enclosing object, field name)``.
LATE_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("trigger", "operator_name"),
    ("trigger", "channel"),
    ("trigger", "plate_source"),
)


class WeighingLink(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The weighing that belongs to this pass (kilograms)."""

    weighing_id: ShortText
    device_id: ShortText | None = None
    gross_kg: int | None = None
    tare_kg: int | None = None
    net_kg: int | None = None
    stable: bool = True


class VehicleSnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the local registry said about the vehicle when the decision was made (codes, not labels)."""

    category: ShortText  # transport / in_plant / nrmm
    registry_id: ShortText | None = None
    vehicle_type: ShortText | None = None  # GA/T 16.4 code, e.g. H11
    fuel: ShortText | None = None  # GA fuel code, e.g. B
    emission_stage: ShortText | None = None  # 0..6, D, X
    heavy: bool | None = None


class PassEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One vehicle crossing one lane once, as recorded by the agent. Never updated in place."""

    v: int = SCHEMA_VERSION
    event_id: Annotated[str, msgspec.Meta(min_length=36, max_length=36, description="UUIDv7")]
    agent_id: ShortText
    seq: Annotated[int, msgspec.Meta(ge=0)] = 0
    site_id: ShortText
    lane_id: ShortText
    direction: Direction
    occurred_at: datetime
    plate: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    plate_colour: PlateColour | None = None
    internal_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    read_id: ShortText | None = None
    evidence: Evidence = Evidence()
    decision: Decision
    reasons: tuple[Code, ...] = ()
    message: Annotated[str, msgspec.Meta(max_length=500)] = ""
    trigger: Trigger = Trigger()
    related_event_id: ShortText | None = None  # e.g. the refused pass a manual release overrides
    vehicle: VehicleSnapshot | None = None
    emergency_level: ShortText = "none"
    policy_version: ShortText | None = None
    weighing: WeighingLink | None = None
    cargo: ShortText | None = None
    anomalies: tuple[Code, ...] = ()
    prev_hash: str = ""
    hash: str = ""

    @property
    def sealed(self) -> bool:
        """Tell whether the event carries its chain hash."""
        return len(self.hash) == 64


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    """Result of :func:`verify_chain`: ``ok`` or the first broken link."""

    ok: bool
    checked: int
    head_hash: str
    broken_index: int | None = None
    broken_event_id: str | None = None
    broken_seq: int | None = None
    reason: str | None = None  # prev_hash / hash / seq / agent
    detail: str | None = None  # Chinese explanation


def new_event_id() -> str:
    """A fresh UUIDv7 event id (time-ordered, made where the record is born)."""
    return str(uuid_utils.uuid7())


def format_time(value: datetime) -> str:
    """The canonical time form: UTC, microseconds, ``Z`` suffix.

    Raises:
        ValueError: for a naive datetime (the agent never records local wall-clock time).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("时间必须带时区（UTC）")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("规范化序列化不接受 NaN 或无穷大")
    return value


def canonical_bytes(event: PassEvent) -> bytes:
    """The canonical serialization of ``event`` (every field but ``hash``), see the module docstring."""
    raw = msgspec.to_builtins(event, builtin_types=(datetime,))
    assert isinstance(raw, dict)
    raw.pop("hash", None)
    for parent, name in LATE_FIELDS:
        holder = raw.get(parent)
        if isinstance(holder, dict) and holder.get(name) is None:
            holder.pop(name, None)
    return msgspec.json.encode(_canonical_value(raw), order="sorted")


def event_hash(event: PassEvent, prev_hash: str) -> str:
    """SHA-256 (hex) of the domain tag and the canonical bytes of ``event`` chained to ``prev_hash``."""
    chained = msgspec.structs.replace(event, prev_hash=prev_hash)
    return hashlib.sha256(CHAIN_DOMAIN + canonical_bytes(chained)).hexdigest()


_EVENT_DECODER: Final = msgspec.json.Decoder(PassEvent)
_ENCODER: Final = msgspec.json.Encoder()


def seal_event(event: PassEvent, *, seq: int, prev_hash: str) -> PassEvent:
    """Give ``event`` its place in the chain: sequence number, previous hash and own hash.

    The event is validated against the schema bounds first (a struct built in code skips them).

    Raises:
        msgspec.ValidationError: when a field breaks its bounds.
    """
    draft = msgspec.structs.replace(event, seq=seq, prev_hash=prev_hash, hash="")
    _EVENT_DECODER.decode(_ENCODER.encode(draft))  # enforce Meta bounds
    return msgspec.structs.replace(draft, hash=event_hash(draft, prev_hash))


def encode_event(event: PassEvent) -> bytes:
    """Wire/storage form of an event (JSON). Not the canonical form; use it only for transport."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | str) -> PassEvent:
    """Decode and validate an event from :func:`encode_event` output.

    Raises:
        msgspec.ValidationError / msgspec.DecodeError: for malformed input.
    """
    return _EVENT_DECODER.decode(data)


def verify_chain(events: Iterable[PassEvent], anchor_prev_hash: str = GENESIS_HASH) -> ChainReport:
    """Check that ``events`` (in seq order) form an unbroken chain starting after ``anchor_prev_hash``.

    Args:
        events: consecutive events of one agent.
        anchor_prev_hash: the hash the first event must chain to: :data:`GENESIS_HASH` for an
            agent's first event, otherwise the last verified hash (a stored or anchored head).

    Returns:
        A report: ``ok`` with the new head hash, or the first broken link with a reason.
    """
    expected_prev = anchor_prev_hash
    prev: PassEvent | None = None
    checked = 0
    items: Sequence[PassEvent] = list(events)
    for index, event in enumerate(items):
        problem: tuple[str, str] | None = None
        if prev is not None and event.agent_id != prev.agent_id:
            problem = ("agent", f"事件属于另一个代理（{event.agent_id}）")
        elif prev is not None and event.seq != prev.seq + 1:
            problem = ("seq", f"序号不连续：{prev.seq} 之后是 {event.seq}")
        elif event.prev_hash != expected_prev:
            problem = ("prev_hash", "前一事件哈希不符（记录被删除、插入或重排）")
        elif event.hash != event_hash(event, event.prev_hash):
            problem = ("hash", "事件哈希与内容不符（记录被篡改）")
        if problem is not None:
            return ChainReport(
                ok=False,
                checked=checked,
                head_hash=expected_prev,
                broken_index=index,
                broken_event_id=event.event_id,
                broken_seq=event.seq,
                reason=problem[0],
                detail=f"第 {index + 1} 条（序号 {event.seq}）：{problem[1]}",
            )
        expected_prev = event.hash
        prev = event
        checked += 1
    return ChainReport(ok=True, checked=checked, head_hash=expected_prev)
