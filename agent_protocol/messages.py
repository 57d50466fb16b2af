"""Agent ↔ cloud websocket messages (protocol version 1), see docs/protocol.md.

Every frame is one msgpack-encoded, tagged struct: ``type`` names the message and ``v`` the
protocol version it was written for. :func:`decode` refuses anything malformed, unknown, too large
or newer than :data:`PROTOCOL_VERSION` with a :class:`ProtocolError` carrying the websocket close
code to use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec

from agent_protocol.events import PassEvent, VideoClip

__all__ = [
    "CLOSE_AUTH",
    "CLOSE_PROTOCOL",
    "CLOSE_TOO_BIG",
    "CLOSE_TRY_LATER",
    "CLOSE_VERSION",
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "Ack",
    "AttachAck",
    "BlobOffer",
    "BlobPut",
    "BlobWant",
    "Command",
    "CommandResult",
    "Error",
    "EventBatch",
    "EvidenceAttach",
    "Heartbeat",
    "Hello",
    "Message",
    "PrecheckRequest",
    "PrecheckResult",
    "ProtocolError",
    "Snapshot",
    "WeighingAttach",
    "WeighingRecord",
    "Welcome",
    "decode",
    "encode",
    "retry_after",
    "try_later_reason",
]

#: Version of this message set; a peer refuses frames with a higher ``v``.
PROTOCOL_VERSION: Final = 1
#: Largest frame either side accepts (a batch of events or one blob).
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
#: Largest blob sent in one BlobPut.
MAX_BLOB_BYTES: Final = MAX_FRAME_BYTES - 64 * 1024
#: Most events in one EventBatch.
MAX_BATCH_EVENTS: Final = 500

#: Close codes: malformed frame (RFC 6455), frame too big, unknown/newer version, refused credential
#: (also sent to a live connection whose credential is revoked or rotated).
CLOSE_PROTOCOL: Final = 1002
CLOSE_TOO_BIG: Final = 1009
CLOSE_VERSION: Final = 4400
CLOSE_AUTH: Final = 4401
#: The cloud cannot serve the agent now (its database is down): wait at least the ``retry-after=N``
#: seconds the close reason starts with (:func:`try_later_reason`, :func:`retry_after`), then retry.
CLOSE_TRY_LATER: Final = 4503


def try_later_reason(seconds: float, text: str) -> str:
    """The close reason of :data:`CLOSE_TRY_LATER`: ``retry-after=N; <Chinese text>`` (≤ 120 bytes)."""
    reason = f"retry-after={max(0, round(seconds))}; {text}"
    while len(reason.encode()) > 120:
        reason = reason[:-1]
    return reason


def retry_after(reason: str) -> float | None:
    """The ``retry-after=N`` seconds a close reason carries (None when it carries none)."""
    head = reason.split(";", 1)[0].strip()
    if not head.startswith("retry-after="):
        return None
    try:
        value = float(head.removeprefix("retry-after="))
    except ValueError:
        return None
    return value if 0 <= value <= 3600 else None


#: Optional capabilities an agent announces in ``Hello.features`` (protocol v1 stays compatible: the
#: cloud sends a message type only to agents that announced it).
FEATURE_COMMANDS: Final = "commands"
FEATURE_SNAPSHOTS: Final = "snapshots"
#: Regulator pre-pass checks (issues 4 and 8): announced by the agent in ``Hello.features`` and by the
#: cloud in ``Welcome.features``; an agent sends ``precheck_request`` only to a cloud that announced it.
FEATURE_PRECHECK: Final = "precheck"
#: Late clip attachments (issue 4, ADR 0020): announced by both sides; an agent sends
#: ``evidence_attach`` only to a cloud that announced it (an older cloud keeps them pending on the agent).
FEATURE_LATE_CLIPS: Final = "late_clips"

#: Late weighing attachments (issue 15, docs/devices.md "Weighing ↔ pass"): announced by both sides; an
#: agent sends ``weighing_attach`` only to a cloud that announced it (an older cloud: kept pending).
FEATURE_LATE_WEIGHINGS: Final = "late_weighings"
#: Trip flags on a weighing record (``WeighingRecord.flags``): announced by the cloud; an agent leaves
#: the flags out of records it sends to a cloud that did not announce it (an older cloud refuses
#: unknown fields in a record).
FEATURE_WEIGHING_FLAGS: Final = "weighing_flags"

Sha256Hex = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
Version = Annotated[int, msgspec.Meta(ge=1)]
Seq = Annotated[int, msgspec.Meta(ge=0)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
Uuid = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=False):
    v: Version = PROTOCOL_VERSION


class Hello(_Msg, tag="hello", frozen=True, kw_only=True):
    """Agent → cloud, first frame: who I am and the last sequence number the cloud acked."""

    agent_id: Annotated[str, msgspec.Meta(max_length=64)]
    protocol: Version = PROTOCOL_VERSION
    last_acked_seq: Seq = 0
    agent_clock: datetime
    software: Text = ""
    #: Capabilities (:data:`FEATURE_COMMANDS`, :data:`FEATURE_SNAPSHOTS`); absent on older agents.
    features: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=32)] = []
    #: Versions of the snapshots the agent holds (None: none yet); older ones are replaced at hello.
    registry_version: Text | None = None
    policy_version: Text | None = None


class Welcome(_Msg, tag="welcome", frozen=True, kw_only=True):
    """Cloud → agent, reply to Hello: server clock, what the cloud holds."""

    server_clock: datetime
    last_stored_seq: Seq = 0
    registry_version: Text | None = None
    policy_version: Text | None = None
    #: Capabilities of the cloud (:data:`FEATURE_PRECHECK`); absent from older clouds.
    features: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=32)] = []


class EventBatch(_Msg, tag="events", frozen=True, kw_only=True):
    """Agent → cloud: consecutive sealed events of the agent's chain, in seq order."""

    events: Annotated[list[PassEvent], msgspec.Meta(max_length=MAX_BATCH_EVENTS)]


