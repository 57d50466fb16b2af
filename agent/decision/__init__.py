"""Gate decisions from the local registry, blacklist and control policy (works offline)."""

from __future__ import annotations

from agent.decision.engine import (
    REASON_TEXT,
    DecisionEngine,
    DecisionOutcome,
    DecisionRequest,
    DecisionSettings,
    PrecheckVerdict,
    RegulatorCheck,
)
from agent.decision.registry import (
    BlacklistEntry,
    LocalRegistry,
    RegistrySnapshot,
    RegistryVehicle,
    load_snapshot,
    save_snapshot,
)

__all__ = [
    "REASON_TEXT",
    "BlacklistEntry",
    "DecisionEngine",
    "DecisionOutcome",
    "DecisionRequest",
    "DecisionSettings",
    "LocalRegistry",
    "PrecheckVerdict",
    "RegistrySnapshot",
    "RegistryVehicle",
    "RegulatorCheck",
    "load_snapshot",
    "save_snapshot",
]
