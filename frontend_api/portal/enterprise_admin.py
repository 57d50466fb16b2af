"""Users and roles, invitations, password reset, policy and emergency settings (issue 9).

Pages of an enterprise's administration, each calling the same domain services as the JSON API
(``frontend_api/api/users.py``, ``auth.py``, ``compliance.py``) in the signed-in person's own
session (RLS, tenant from the session token):

- ``/portal/users`` (企业管理员 only, like ``ListUsers``/``InviteUser``/``UpdateUser``/
  ``ResetUserPassword``): list, invite, change role, disable/enable, reset a password. A one-time
  password is shown exactly once on the answer page (``Cache-Control: no-store``), never stored in
  clear and never put in a redirect URL.
- ``/portal/account``: change my own password (``POST /auth/password`` logic); the first page after
  signing in with a one-time password. ``/forgot-password`` explains that the enterprise
  administrator resets passwords (there is no e-mail or SMS service).
- ``/portal/settings``: the emergency level in force with its source and history, and the control
  policy by warning level (REGULATION.md §4.4 defaults, §3.10 strategies); ``/portal/settings/policy``
  edits it (企业管理员 and 环保管理员, like ``SavePolicy``) with a mandatory reason.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Final

import msgspec
import structlog
from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from cloud.compliance import emergency, policy, service
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import users
from cloud.lib.problems import ProblemError
from frontend_api.portal.enterprise import HOME_PATH
from frontend_api.portal.toolkit import (
    CHINA,
    ENTERPRISE_ROLES,
    STALE,
    Me,
    csrf_ok,
    csrf_token,
    field_errors,
    page_get,
    page_post,
    read_form,
    render,
)
from hj1321.emission import EmissionStage
from hj1321.grading import PerformanceGrade, WarningLevel
from hj1321.rules import ControlPolicy, ControlRule, RuleAction, UnknownVehicleAction, default_policy
from tenants.context import Principal, Role

__all__ = ["routes"]

log = structlog.get_logger(__name__)

USERS_PATH: Final = f"{HOME_PATH}/users"
ACCOUNT_PATH: Final = f"{HOME_PATH}/account"
SETTINGS_PATH: Final = f"{HOME_PATH}/settings"
POLICY_PATH: Final = f"{SETTINGS_PATH}/policy"
FORGOT_PATH: Final = "/forgot-password"

#: Who manages users (the JSON API's ``TENANT_ADMIN_ONLY``).
USER_ADMINS: Final = frozenset({Role.TENANT_ADMIN})
#: Who edits the control policy (the JSON API's ``REVIEWERS`` on ``SavePolicy``).
POLICY_EDITORS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
#: Roles a tenant administrator may hand out, in the order of the select.
INVITABLE: Final = (Role.TENANT_ADMIN, Role.MANAGER, Role.GUARD, Role.VIEWER)
#: The JSON API's ``Login`` constraint (``frontend_api/api/users.py``).
_LOGIN_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{2,63}$")
#: The password form's fields.
_OLD, _NEW, _AGAIN = "old_password", "new_password", "new_password2"
_NO_STORE: Final = {"Cache-Control": "no-store"}
_USERS_DENIED: Final = "当前账号（{role}）无权访问“用户与角色”。如需开通，请联系本企业的企业管理员。"
_POLICY_DENIED: Final = "当前账号（{role}）无权访问“修改管控策略”。如需开通，请联系本企业的企业管理员。"
_LEVELS: Final = (WarningLevel.NONE, WarningLevel.YELLOW, WarningLevel.ORANGE, WarningLevel.RED)
_ALERT_LEVELS: Final = (WarningLevel.YELLOW, WarningLevel.ORANGE, WarningLevel.RED)
#: Stages a level minimum may require (§3.10: some cities require 国五/国六 heavy trucks in red).
_MIN_STAGES: Final = (EmissionStage.CN3, EmissionStage.CN4, EmissionStage.CN5, EmissionStage.CN6)
_MAX_CAP: Final = 100_000
_ALERT_SOURCES: Final = {"platform": "平台发布的区域预警", "regulator": "监管平台下发的区域预警"}
_STATE_LABELS: Final = {"default": "默认", "modified": "已修改", "added": "新增", "removed": "已删除"}
_DONE: Final = {
    "role": "已修改“{login}”的角色。",
    "disabled": "已停用“{login}”，该账号无法再登录。",
    "enabled": "已启用“{login}”。",
    "unlocked": "已解除“{login}”的登录锁定。",
    "signed_out": "已结束“{login}”的全部登录会话。",
    "password": "密码已修改。",
    "policy": "管控策略已保存为新版本，门禁终端将立即收到更新。",
}


# Helpers -----------------------------------------------------------------------------------------


def _done(request: Request[Any, Any, Any]) -> str:
    key = request.query_params.get("done", "")
    login = request.query_params.get("login", "")[:64]
    template = _DONE.get(key)
    return template.format(login=login) if template else ""


# Users and roles ---------------------------------------------------------------------------------


@page_get(USERS_PATH, roles=USER_ADMINS, denied=_USERS_DENIED)
async def users_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Every account of the enterprise with its role; invite, change role, disable, reset a password."""
    return await _users_page(request, principal, notice=_done(request))


