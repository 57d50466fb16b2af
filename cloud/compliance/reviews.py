"""Maker-checker review of the vehicle ledger (PRODUCT.md problem 1).

A new vehicle, or a version that changes what the gate decides on (emission stage, fuel, identity),
stays ``pending`` until a second person — not the one who wrote the version — verifies or rejects
it. The verdict is a new ``vehicle_review`` row (versions are immutable). A correction that changes
only descriptive fields of a verified vehicle carries the verification over (the version is written
``verified`` with the reason 沿用上一版本复核). Agents treat only verified data as verified: the
registry they receive gives an unverified vehicle's last verified stage, or none (docs/compliance.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import require_tenant
from cloud.lib.problems import FieldError, ProblemError, not_found
from tenants.context import Principal

#: Fields whose change needs a second person's approval before agents rely on them.
REVIEWED_FIELDS: Final = (
    "emission_stage",
    "fuel_type",
    "vin",
    "plate",
    "plate_colour",
    "env_reg_code",
    "internal_code",
    "pin",
    "vehicle_type",
)
REVIEW_LABELS: Final = {"pending": "待复核", "verified": "已复核", "rejected": "已驳回"}


def carried_review(previous_state: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """The review state a new version starts in: ``verified`` only when nothing reviewed changed."""
    if previous_state != "verified":
        return "pending"
    return "verified" if all(before.get(f) == after.get(f) for f in REVIEWED_FIELDS) else "pending"


async def states(session: AsyncSession, versions: Iterable[m.VehicleVersion]) -> dict[uuid.UUID, str]:
    """The effective review state of each version: its review row's verdict, else its carried state."""
    items = list(versions)
    if not items:
        return {}
    rows = await session.execute(
        select(m.VehicleReview.version_id, m.VehicleReview.decision).where(
            m.VehicleReview.version_id.in_([v.id for v in items])
        )
    )
    verdicts: dict[uuid.UUID, str] = {vid: str(decision) for vid, decision in rows}
    return {v.id: verdicts.get(v.id, v.review) for v in items}


async def state_of(session: AsyncSession, version: m.VehicleVersion) -> str:
    """The effective review state of one version."""
    return (await states(session, [version]))[version.id]


@dataclass(frozen=True)
class ReviewOutcome:
    """A recorded verdict."""

    review: m.VehicleReview
    version: m.VehicleVersion


async def review_version(
    session: AsyncSession, principal: Principal, vehicle_id: uuid.UUID, version: int, decision: str, reason: str
) -> ReviewOutcome:
    """Verify or reject a vehicle's version as the checker.

    Raises:
        ProblemError: 404 unknown vehicle/version, 409 ``review_own`` (the maker cannot check),
            ``review_done`` (already reviewed), ``review_stale`` (not the current version), 422 bad input.
    """
    tenant_id = require_tenant(principal)
    if decision not in {"verified", "rejected"}:
        raise ProblemError(422, "validation_failed", "数据校验未通过", "复核结论应为 verified 或 rejected")
    text = reason.strip()
    if not text:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            "必须填写复核意见",
            [FieldError(field="reason", code="reason.empty", message="必须填写复核意见")],
        )
    vehicle = await session.scalar(
        select(m.Vehicle).where(m.Vehicle.tenant_id == tenant_id, m.Vehicle.id == vehicle_id).with_for_update()
    )
    if vehicle is None:
        raise not_found("车辆")
    row = await session.scalar(
        select(m.VehicleVersion).where(
            m.VehicleVersion.tenant_id == tenant_id,
            m.VehicleVersion.vehicle_id == vehicle_id,
            m.VehicleVersion.version == version,
        )
    )
    if row is None:
        raise not_found("车辆版本")
    if row.id != vehicle.current_version_id:
        raise ProblemError(409, "review_stale", "版本已过期", f"第 {version} 版已不是当前版本，请复核当前版本")
    if row.created_by == principal.user_id:
        detail = "新建或变更排放阶段的车辆须由另一人复核（双人复核）"
        raise ProblemError(409, "review_own", "不能复核自己录入的数据", detail)
    state = await state_of(session, row)
    if state != "pending":
        raise ProblemError(409, "review_done", "该版本已复核", f"第 {version} 版已是“{REVIEW_LABELS[state]}”状态")
    review = m.VehicleReview(
        tenant_id=tenant_id,
        vehicle_id=vehicle_id,
        version_id=row.id,
        decision=decision,
        reason=text,
        reviewed_by=principal.user_id,
    )
    session.add(review)
    await session.flush()
    audit.record(
        session,
        principal,
        f"vehicle.review_{decision}",
        "vehicle",
        vehicle_id,
        {"version": version, "decision": decision, "reason": text},
    )
    return ReviewOutcome(review, row)


@dataclass(frozen=True)
class PendingVersion:
    """A current version waiting for the checker."""

    vehicle: m.Vehicle
    version: m.VehicleVersion
    changed: list[str]


async def pending(session: AsyncSession, limit: int, offset: int) -> tuple[list[PendingVersion], int]:
    """Current versions awaiting review, oldest first, with what changed against the previous version."""
    query = (
        select(m.Vehicle, m.VehicleVersion)
        .join(
            m.VehicleVersion,
            (m.VehicleVersion.tenant_id == m.Vehicle.tenant_id) & (m.VehicleVersion.id == m.Vehicle.current_version_id),
        )
        .where(m.VehicleVersion.review == "pending", m.VehicleVersion.status == "active")
        .where(
            ~select(m.VehicleReview.id)
            .where(
                m.VehicleReview.tenant_id == m.VehicleVersion.tenant_id,
                m.VehicleReview.version_id == m.VehicleVersion.id,
            )
            .exists()
        )
        .order_by(m.VehicleVersion.created_at, m.VehicleVersion.id)
    )
    rows = list(await session.execute(query))
    total = len(rows)
    out: list[PendingVersion] = []
    for vehicle, version in rows[offset : offset + limit]:
        previous = await session.scalar(
            select(m.VehicleVersion).where(
                m.VehicleVersion.tenant_id == version.tenant_id,
                m.VehicleVersion.vehicle_id == vehicle.id,
                m.VehicleVersion.version == version.version - 1,
            )
        )
        changed = (
            ["新建"]
            if previous is None
            else [f for f in REVIEWED_FIELDS if getattr(previous, f) != getattr(version, f)] or ["重新复核"]
        )
        out.append(PendingVersion(vehicle, version, changed))
    return out, total
