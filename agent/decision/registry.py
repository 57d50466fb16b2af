"""The agent's local copy of the vehicle registry and blacklist, so the gate decides offline.

The sync layer writes a :class:`RegistrySnapshot` (JSON, atomically replaced and fsync'd); the
decision engine keeps the loaded :class:`LocalRegistry` in memory and looks vehicles up by
canonical plate (+ colour when two vehicles share a number) or by internal code (in-plant
vehicles and non-road machinery carry a plant number or an environmental code plate).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Final

import msgspec

from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour, canonical_plate
from hj1321.vehicles import FuelType, UseNature, VehicleCategory, VehicleType

__all__ = [
    "BlacklistEntry",
    "LocalRegistry",
    "RegistrySnapshot",
    "RegistryVehicle",
    "load_snapshot",
    "save_snapshot",
]

Text = Annotated[str, msgspec.Meta(max_length=200)]


class RegistryVehicle(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One vehicle or machine of the plant's ledger, as cached on the agent."""

    registry_id: Text
    category: VehicleCategory
    plate: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    plate_colour: PlateColour | None = None
    internal_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    vehicle_type: VehicleType | None = None
    total_mass_kg: Annotated[int, msgspec.Meta(ge=0, le=200_000)] | None = None
    fuel: FuelType | None = None
    emission_stage: EmissionStage | None = None
    use_nature: UseNature | None = None
    lists: tuple[Annotated[str, msgspec.Meta(pattern="^[a-z0-9_]{1,32}$")], ...] = ()
    active: bool = True
    valid_until: date | None = None
    carrier: Text | None = None


class BlacklistEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A plate refused at every gate (regulator over-emission list or the plant's own)."""

    plate: Annotated[str, msgspec.Meta(max_length=16)]
    reason: Text = "超标排放车辆"
    source: Text = "enterprise"  # enterprise / regulator
    until: datetime | None = None


class RegistrySnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the decision needs about vehicles, versioned by the cloud."""

    version: Text = "local-0"
    vehicles: tuple[RegistryVehicle, ...] = ()
    blacklist: tuple[BlacklistEntry, ...] = ()


_DECODER: Final = msgspec.json.Decoder(RegistrySnapshot)


def load_snapshot(path: Path) -> RegistrySnapshot:
    """Read a snapshot file (JSON); an absent file is an empty registry.

    Raises:
        msgspec.ValidationError / msgspec.DecodeError: for a malformed file.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return RegistrySnapshot()
    return _DECODER.decode(data)


def save_snapshot(path: Path, snapshot: RegistrySnapshot) -> None:
    """Write a snapshot atomically and durably (temp file, fsync, rename, fsync folder)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(msgspec.json.encode(snapshot))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _key(code: str) -> str:
    return "".join(code.split()).upper()


class LocalRegistry:
    """In-memory index over a snapshot."""

    def __init__(self, snapshot: RegistrySnapshot | None = None) -> None:
        """Index ``snapshot`` (empty when None)."""
        self.snapshot = snapshot or RegistrySnapshot()
        self._by_plate: dict[str, list[RegistryVehicle]] = {}
        self._by_code: dict[str, RegistryVehicle] = {}
        for vehicle in self.snapshot.vehicles:
            if vehicle.plate:
                self._by_plate.setdefault(canonical_plate(vehicle.plate), []).append(vehicle)
            if vehicle.internal_code:
                self._by_code[_key(vehicle.internal_code)] = vehicle
        self._blacklist = {canonical_plate(b.plate): b for b in self.snapshot.blacklist}

    @classmethod
    def of(cls, vehicles: Iterable[RegistryVehicle], blacklist: Iterable[BlacklistEntry] = ()) -> LocalRegistry:
        """Build a registry from records (tests, seeding)."""
        return cls(RegistrySnapshot(vehicles=tuple(vehicles), blacklist=tuple(blacklist)))

    @property
    def version(self) -> str:
        """Version of the snapshot in use."""
        return self.snapshot.version

    def find(
        self, *, plate: str | None = None, colour: PlateColour | None = None, internal_code: str | None = None
    ) -> RegistryVehicle | None:
        """The registered vehicle for a plate (colour breaks ties) or an internal code."""
        if internal_code:
            found = self._by_code.get(_key(internal_code))
            if found is not None:
                return found
        if not plate:
            return None
        candidates = self._by_plate.get(canonical_plate(plate), [])
        if len(candidates) > 1 and colour is not None:
            same = [v for v in candidates if v.plate_colour == colour]
            candidates = same or candidates
        return candidates[0] if candidates else None

    def blacklisted(self, plate: str | None, moment: datetime) -> BlacklistEntry | None:
        """The blacklist entry in force for ``plate`` at ``moment``, if any."""
        if not plate:
            return None
        entry = self._blacklist.get(canonical_plate(plate))
        if entry is None or (entry.until is not None and entry.until <= moment):
            return None
        return entry
