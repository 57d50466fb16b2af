"""What an agent must hold to decide offline: policy, warning level, registry and blacklist.

The hub (issue 5) calls these on connect and after a ``policy_updated`` / ``blacklist_updated`` /
``registry_updated`` / ``set_emergency_level`` notification (``cloud.compliance.push``), and sends
them in the shapes of ``hj1321.rules.ControlPolicy`` and ``agent.decision.registry.RegistrySnapshot``
(built here as plain builtins: the cloud does not import the agent). Maker-checker applies here: an
agent receives a vehicle's **last verified** data; a vehicle never verified is sent with its identity
but without fuel and stage, so the gate treats its stage as unknown (the cautious reading of
``hj1321.rules``: refused whenever a stage rule is in force).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import blacklist, emergency, policy, reviews
from cloud.db import models as m


async def policy_snapshot(session: AsyncSession, tenant_id: uuid.UUID, at: dt.datetime | None = None) -> dict[str, Any]:
    """The control policy in force (``ControlPolicy`` builtins) with its version."""
    state = await policy.in_force(session, tenant_id, at)
    return {"version": state.label, "policy": msgspec.to_builtins(state.control)}


async def level_snapshot(session: AsyncSession, tenant_id: uuid.UUID, at: dt.datetime | None = None) -> dict[str, Any]:
    """The warning level in force for the tenant's region, with its period."""
    tenant = await session.get_one(m.Tenant, tenant_id)
    found = await emergency.level_in_force(session, tenant.region_code, at)
    alert = found.alert
    return {
        "level": found.level,
        "starts_at": alert.starts_at.astimezone(dt.UTC).isoformat() if alert else None,
        "ends_at": alert.ends_at.astimezone(dt.UTC).isoformat() if alert else None,
        "alert_id": str(alert.id) if alert else None,
    }


async def registry_snapshot(
    session: AsyncSession, tenant_id: uuid.UUID, at: dt.datetime | None = None
) -> dict[str, Any]:
    """``RegistrySnapshot`` builtins: verified vehicle data, exemption lists and the active blacklist."""
    state = await policy.in_force(session, tenant_id, at)
    members: dict[str, set[str]] = {}
    for name, plates in state.members.items():
        for plate in plates:
            members.setdefault(plate, set()).add(name)
    versions = list(
        await session.scalars(
            select(m.VehicleVersion)
            .where(m.VehicleVersion.tenant_id == tenant_id)
            .order_by(m.VehicleVersion.vehicle_id, m.VehicleVersion.version)
        )
    )
    verdicts = await reviews.states(session, versions)
    by_vehicle: dict[uuid.UUID, list[m.VehicleVersion]] = {}
    for version in versions:
        by_vehicle.setdefault(version.vehicle_id, []).append(version)
    vehicles: list[dict[str, Any]] = []
    for vehicle_id, history in by_vehicle.items():
        current = history[-1]
        if current.status != "active":
            continue
        verified = next((v for v in reversed(history) if verdicts.get(v.id) == "verified"), None)
        source = verified or current
        vehicles.append(
            {
                "registry_id": str(vehicle_id),
                "category": current.category,
                "plate": current.plate,
                "plate_colour": current.plate_colour,
                "internal_code": current.internal_code or current.env_reg_code,
                "vehicle_type": source.vehicle_type,
                "total_mass_kg": source.total_mass_kg,
                "fuel": source.fuel_type if verified else None,
                "emission_stage": source.emission_stage if verified else None,
                "use_nature": source.use_nature,
                "lists": sorted(members.get(current.plate or "", set())),
                "active": True,
                "carrier": current.fleet_name,
            }
        )
    entries = await blacklist.active_plates(session, tenant_id)
    black = [
        {
            "plate": e.plate,
            "reason": e.reason,
            "source": e.source,
            "until": e.valid_until.astimezone(dt.UTC).isoformat() if e.valid_until else None,
        }
        for e in entries.values()
    ]
    body = msgspec.json.encode({"vehicles": vehicles, "blacklist": black}, order="sorted")
    label = "r" + hashlib.sha256(body).hexdigest()[:16]
    return {"version": label, "vehicles": vehicles, "blacklist": black}
