"""Tenant gate-control policies: REGULATION.md §4.4 defaults, tenant overrides, exemption lists and
scheduled activation windows, versioned append-only in ``policy_version``.

A version's JSON is ``{"control": <hj1321.rules.ControlPolicy>, "exemption_members": {list: [plates]}}``.
The control policy carries the rules per warning level (none/黄/橙/红) and performance grade; NEV
are exempt from every stage rule by the model itself (``hj1321.rules``: new-energy fuel never matches
a stage condition); special, hazmat and livelihood vehicles escape the rules that name their list
(``exempt_lists``), and the members of each list are plates kept here (use nature 特种/危险品 also
counts, on the agent). A version with a window (``effective_from``/``effective_until``) is in force
only inside it and wins over the base version; the newest applicable version wins.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance import push
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors, require_tenant
from cloud.lib.problems import FieldError, ProblemError
from hj1321.errors import InvalidValueError
from hj1321.plates import parse_plate
from hj1321.rules import ControlPolicy, default_policy
from tenants.context import Principal


@dataclass(frozen=True)
class PolicyState:
    """The policy in force for a tenant at a moment."""

    control: ControlPolicy
    members: dict[str, list[str]]
    version: m.PolicyVersion | None  # None: the shipped defaults

    @property
    def label(self) -> str:
        """Version text shown to people and sent to agents."""
        return self.control.version


def _decode(doc: Mapping[str, Any]) -> tuple[ControlPolicy, dict[str, list[str]]]:
    control = msgspec.convert(doc.get("control", {}), ControlPolicy)
    members = {str(k): [str(p) for p in v] for k, v in dict(doc.get("exemption_members") or {}).items()}
    return control, members


async def in_force(session: AsyncSession, tenant_id: uuid.UUID, at: dt.datetime | None = None) -> PolicyState:
    """The policy in force at ``at`` (default now): newest open scheduled version, else newest base."""
    moment = at or dt.datetime.now(dt.UTC)
    rows = await session.scalars(
        select(m.PolicyVersion)
        .where(
            m.PolicyVersion.tenant_id == tenant_id,
            or_(m.PolicyVersion.effective_from.is_(None), m.PolicyVersion.effective_from <= moment),
            or_(m.PolicyVersion.effective_until.is_(None), m.PolicyVersion.effective_until > moment),
        )
        .order_by(m.PolicyVersion.version.desc())
    )
    candidates = list(rows)
    scheduled = [r for r in candidates if r.effective_from is not None or r.effective_until is not None]
    chosen = scheduled[0] if scheduled else (candidates[0] if candidates else None)
    if chosen is None:
        return PolicyState(default_policy(), {}, None)
    control, members = _decode(chosen.policy)
    return PolicyState(control, members, chosen)


async def history(session: AsyncSession, tenant_id: uuid.UUID) -> list[m.PolicyVersion]:
    """Every version, newest first."""
    return list(
        await session.scalars(
            select(m.PolicyVersion)
            .where(m.PolicyVersion.tenant_id == tenant_id)
            .order_by(m.PolicyVersion.version.desc())
        )
    )


def compare_with_defaults(control: ControlPolicy) -> list[dict[str, str]]:
    """Each rule's relation to the §4.4 default: ``default``, ``modified``, ``added`` or ``removed``."""
    defaults = {r.id: r for r in default_policy().rules}
    mine = {r.id: r for r in control.rules}
    out = []
    for rule in control.rules:
        base = defaults.get(rule.id)
        state = "added" if base is None else ("default" if base == rule else "modified")
        out.append({"rule_id": rule.id, "title": rule.title, "state": state, "source": rule.source})
    out.extend(
        {"rule_id": r.id, "title": r.title, "state": "removed", "source": r.source}
        for r in default_policy().rules
        if r.id not in mine
    )
    return out


async def save(  # noqa: C901, PLR0912 - one validation checklist
    session: AsyncSession,
    principal: Principal,
    control: ControlPolicy,
    members: Mapping[str, list[str]],
    reason: str,
    effective_from: dt.datetime | None = None,
    effective_until: dt.datetime | None = None,
) -> PolicyState:
    """Write a new policy version and tell the agents.

    Raises:
        ProblemError: 422 for an empty reason, a bad window, unknown exemption lists or bad plates.
    """
    tenant_id = require_tenant(principal)
    errors = FieldErrors()
    text = reason.strip()
    if not text:
        errors.add("reason", "reason.empty", "必须填写修改原因")
    for name, value in (("effective_from", effective_from), ("effective_until", effective_until)):
        if value is not None and value.tzinfo is None:
            errors.add(name, f"{name}.naive", "时间必须带时区")
    if effective_from and effective_until and effective_until <= effective_from:
        errors.add("effective_until", "effective_until.before_from", "生效结束时间必须晚于开始时间")
    if (
        effective_until is not None
        and effective_until.tzinfo is not None
        and effective_until <= dt.datetime.now(dt.UTC)
    ):
        errors.add("effective_until", "effective_until.past", "生效结束时间已过")
    ids = [r.id for r in control.rules]
    if len(ids) != len(set(ids)):
        errors.add("control.rules", "rules.duplicate_id", "规则标识重复")
    for rule in control.rules:
        for name in rule.exempt_lists:
            if name not in control.exemption_lists:
                errors.add("control.rules", "rules.unknown_list", f"规则“{rule.title}”引用了未定义的豁免名单“{name}”")
    clean_members: dict[str, list[str]] = {}
    for name, plates in members.items():
        if name not in control.exemption_lists:
            errors.add("exemption_members", "exemption.unknown_list", f"豁免名单“{name}”未在策略中定义")
            continue
        clean: list[str] = []
        for raw in plates:
            try:
                clean.append(parse_plate(raw).number)
            except InvalidValueError as exc:
                errors.add(f"exemption_members.{name}", exc.code, f"{raw}：{exc.message}")
        clean_members[name] = sorted(set(clean))
    errors.raise_if_any()
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"policy:{tenant_id}", 0))))
    number = (
        await session.scalar(select(func.max(m.PolicyVersion.version)).where(m.PolicyVersion.tenant_id == tenant_id))
        or 0
    ) + 1
    control = msgspec.structs.replace(control, version=f"t{number}")
    row = m.PolicyVersion(
        tenant_id=tenant_id,
        version=number,
        policy={"control": msgspec.to_builtins(control), "exemption_members": clean_members},
        reason=text,
        effective_from=effective_from,
        effective_until=effective_until,
        created_by=principal.user_id,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal,
        "policy.saved",
        "policy_version",
        row.id,
        {
            "version": number,
            "reason": text,
            "effective_from": effective_from.isoformat() if effective_from else None,
            "effective_until": effective_until.isoformat() if effective_until else None,
            "changes": [c for c in compare_with_defaults(control) if c["state"] != "default"],
        },
    )
    await push.notify_agents(session, tenant_id, "policy_updated", {"version": control.version})
    return PolicyState(control, clean_members, row)


def parse_control(raw: object) -> ControlPolicy:
    """Validate a control policy given as JSON builtins.

    Raises:
        ProblemError: 422 ``validation_failed`` naming the offending path.
    """
    try:
        return msgspec.convert(raw, ControlPolicy)
    except msgspec.ValidationError as exc:
        raise ProblemError(
            422,
            "validation_failed",
            "数据校验未通过",
            f"管控策略格式错误：{exc}",
            [FieldError(field="control", code="control.invalid", message=str(exc))],
        ) from exc
