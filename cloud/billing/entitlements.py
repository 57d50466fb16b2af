"""Plan limits on gated management actions (issue 22): a Chinese Problem Details answer with the upgrade link.

Gated (called by the handlers of these actions, inside their write transaction):

==========================  ==========================================================================
action                      refused when
==========================  ==========================================================================
``add_site``                sites ≥ the plan's (or purchased) sites, or the account is restricted
``add_lane``                lanes ≥ the plan's (or purchased) lanes, or the account is restricted
``enroll_agent``            agents + open enrollment codes ≥ the plan's agents, or restricted
``export_format``           a format beyond csv/xlsx (``pdf``) not in the plan, or restricted
``regulator_profile``       a profile beyond the first that would exceed the plan's regulator profiles
==========================  ==========================================================================

Never gated, whatever the plan or dunning stage (ADR 0033): ingest, gate decisions, the regulator uplink
(and configuring the tenant's first regulator profile), the regulator's reads, the tenant's own ledger
and its csv/xlsx exports. This module is not imported by cloud/ledger, cloud/hub, cloud/uplink or agent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing import service
from cloud.db import models as m
from cloud.lib.problems import ProblemError
from tenants.context import Principal

UPGRADE_URL: Final = service.BILLING_PAGE


class Action(StrEnum):
    """A gated management action."""

    ADD_SITE = "add_site"
    ADD_LANE = "add_lane"
    ENROLL_AGENT = "enroll_agent"
    EXPORT_FORMAT = "export_format"
    REGULATOR_PROFILE = "regulator_profile"


LABELS: Final = {
    Action.ADD_SITE: "新增厂区",
    Action.ADD_LANE: "新增车道",
    Action.ENROLL_AGENT: "注册门禁终端",
    Action.EXPORT_FORMAT: "导出格式",
    Action.REGULATOR_PROFILE: "监管平台协议",
}


class EntitlementError(ProblemError):
    """402: the plan does not include this, or the account is restricted; carries the upgrade link."""

    def __init__(self, code: str, title: str, detail: str) -> None:
        super().__init__(402, code, title, f"{detail}（升级或付款：{UPGRADE_URL}）")
        self.upgrade_url = UPGRADE_URL
        self.headers = {"Link": f'<{UPGRADE_URL}>; rel="payment"'}


def _limit(what: str, plan: str, limit: int, used: int, unit: str) -> EntitlementError:
    return EntitlementError(
        "plan_limit_reached",
        "超出套餐额度",
        f"当前套餐（{plan}）最多可{what} {limit} {unit}，已使用 {used} {unit}。请升级套餐或增加购买数量",
    )


def _restricted(action: Action) -> EntitlementError:
    return EntitlementError(
        "billing_restricted",
        "账户已受限",
        f"账单逾期未付，{LABELS[action]}等管理功能已暂停；门禁、台账与监管上报照常运行。请付款后重试",
    )


async def _never_gated(
    session: AsyncSession, principal: Principal, action: Action, export_format: str, profile: str, *, adds_profile: bool
) -> bool:
    if principal.tenant_id is None:
        return True
    if action is Action.EXPORT_FORMAT and export_format in service.ALWAYS_EXPORT_FORMATS:
        return True  # the tenant's own ledger in csv/xlsx: never gated, not even read
    if action is Action.REGULATOR_PROFILE:
        existing = set((await session.scalars(select(m.UplinkPlatform.profile))).all())
        if not existing or profile in existing or not adds_profile:
            return True  # the first profile (a legal duty), the one configured and a replacement are never gated
    return False


async def require(
    session: AsyncSession,
    principal: Principal,
    action: Action,
    *,
    export_format: str = "",
    profile: str = "",
    adds_profile: bool = False,
) -> None:
    """Refuse ``action`` when the tenant's plan or dunning stage does not allow it (402 Problem Details).

    Call inside the action's own transaction, before its write. Staff acting without a tenant are not
    checked (they act through a tenant's scope when they do act for one). ``adds_profile``: the regulator
    profile is held beside the ones configured (False: it replaces them, as ``PUT /uplink/platform`` does
    today with its one platform per tenant, so the count does not grow and nothing is refused).
    """
    if await _never_gated(session, principal, action, export_format, profile, adds_profile=adds_profile):
        return
    assert principal.tenant_id is not None
    found = await service.standing(session, principal.tenant_id)  # read-only: a management action writes no billing
    plan, limits, used = found.plan_name, found.limits, found.usage
    if found.stage == "restricted":
        raise _restricted(action)
    _check_limits(action, plan, limits, used, export_format)


def _check_limits(action: Action, plan: str, limits: service.Limits, used: dict[str, int], export_format: str) -> None:
    if action is Action.ADD_SITE and used["sites"] >= limits.sites:
        raise _limit("使用厂区", plan, limits.sites, used["sites"], "个")
    if action is Action.ADD_LANE and used["lanes"] >= limits.lanes:
        raise _limit("使用车道", plan, limits.lanes, used["lanes"], "条")
    if action is Action.ENROLL_AGENT and used["agents"] >= limits.agents:
        raise _limit("注册门禁终端", plan, limits.agents, used["agents"], "台")
    if action is Action.EXPORT_FORMAT and export_format not in limits.export_formats:
        raise EntitlementError(
            "plan_limit_reached",
            "超出套餐额度",
            f"当前套餐（{plan}）不含 {export_format.upper()} 导出；台账的 CSV/Excel 导出始终可用。请升级套餐",
        )
    if action is Action.REGULATOR_PROFILE and used["regulator_profiles"] + 1 > limits.regulator_profiles:
        raise _limit("接入监管平台协议", plan, limits.regulator_profiles, used["regulator_profiles"], "种")