class Ack(_Msg, tag="ack", frozen=True, kw_only=True):
    """Cloud → agent: every event up to ``up_to_seq`` is durably stored (sent after commit)."""

    up_to_seq: Seq


class BlobOffer(_Msg, tag="blob_offer", frozen=True, kw_only=True):
    """Agent → cloud: blobs the agent can upload."""

    sha256: Annotated[list[Sha256Hex], msgspec.Meta(max_length=4096)]


class BlobWant(_Msg, tag="blob_want", frozen=True, kw_only=True):
    """Cloud → agent: the offered blobs the cloud lacks."""

    sha256: Annotated[list[Sha256Hex], msgspec.Meta(max_length=4096)]


class BlobPut(_Msg, tag="blob_put", frozen=True, kw_only=True):
    """Agent → cloud: one blob's bytes."""

    sha256: Sha256Hex
    data: bytes
    mime: Annotated[str, msgspec.Meta(max_length=64)] = "image/jpeg"


class BlobStored(_Msg, tag="blob_stored", frozen=True, kw_only=True):
    """Cloud → agent: the blob is stored (or refused, ``ok`` false, e.g. hash mismatch)."""

    sha256: Sha256Hex
    ok: bool = True


class DeviceState(msgspec.Struct, frozen=True, kw_only=True):
    """Health of one attached device."""

    device: Annotated[str, msgspec.Meta(max_length=100)]
    ok: bool
    detail: Text = ""


class Heartbeat(_Msg, tag="heartbeat", frozen=True, kw_only=True):
    """Agent → cloud, every few seconds: queue and disk figures, device health, agent clock."""

    agent_clock: datetime
    queue_depth: Seq = 0
    oldest_unsent_age_s: float | None = None
    disk_free_bytes: Seq = 0
    head_seq: Seq = 0
    devices: Annotated[list[DeviceState], msgspec.Meta(max_length=256)] = []
    alarms: Annotated[list[Text], msgspec.Meta(max_length=50)] = []


class Command(_Msg, tag="command", frozen=True, kw_only=True):
    """Cloud → agent: an instruction (docs/sync.md lists the names); the agent answers CommandResult."""

    command_id: Annotated[str, msgspec.Meta(max_length=64)]
    name: Annotated[str, msgspec.Meta(max_length=64)]
    args: dict[str, str | int | float | bool | None] = {}


class CommandResult(_Msg, tag="command_result", frozen=True, kw_only=True):
    """Agent → cloud: outcome of a Command."""

    command_id: Annotated[str, msgspec.Meta(max_length=64)]
    ok: bool
    message: Text = ""
    #: A blob the command produced (``camera_snapshot``: the JPEG), sent as BlobPut just before this result.
    blob_sha256: Sha256Hex | None = None


