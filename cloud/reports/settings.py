"""Report settings per tenant: which transport modes count as clean, thresholds (REGULATION.md §4.1–4.2).

Stored under ``tenant.settings["reports"]``; absent keys take the industry default. Every default is
[I] in REGULATION.md and is shown to the tenant as an editable default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cloud.db.models._reports import NON_ROAD_MODES
from hj1321 import Industry

#: Road-truck classes that a tenant may count as clean besides the non-road modes.
ROAD_CLEAN_CLASSES = ("nev_truck", "cn6_truck")
ALL_MODES = (*NON_ROAD_MODES, *ROAD_CLEAN_CLASSES)

MODE_LABELS = {
    "rail": "铁路",
    "water": "水路",
    "pipeline": "管道",
    "tubular_belt": "管状带式输送机",
    "belt_gallery": "皮带通廊",
    "nev_truck": "新能源货车",
    "cn6_truck": "国六货车",
    "other_truck": "其他公路货车",
}

# 2019 steel ULE opinion: NEV trucks are the fallback, not clean transport (§4.1 [S/I]); the 2024
# cement/coking rules and several provincial A-grade rules count NEV substitution (§4.1 [C]/[I]).
_NO_NEV = frozenset({Industry.STEEL_LONG_PROCESS, Industry.STEEL_SHORT_PROCESS})


def default_clean_modes(industry: str) -> tuple[str, ...]:
    """The industry's default numerator of the clean-transport ratio."""
    try:
        parsed = Industry.parse(industry)
    except ValueError:
        parsed = Industry.OTHER
    return NON_ROAD_MODES if parsed in _NO_NEV else (*NON_ROAD_MODES, "nev_truck")


@dataclass(frozen=True)
class ReportSettings:
    """A tenant's report settings with defaults applied."""

    clean_modes: tuple[str, ...]
    clean_ratio_threshold: Decimal = Decimal(80)
    completeness_threshold: Decimal = Decimal(95)
    upload_rate_threshold: Decimal = Decimal(95)
    defaults: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The stored form (only what differs from the defaults is meaningful, all is kept)."""
        return {
            "clean_modes": list(self.clean_modes),
            "clean_ratio_threshold": str(self.clean_ratio_threshold),
            "completeness_threshold": str(self.completeness_threshold),
            "upload_rate_threshold": str(self.upload_rate_threshold),
        }


def read_settings(industry: str, stored: dict[str, object] | None) -> ReportSettings:
    """Settings from ``tenant.settings["reports"]`` over the industry defaults."""
    raw = stored.get("reports") if isinstance(stored, dict) else None
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    modes = data.get("clean_modes")
    clean_modes = (
        tuple(m for m in ALL_MODES if m in modes) if isinstance(modes, list) else default_clean_modes(industry)
    )

    def number(key: str, default: int) -> Decimal:
        value = data.get(key)
        return Decimal(str(value)) if value is not None else Decimal(default)

    return ReportSettings(
        clean_modes=clean_modes,
        clean_ratio_threshold=number("clean_ratio_threshold", 80),
        completeness_threshold=number("completeness_threshold", 95),
        upload_rate_threshold=number("upload_rate_threshold", 95),
        defaults={
            "clean_modes": not isinstance(modes, list),
            "clean_ratio_threshold": "clean_ratio_threshold" not in data,
            "completeness_threshold": "completeness_threshold" not in data,
            "upload_rate_threshold": "upload_rate_threshold" not in data,
        },
    )
