"""Injectable faults shared by every platform simulator."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Faults:
    """Injectable faults; rates are probabilities per request (seeded ``rng`` for repeatable runs)."""

    error_rate: float = 0.0  # 5xx answers
    timeout_rate: float = 0.0  # the request hangs past any client timeout
    malformed_rate: float = 0.0  # a body that is not JSON
    html_rate: float = 0.0  # an HTML error page with status 200
    odd_rate: float = 0.0  # an answer of an unexpected shape: unknown code, no code, a JSON array, a 404 page
    lost_answer_rate: float = 0.0  # the record is stored, then the answer never comes (duplicates follow)
    rate_limit: int = 0  # > 0: at most this many platform requests per second, else 429
    reject_serials: set[str] = field(default_factory=set)  # records refused with a schema reason
    reject_photo_serials: set[str] = field(default_factory=set)  # the record is stored, its photos refused
    record_delay_s: float = 0.0  # every pass-record request answers this late (transportControl)
    timeout_s: float = 30.0
    check_delay_s: float = 0.0  # every pre-pass check (getCheckVehicle, /transport/check) answers this late
    check_error: bool = False  # every pre-pass check answers HTTP 503 (the platform's check service is down)
    seed: int = 7

    def set(self, name: str, value: Any) -> None:
        """Set one fault from JSON (``POST /_sim/faults``); unknown names are ignored."""
        if name in ("reject_serials", "reject_photo_serials"):
            setattr(self, name, set(value))
        elif hasattr(self, name):
            setattr(self, name, type(getattr(self, name))(value))

    def public(self) -> dict[str, Any]:
        """The settings as JSON."""
        out = asdict(self)
        out["reject_serials"] = sorted(self.reject_serials)
        out["reject_photo_serials"] = sorted(self.reject_photo_serials)
        return out


def holds_of(sim: Any, serials: list[str]) -> dict[str, Any]:
    """``POST /_sim/holds``: which of our record serials the simulator holds, and the photo numbers it holds.

    The simulator's inspection only: none of the platform families in REGULATION.md §2 documents a query
    message, so ``ecogate uplink reconcile --inspect`` compares against this in tests and the demo.
    """
    held: list[str] = []
    photos: dict[str, list[int]] = {}
    find = getattr(sim, "client_record", None)  # /transport/*: the platform owns the serial
    state_photos = getattr(sim.state, "photos", None)
    for serial in serials:
        if (find(serial) is not None) if find is not None else serial in sim.records:
            held.append(serial)
            if isinstance(state_photos, dict) and serial in state_photos:
                photos[serial] = sorted(state_photos[serial])
    return {"held": held, "photos": photos}