class Snapshot(_Msg, tag="snapshot", frozen=True, kw_only=True):
    """Cloud → agent: the whole registry (vehicles + blacklist) or control policy, replacing the held one.

    ``data`` is the builtins form of ``agent.decision.registry.RegistrySnapshot`` (kind ``registry``)
    or ``hj1321.rules.ControlPolicy`` (kind ``policy``); sent only to agents announcing
    :data:`FEATURE_SNAPSHOTS`.
    """

    kind: Literal["registry", "policy"]
    version: Text
    data: dict[str, Any]


class PrecheckRequest(_Msg, tag="precheck_request", frozen=True, kw_only=True):
    """Agent → cloud: ask the tenant's regulator platform whether a vehicle may pass (REGULATION.md §2.4/§2.5).

    Sent only to a cloud announcing :data:`FEATURE_PRECHECK`. The cloud names the gate from the lane
    (the agent does not know the platform's gate codes); ``budget_ms`` is how long the agent will wait,
    so the cloud does not keep asking the platform for an answer nobody reads.
    """

    request_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    lane_id: Annotated[str, msgspec.Meta(max_length=64)]
    direction: Literal["in", "out"] = "in"
    plate: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    plate_colour: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    budget_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 1000


class PrecheckResult(_Msg, tag="precheck_result", frozen=True, kw_only=True):
    """Cloud → agent: the platform's answer to one :class:`PrecheckRequest`.

    ``verdict`` ``unavailable`` means no answer: no platform configured, a profile without a pre-pass
    check, or the platform failed or was too slow; the agent then decides locally.
    """

    request_id: Annotated[str, msgspec.Meta(max_length=64)]
    verdict: Literal["allow", "refuse", "unavailable"]
    reason: Text = ""  # the platform's reason (refusals), or why there is no answer (Chinese)
    platform_serial: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    elapsed_ms: Annotated[int, msgspec.Meta(ge=0)] = 0


class EvidenceAttach(_Msg, tag="evidence_attach", frozen=True, kw_only=True):
    """Agent → cloud: a late clip of an already acknowledged event (ADR 0020).

    The sealed event keeps the clip cut at commit time; this one covers ``clip_before_s`` before to
    ``clip_after_s`` after the pass. Its bytes travel as BlobOffer/BlobPut before this message. The
    cloud stores it once per ``attachment_id`` (a UUIDv7 made on the agent) and answers
    :class:`AttachAck`. Sent only to a cloud announcing :data:`FEATURE_LATE_CLIPS`.
    """

    attachment_id: Uuid
    event_id: Uuid
    clip: VideoClip


class AttachAck(_Msg, tag="attach_ack", frozen=True, kw_only=True):
    """Cloud → agent: the attachment is durably stored (``ok``), or refused for good (``code``, e.g.
    ``unknown_event`` when the event is not this agent's); an agent does not send a refused one again."""

    attachment_id: Uuid
    ok: bool = True
    code: Annotated[str, msgspec.Meta(max_length=64)] = ""
    message: Text = ""


Kg = Annotated[float, msgspec.Meta(ge=-100_000, le=200_000)]


class WeighingRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A stable weight a weighbridge settled on, as the agent attributes it (kilograms).

    Attributes:
        weight_kg: the plateau's weight (median of the readings in the stable window).
        at: when it settled (agent clock, UTC).
        indicator: the weighbridge device's name in the agent's config.
        direction: the direction of the pass it belongs to.
        plate: the plate of that pass (canonical), or None.
        gross_kg: on the exit pass of a trip the pairer closed: the trip's gross weight ...
        tare_kg: ... tare weight ...
        net_kg: ... and net weight (运输量 in kilograms).
        cargo: the trip's cargo name when known.
        min_kg: lightest reading in the stable window.
        max_kg: heaviest reading in the stable window.
        flags: on the exit pass of a trip the pairer closed: the trip's review flags
            (``cargo_missing``, ``exit_before_entry``, ``trip_too_long``, ``tare_mismatch``, see
            agent/devices/weighing.py); the cloud opens each as a check flag on the pass. Sent only
            to a cloud announcing :data:`FEATURE_WEIGHING_FLAGS`.

    Fields at their default are left out of the encoded record (``omit_defaults``), so a record
    without flags reads the same to a cloud built before the field existed.
    """

    weight_kg: Kg
    at: datetime
    indicator: Annotated[str, msgspec.Meta(max_length=32)] = ""
    direction: Literal["in", "out"] | None = None
    plate: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    gross_kg: Kg | None = None
    tare_kg: Kg | None = None
    net_kg: Kg | None = None
    cargo: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    min_kg: Kg | None = None
    max_kg: Kg | None = None
    flags: Annotated[tuple[Annotated[str, msgspec.Meta(max_length=32)], ...], msgspec.Meta(max_length=8)] = ()


class WeighingAttach(_Msg, tag="weighing_attach", frozen=True, kw_only=True):
    """Agent → cloud: the weighing of an already acknowledged pass, found after it was sealed (issue 15).

    The deck usually stands behind the barrier, so the truck is weighed after its pass is committed
    (and the barrier opened). The sealed event stays unchanged; this attachment has its own id (a
    UUIDv7 made on the agent), names the pass, and carries the stable weight (``outcome``
    ``weighed``) or says that none settled within the lane's window (``missing``: the cloud raises a
    ``weighing_missing`` flag on the pass, never guesses). ``event_id`` None: a plateau no pass
    claimed (stored unattributed, listed for review). The cloud stores it once per
    ``attachment_id`` and answers :class:`AttachAck`. Sent only to a cloud announcing
    :data:`FEATURE_LATE_WEIGHINGS`.
    """

    attachment_id: Uuid
    event_id: Uuid | None = None
    outcome: Literal["weighed", "missing"] = "weighed"
    weighing: WeighingRecord | None = None


class Error(_Msg, tag="error", frozen=True, kw_only=True):
    """Either way: something was refused; ``message`` is Chinese, for people."""

    code: Annotated[str, msgspec.Meta(max_length=64)]
    message: Text
    fatal: bool = False


Message = (
    Hello
    | Welcome
    | EventBatch
    | Ack
    | BlobOffer
    | BlobWant
    | BlobPut
    | BlobStored
    | Heartbeat
    | Command
    | CommandResult
    | Snapshot
    | PrecheckRequest
    | PrecheckResult
    | EvidenceAttach
    | WeighingAttach
    | AttachAck
    | Error
)


class ProtocolError(Exception):
    """A frame the receiver cannot accept; ``close_code`` is the websocket close code to use."""

    def __init__(self, message: str, close_code: int = CLOSE_PROTOCOL) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = close_code


class _Envelope(msgspec.Struct, kw_only=True):
    type: str = ""
    v: int = 0


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(Message)
_ENVELOPE: Final = msgspec.msgpack.Decoder(_Envelope)
_TAGS: Final = frozenset(
    msgspec.inspect.type_info(t).tag  # type: ignore[attr-defined]
    for t in (
        Hello,
        Welcome,
        EventBatch,
        Ack,
        BlobOffer,
        BlobWant,
        BlobPut,
        BlobStored,
        Heartbeat,
        Command,
        CommandResult,
        Snapshot,
        PrecheckRequest,
        PrecheckResult,
        EvidenceAttach,
        WeighingAttach,
        AttachAck,
        Error,
    )
)


def encode(message: Message) -> bytes:
    """The msgpack frame of ``message``."""
    return _ENCODER.encode(message)


def decode(frame: bytes | bytearray | memoryview | str) -> Message:
    """Decode one frame.

    Raises:
        ProtocolError: text frame, oversized, malformed, unknown type (1002/1009) or a newer
            protocol version (4400).
    """
    if isinstance(frame, str):
        raise ProtocolError("只接受二进制帧（msgpack）")
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"帧过大（{len(frame)} 字节，上限 {MAX_FRAME_BYTES}）", CLOSE_TOO_BIG)
    try:
        envelope = _ENVELOPE.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:  # nesting: issue 17 fuzzing
        raise ProtocolError(f"帧格式错误：{exc}") from exc
    if envelope.v > PROTOCOL_VERSION:
        raise ProtocolError(f"协议版本 {envelope.v} 高于本端支持的 {PROTOCOL_VERSION}，请升级", CLOSE_VERSION)
    if envelope.type not in _TAGS:
        raise ProtocolError(f"未知消息类型：{envelope.type!r}", CLOSE_VERSION)
    try:
        return _DECODER.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise ProtocolError(f"消息内容无效：{exc}") from exc
