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
    timeout_s: float = 30.0
    check_delay_s: float = 0.0  # every pre-pass check (getCheckVehicle, /transport/check) answers this late
    check_error: bool = False  # every pre-pass check answers HTTP 503 (the platform's check service is down)
    seed: int = 7

    def public(self) -> dict[str, Any]:
        """The settings as JSON."""
        out = asdict(self)
        out["reject_serials"] = sorted(self.reject_serials)
        return out