async def _users_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    row_errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        members = await users.list_users(session, principal)
    return render(
        request,
        "enterprise/admin/users.html",
        status_code=status_code,
        principal=principal,
        members=members,
        roles=INVITABLE,
        form=form or {},
        errors=errors or {},
        row_errors=row_errors or {},
        notice=notice,
        csrf=csrf_token(request),
    )


def _invite_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["login"]:
        errors["login"] = "请填写登录名"
    elif not _LOGIN_RE.match(form["login"]):
        errors["login"] = "登录名为 3～64 位字母、数字或 _ . @ -，且以字母或数字开头"
    if not form["display_name"]:
        errors["display_name"] = "请填写姓名"
    elif len(form["display_name"]) > 64:  # the API's DisplayName bound
        errors["display_name"] = "姓名不能超过 64 个字"
    if form["role"] not in {r.value for r in INVITABLE}:
        errors["role"] = "请选择企业管理员、环保管理员、门岗或只读用户"
    return errors


@page_post(USERS_PATH, roles=USER_ADMINS, denied=_USERS_DENIED)
async def invite_user(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Invite a user: the one-time password is shown once, on the answer page only."""
    raw = await read_form(request)
    form = {k: raw.get(k, "").strip() for k in ("login", "display_name", "role")}
    if not csrf_ok(request, raw):
        return await _users_page(request, principal, form=form, errors=STALE, status_code=400)
    errors = _invite_errors(form)
    if errors:
        return await _users_page(request, principal, form=form, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            issued = await users.invite_user(
                session, principal, form["login"], form["display_name"], Role(form["role"])
            )
    except ProblemError as exc:
        return await _users_page(request, principal, form=form, errors=field_errors(exc), status_code=exc.status)
    log.info("portal.user_invited", login=form["login"], role=form["role"], by=principal.login)
    return _issued_page(request, principal, issued, invited=True)


def _issued_page(
    request: Request[Any, Any, Any], principal: Principal, issued: users.IssuedPassword, *, invited: bool
) -> Response[Any]:
    response = render(
        request,
        "enterprise/admin/issued.html",
        principal=principal,
        account=issued.user.account,
        role=issued.user.role,
        password=issued.temporary_password,
        invited=invited,
    )
    response.headers.update(_NO_STORE)
    return response


@page_post(f"{USERS_PATH}/{{user_id:uuid}}", roles=USER_ADMINS, denied=_USERS_DENIED)
async def update_user(request: Request[Any, Any, Any], principal: Me, user_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Change a member's role, disable / enable the account, lift its login lockout or end its sessions.

    ``action`` = role | disable | enable | unlock | signout (the last two: issue 17, cloud/auth).
    """
    raw = await read_form(request)
    key = str(user_id)
    if not csrf_ok(request, raw):
        return await _users_page(request, principal, row_errors={key: "页面已过期，请刷新后重新提交"}, status_code=400)
    action = raw.get("action", "")
    role: Role | None = None
    active: bool | None = None
    if action == "role":
        if raw.get("role") not in {r.value for r in INVITABLE}:
            return await _users_page(request, principal, row_errors={key: "请选择有效的角色"}, status_code=422)
        role = Role(raw["role"])
    elif action in {"disable", "enable"}:
        active = action == "enable"
    elif action in {"unlock", "signout"}:
        return await _session_action(request, principal, user_id, action)
    else:
        return await _users_page(request, principal, row_errors={key: "未知的操作"}, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            changed = await users.update_user(session, principal, user_id, role=role, is_active=active)
    except ProblemError as exc:
        message = "；".join(e.message for e in exc.errors) or exc.detail
        return await _users_page(request, principal, row_errors={key: message}, status_code=exc.status)
    done = "role" if action == "role" else ("enabled" if active else "disabled")
    log.info("portal.user_updated", user_id=key, action=action, by=principal.login)
    return Redirect(f"{USERS_PATH}?done={done}&login={changed.account.login}", status_code=303)


async def _session_action(
    request: Request[Any, Any, Any], principal: Principal, user_id: uuid.UUID, action: str
) -> Response[Any]:
    """Lift a member's login lockout or end all of its sessions (audited in cloud.domain.users)."""
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            if action == "unlock":
                await users.unlock(session, principal, user_id)
            else:
                await users.end_sessions(session, principal, user_id)
            account = await session.get(m.UserAccount, user_id)
            login = account.login if account is not None else ""
    except ProblemError as exc:
        return await _users_page(request, principal, row_errors={str(user_id): exc.detail}, status_code=exc.status)
    log.info("portal.user_sessions", user_id=str(user_id), action=action, by=principal.login)
    done = "unlocked" if action == "unlock" else "signed_out"
    return Redirect(f"{USERS_PATH}?done={done}&login={login}", status_code=303)


@page_post(f"{USERS_PATH}/{{user_id:uuid}}/password-reset", roles=USER_ADMINS, denied=_USERS_DENIED)
async def reset_password(request: Request[Any, Any, Any], principal: Me, user_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Issue a new one-time password for a member (shown once; it must be changed at the next sign-in)."""
    raw = await read_form(request)
    key = str(user_id)
    if not csrf_ok(request, raw):
        return await _users_page(request, principal, row_errors={key: "页面已过期，请刷新后重新提交"}, status_code=400)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            issued = await users.reset_password(session, principal, user_id)
    except ProblemError as exc:
        return await _users_page(request, principal, row_errors={key: exc.detail}, status_code=exc.status)
    log.info("portal.password_reset", user_id=key, by=principal.login)
    return _issued_page(request, principal, issued, invited=False)


# My account --------------------------------------------------------------------------------------


@page_get(ACCOUNT_PATH, roles=ENTERPRISE_ROLES)
async def account_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Change my own password (the first page after signing in with a one-time password)."""
    return await _account_page(request, principal, notice=_done(request))


async def _account_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    self_scope = Principal(principal.user_id, Role.VIEWER, principal.tenant_id, None, principal.login)
    async with database.session(self_scope) as session, session.begin():
        account = await session.get(m.UserAccount, principal.user_id)
    return render(
        request,
        "enterprise/admin/account.html",
        status_code=status_code,
        principal=principal,
        account=account,
        must_change=bool(account and account.must_change_password),
        errors=errors or {},
        notice=notice,
        csrf=csrf_token(request),
    )


@page_post(ACCOUNT_PATH, roles=ENTERPRISE_ROLES)
async def change_password(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Check the old password, the new one's length and its confirmation; errors next to the fields."""
    raw = await read_form(request)
    if not csrf_ok(request, raw):
        return await _account_page(request, principal, errors=STALE, status_code=400)
    old, new, again = raw.get("old_password", ""), raw.get("new_password", ""), raw.get("new_password2", "")
    errors: dict[str, str] = {}
    if not old:
        errors[_OLD] = "请填写原密码"
    if not new:
        errors[_NEW] = "请填写新密码"
    elif len(new) > 128:  # the API's Password bound
        errors[_NEW] = "新密码不能超过 128 位"
    elif new == old:
        errors[_NEW] = "新密码不能与原密码相同"
    if new and again != new:
        errors[_AGAIN] = "两次输入的新密码不一致"
    if errors:
        return await _account_page(request, principal, errors=errors, status_code=422)
    try:
        # Every other session of the account ends; this one stays (cloud/auth/sessions.py).
        keep = getattr(request.state, "session_id", None)
        await users.change_own_password(request.app.state.database, principal, old, new, keep_session=keep)
    except ProblemError as exc:
        return await _account_page(request, principal, errors=field_errors(exc), status_code=exc.status)
    log.info("portal.password_changed", login=principal.login)
    return Redirect(f"{ACCOUNT_PATH}?done=password", status_code=303)


@get(FORGOT_PATH, include_in_schema=False, opt={"public": True})
async def forgot_password(request: Request[Any, Any, Any]) -> Response[Any]:
    """Explain how a forgotten password is reset (by the enterprise administrator; no e-mail service)."""
    return render(request, "enterprise/admin/forgot.html")


# Policy and emergency ----------------------------------------------------------------------------


def _labels(values: Any, *, empty: str = "不限") -> str:
    return "、".join(v.label for v in values) or empty


def _conditions(rule: ControlRule) -> str:
    """The vehicles a rule matches, in Chinese."""
    match = rule.match
    parts = []
    if match.categories:
        parts.append(_labels(match.categories))
    if match.heavy_truck is not None:
        parts.append("重型货车" if match.heavy_truck else "非重型车辆")
    if match.fuels:
        parts.append(f"燃料：{_labels(match.fuels)}")
    if match.stage_at_most is not None:
        parts.append(f"{match.stage_at_most.label}及以下（新能源除外）")
    if match.plate_colours:
        parts.append(f"号牌颜色：{_labels(match.plate_colours)}")
    if match.blacklisted is not None:
        parts.append("黑名单车辆" if match.blacklisted else "非黑名单车辆")
    if match.registered is not None:
        parts.append("已登记车辆" if match.registered else "未登记车辆")
    if rule.time_window is not None:
        days = "、".join(f"周{'一二三四五六日'[d - 1]}" for d in rule.time_window.weekdays) or "每天"
        parts.append(f"时段：{days} {rule.time_window.start}–{rule.time_window.end}")
    return "；".join(parts) or "所有车辆"


def _grades(rule: ControlRule) -> str:
    if not rule.grades:
        return "所有企业"
    text = _labels(rule.grades)
    return f"{text}及未评级企业" if rule.ungraded else text


def _applies_to(rule: ControlRule, grade: PerformanceGrade | None) -> bool:
    """Whether an enabled rule concerns a plant of ``grade`` (time windows and the small-unit claim aside)."""
    if not rule.enabled:
        return False
    return not rule.grades or (grade in rule.grades if grade is not None else rule.ungraded)


def _rule_view(
    rule: ControlRule, control: ControlPolicy, states: dict[str, str], grade: PerformanceGrade | None = None
) -> dict[str, Any]:
    return {
        "applies": _applies_to(rule, grade),
        "id": rule.id,
        "title": rule.title,
        "grades": _grades(rule),
        "conditions": _conditions(rule),
        "action": rule.action.label,
        "refuse": rule.action is RuleAction.REFUSE,
        "exempt": "、".join(control.exemption_lists.get(n, n) for n in rule.exempt_lists) or "—",
        "enabled": rule.enabled,
        "small_unit": rule.small_unit_exemptible,
        "state": _STATE_LABELS.get(states.get(rule.id, ""), ""),
        "message": rule.message,
        "source": rule.source,
    }


def _by_level(control: ControlPolicy, grade: PerformanceGrade | None) -> list[dict[str, Any]]:
    """The rules table grouped by warning level (a rule without levels applies at every level)."""
    states = {c["rule_id"]: c["state"] for c in policy.compare_with_defaults(control)}
    groups = []
    for level in _LEVELS:
        minimum = control.min_heavy_stage_by_level.get(level)
        cap = control.daily_heavy_cap_by_level.get(level)
        groups.append(
            {
                "level": level.value,
                "label": level.label,
                "response": emergency.LEVEL_LABELS[level.value],
                "rules": [
                    _rule_view(r, control, states, grade) for r in control.rules if not r.levels or level in r.levels
                ],
                "minimum": f"重型货车须{minimum.label}及以上或新能源" if minimum else "",
                "cap": f"每日进厂重型货车不超过 {cap} 辆次" if cap is not None else "",
            }
        )
    return groups


@page_get(SETTINGS_PATH, roles=ENTERPRISE_ROLES)
async def settings_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The emergency level in force (source, history) and the control policy by warning level."""
    tenant_id = principal.tenant_id
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        tenant = await session.get(m.Tenant, tenant_id)
        if tenant is None or tenant_id is None:
            return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
        state = await policy.in_force(session, tenant_id)
        versions = await policy.history(session, tenant_id)
        alerts = await service.emergency_alerts(session, tenant_id)
        responses, total = await emergency.responses(session, 50, 0)
        removed = [c for c in policy.compare_with_defaults(state.control) if c["state"] == "removed"]
    level = alerts[0].level if alerts else "none"
    return render(
        request,
        "enterprise/admin/settings.html",
        principal=principal,
        tenant=tenant,
        grade=_grade_label(tenant.grade),
        level=level,
        level_label=emergency.LEVEL_LABELS[level],
        alerts=alerts,
        sources=_ALERT_SOURCES,
        level_labels=emergency.LEVEL_LABELS,
        responses=responses,
        responses_total=total,
        state=state,
        groups=_by_level(state.control, _grade(tenant.grade)),
        removed=removed,
        versions=versions,
        unknown_label=state.control.unknown_vehicle.label,
        can_edit=principal.role in POLICY_EDITORS,
        notice=_done(request),
    )


def _grade(code: str | None) -> PerformanceGrade | None:
    try:
        return PerformanceGrade(code) if code else None
    except ValueError:
        return None


def _grade_label(code: str | None) -> str:
    grade = _grade(code)
    return grade.label if grade else (code or "未评级")


def _policy_form(control: ControlPolicy, members: dict[str, list[str]]) -> dict[str, str]:
    """The edit form's values for a policy (what the page shows before any edit)."""
    form: dict[str, str] = {
        "unknown_vehicle": control.unknown_vehicle.value,
        "small_unit_exempt": "1" if control.small_unit_exempt else "",
        "reason": "",
        "effective_from": "",
        "effective_until": "",
    }
    for position, rule in enumerate(control.rules, start=1):
        form[f"rule_{rule.id}_enabled"] = "1" if rule.enabled else ""
        form[f"rule_{rule.id}_action"] = rule.action.value
        form[f"rule_{rule.id}_order"] = str(position)
    for level in _ALERT_LEVELS:
        stage = control.min_heavy_stage_by_level.get(level)
        cap = control.daily_heavy_cap_by_level.get(level)
        form[f"min_stage_{level.value}"] = stage.value if stage else ""
        form[f"cap_{level.value}"] = "" if cap is None else str(cap)
    for name in control.exemption_lists:
        form[f"members_{name}"] = "\n".join(members.get(name, []))
    return form


async def _policy_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    tenant_id = principal.tenant_id
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        if tenant_id is None:
            return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
        state = await policy.in_force(session, tenant_id)
    control = state.control
    compared = policy.compare_with_defaults(control)
    states = {c["rule_id"]: c["state"] for c in compared}
    return render(
        request,
        "enterprise/admin/policy.html",
        removed=[c for c in compared if c["state"] == "removed"],
        status_code=status_code,
        principal=principal,
        state=state,
        rules=[_rule_view(r, control, states) for r in control.rules],
        levels=_ALERT_LEVELS,
        stages=_MIN_STAGES,
        actions=list(RuleAction),
        unknown_actions=list(UnknownVehicleAction),
        exemption_lists=control.exemption_lists,
        form=form if form is not None else _policy_form(control, state.members),
        errors=errors or {},
        csrf=csrf_token(request),
    )


@page_get(POLICY_PATH, roles=POLICY_EDITORS, denied=_POLICY_DENIED)
async def policy_page(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The policy edit form (企业管理员 and 环保管理员)."""
    return await _policy_page(request, principal)


def _parse_local(value: str, field: str, errors: dict[str, str]) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=CHINA)
    except ValueError:
        errors[field] = "时间格式应为 YYYY-MM-DD HH:MM（北京时间）"
        return None


def _arrange(rules: list[ControlRule], form: dict[str, str], errors: dict[str, str]) -> list[ControlRule]:
    """Remove the ticked rules, put the rest in the order typed (排序), restore a removed default, add a copy."""
    kept: list[tuple[int, int, ControlRule]] = []
    for index, rule in enumerate(rules):
        if form.get(f"rule_{rule.id}_remove") == "1":
            continue
        raw = form.get(f"rule_{rule.id}_order", "").strip() or str(index + 1)
        if not raw.isdigit() or not 1 <= int(raw) <= 999:
            errors[f"rule_{rule.id}_order"] = "排序请填写 1～999 的整数"
            raw = str(index + 1)
        kept.append((int(raw), index, rule))
    arranged = [rule for _, _, rule in sorted(kept, key=lambda k: (k[0], k[1]))]
    ids = {r.id for r in rules}
    restore = form.get("restore", "")
    if restore:
        default = next((r for r in default_policy().rules if r.id == restore), None)
        if default is None or restore in ids:
            errors["restore"] = "请选择已删除的默认规则"
        else:
            arranged.append(default)
    source_id = form.get("new_from", "")
    if source_id:
        base = next((r for r in rules if r.id == source_id), None)
        title = form.get("new_title", "").strip()
        levels = tuple(lv for lv in _ALERT_LEVELS if form.get(f"new_level_{lv.value}") == "1")
        if base is None:
            errors["new_from"] = "请选择要复制的规则"
        elif not title or len(title) > 100:
            errors["new_title"] = "请填写新规则名称（最多 100 个字）"
        else:
            n = 1 + sum(1 for r in rules if r.id.startswith("custom_"))
            while f"custom_{n}" in ids:
                n += 1
            arranged.append(
                msgspec.structs.replace(base, id=f"custom_{n}", title=title, levels=levels or base.levels, source="")
            )
    return arranged


def _apply_form(control: ControlPolicy, form: dict[str, str], errors: dict[str, str]) -> ControlPolicy:
    """The policy with the form's changes; parse errors go to ``errors`` by form field."""
    rules = []
    for rule in control.rules:
        action = form.get(f"rule_{rule.id}_action", rule.action.value)
        if action not in {a.value for a in RuleAction}:
            errors[f"rule_{rule.id}_action"] = "请选择“拦截”或“放行并标记”"
            action = rule.action.value
        enabled = form.get(f"rule_{rule.id}_enabled") == "1"
        rules.append(msgspec.structs.replace(rule, action=RuleAction(action), enabled=enabled))
    rules = _arrange(rules, form, errors)
    minimum: dict[WarningLevel, EmissionStage] = {}
    caps: dict[WarningLevel, int] = {}
    for level in _ALERT_LEVELS:
        stage = form.get(f"min_stage_{level.value}", "")
        if stage:
            if stage not in {s.value for s in _MIN_STAGES}:
                errors[f"min_stage_{level.value}"] = "请选择国三至国六之一，或“不限”"
            else:
                minimum[level] = EmissionStage(stage)
        cap = form.get(f"cap_{level.value}", "").strip()
        if cap:
            if not cap.isdigit() or int(cap) > _MAX_CAP:
                errors[f"cap_{level.value}"] = f"请填写 0～{_MAX_CAP} 的整数（辆次），不限则留空"
            else:
                caps[level] = int(cap)
    unknown = form.get("unknown_vehicle", control.unknown_vehicle.value)
    if unknown not in {u.value for u in UnknownVehicleAction}:
        errors["unknown_vehicle"] = "请选择未登记车辆的处理方式"
        unknown = control.unknown_vehicle.value
    return msgspec.structs.replace(
        control,
        rules=tuple(rules),
        unknown_vehicle=UnknownVehicleAction(unknown),
        small_unit_exempt=form.get("small_unit_exempt") == "1",
        min_heavy_stage_by_level=minimum,
        daily_heavy_cap_by_level=caps,
    )


@page_post(POLICY_PATH, roles=POLICY_EDITORS, denied=_POLICY_DENIED)
async def save_policy(
    request: Request[Any, Any, Any],
    principal: Me,
) -> Response[Any]:
    """Save a new policy version with the reason (and an optional window); errors next to the fields."""
    form = await read_form(request)
    if not csrf_ok(request, form):
        return await _policy_page(request, principal, form=form, errors=STALE, status_code=400)
    tenant_id = principal.tenant_id
    if tenant_id is None:
        return render(request, "enterprise/not_found.html", status_code=404, principal=principal)
    errors: dict[str, str] = {}
    reason = form.get("reason", "").strip()
    if not reason:
        errors["reason"] = "必须填写修改原因"
    elif len(reason) > 200:  # the API's Reason bound
        errors["reason"] = "修改原因不能超过 200 个字"
    start = _parse_local(form.get("effective_from", "").strip(), "effective_from", errors)
    end = _parse_local(form.get("effective_until", "").strip(), "effective_until", errors)
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        current = await policy.in_force(session, tenant_id)
    control = _apply_form(current.control, form, errors)
    members = {
        name: [p.strip() for p in re.split(r"[\s,，;；]+", form.get(f"members_{name}", "")) if p.strip()]
        for name in control.exemption_lists
    }
    if errors:
        return await _policy_page(request, principal, form=form, errors=errors, status_code=422)
    rename = {f"exemption_members.{n}": f"members_{n}" for n in control.exemption_lists}
    try:
        async with database.session(principal) as session, session.begin():
            saved = await policy.save(session, principal, control, members, reason, start, end)
    except ProblemError as exc:
        return await _policy_page(
            request, principal, form=form, errors=field_errors(exc, rename), status_code=exc.status
        )
    log.info("portal.policy_saved", version=saved.label, by=principal.login)
    return Redirect(f"{SETTINGS_PATH}?done=policy", status_code=303)


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return [
        users_page,
        invite_user,
        update_user,
        reset_password,
        account_page,
        change_password,
        forgot_password,
        settings_page,
        policy_page,
        save_policy,
    ]
