"""The adapter interface every regulator-platform protocol implements (REGULATION.md §2, §6).

An adapter turns one :class:`UplinkRecord` (our canonical codes) into the platform's requests and
classifies the answer into an :class:`Outcome`. It never decides what to retry or when: the worker
does, from the outcome. The rule that keeps records safe: only an answer the adapter understood as
an acceptance is ``DELIVERED`` (or ``DUPLICATE``); anything it does not understand — malformed JSON,
an HTML error page, an unknown code, a timeout — is ``RETRY``; ``REJECTED`` is reserved for answers
that name the record as invalid, and carries the platform's reason verbatim.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol


class Outcome(enum.StrEnum):
    """What an answer means for the record."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # the platform already holds it: delivered
    RETRY = "retry"  # transient or not understood: try again later
    REJECTED = "rejected"  # permanent: the platform named the record invalid
    PHOTO_PENDING = "photo_pending"  # the record is held; a photo failed transiently: send the photos again
    PHOTO_REFUSED = "photo_refused"  # the record is held; the platform refused a photo (issue 16 finding 5)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The classified answer of a platform to one send."""

    outcome: Outcome
    message: str = ""
    platform_code: str | None = None
    platform_serial: str | None = None
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        """True when the platform holds the record and everything sent with it."""
        return self.outcome in (Outcome.DELIVERED, Outcome.DUPLICATE)

    @property
    def held(self) -> bool:
        """True when the platform holds the record (its photos may still be missing)."""
        return self.delivered or self.outcome in (Outcome.PHOTO_PENDING, Outcome.PHOTO_REFUSED)


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """A photo of a record, by content hash; bytes come from the loader."""

    sha256: str
    role: Literal["scene", "plate"]
    mime: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class UplinkRecord:
    """One pass record to upload, in our canonical codes (hj1321; ARCHITECTURE.md conventions).

    ``serial`` is the record serial (流水号) the platform de-duplicates on; it derives from the pass
    event's UUIDv7 only, so every re-send of a record carries the same serial.
    """

    record_id: uuid.UUID
    kind: Literal["pass"]
    occurred_at: dt.datetime
    direction: Literal["in", "out"]
    plate: str
    plate_colour: str
    gate_code: str
    lane_code: str
    decision: Literal["allow", "refuse"]
    vin: str | None = None
    emission_stage: str | None = None
    fuel_type: str | None = None
    vehicle_type: str | None = None
    use_nature: str | None = None
    register_date: dt.date | None = None
    fleet_name: str | None = None
    network_status: str | None = None
    # Registry fields of the vehicle version valid at the pass time (REGULATION.md §1.4.2 (a); issue 15):
    # every field a platform family asks for comes from the registry, none is sent empty when it holds it.
    plate_type: str | None = None
    brand_model: str | None = None
    engine_model: str | None = None
    engine_maker: str | None = None
    engine_no: str | None = None
    env_list_no: str | None = None
    owner_name: str | None = None
    owner_address: str | None = None
    cargo_name: str | None = None
    net_kg: Decimal | None = None
    photos: tuple[PhotoRef, ...] = ()
    #: The serial a platform issued for this record on an earlier attempt (``uplink_outbox.platform_serial``),
    #: so a re-send after a worker restart reuses it (``/transport/*``, docs/adr/0012).
    platform_serial: str | None = None

    @property
    def serial(self) -> str:
        """The record serial: the event id without dashes (32 characters, unique, stable)."""
        return self.record_id.hex


PhotoLoader = Callable[[str], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class PrePassResult:
    """A platform's answer to a pre-pass check (``None`` from the adapter = the profile has none)."""

    allowed: bool
    reason: str = ""
    platform_serial: str | None = None


@dataclass(frozen=True, slots=True)
class DownlinkItem:
    """Something a platform pushes to the enterprise (warnings, over-emission vehicles; §2.7)."""

    item_id: str
    kind: Literal["warning", "over_emission_vehicle"]
    data: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    """A tenant's platform: profile, where, who; secrets plain in memory (encrypted at rest)."""

    profile: str
    base_url: str
    enterprise_code: str
    enterprise_name: str = ""
    credentials: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    photo_max_bytes: int = 300_000
    heartbeat_s: int | None = None  # None = the profile's default (adapters.HEARTBEAT_DEFAULT_S), 0 = off


class PlatformAdapter(Protocol):
    """One platform protocol family."""

    profile: str

    async def send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        """Upload one record (and its photos); classify the answer."""
        ...

    async def heartbeat(self, gate_codes: list[str]) -> SendResult:
        """Report the gates as alive (``DELIVERED`` at once where the profile has no heartbeat)."""
        ...

    async def pre_pass_check(self, plate: str, colour: str, gate_code: str) -> PrePassResult | None:
        """Ask the platform whether a vehicle may pass; None when the profile has no such check."""
        ...

    async def fetch_downlink(self) -> list[DownlinkItem]:
        """Items the platform pushes to the enterprise (empty where the profile has none)."""
        ...

    async def ack_downlink(self, item_ids: list[str]) -> None:
        """Acknowledge applied items, per the profile."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class DailyCountsAdapter(PlatformAdapter, Protocol):
    """A profile that also takes the day's per-gate record counts (Tianjin 日上报, REGULATION.md §2.1)."""

    async def send_daily_counts(self, record_date: dt.date, counts: list[tuple[str, str, int]]) -> SendResult:
        """Report ``(gate, entrance, count)`` rows of one China date; a re-upload replaces the day."""
        ...
