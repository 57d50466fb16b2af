"""操作日志 (issue 19 item 1): the tenant's audit log with filters, for 企业管理员 and 环保管理员.

Reads :func:`cloud.domain.audit.list_entries` (the API's ``ListAuditLog``) in the caller's session.
Actions are shown by their Chinese names (:data:`ACTIONS`, by family when an action is not listed);
the raw action code never reaches the page (issue 19 item 2).
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.params import FromQuery

from cloud.domain import audit, users
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import Me, page_get, render
from tenants.context import Role

__all__ = ["ACTIONS", "AUDITORS", "routes"]

BASE: Final = "/portal/audit"
AUDITORS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
_DENIED: Final = "当前账号（{role}）无权查看操作日志。请联系企业管理员。"
_PAGE: Final = 50
_DAY_FORMAT: Final = "日期格式应为 年-月-日，如 2026-11-28"
#: Families of actions (the filter's choices) by their Chinese names.
FAMILIES: Final = {
    "vehicle.": "车辆台账",
    "blacklist.": "黑名单",
    "policy.": "管控策略",
    "user.": "用户与账号",
    "auth.": "登录安全",
    "site.": "厂区",
    "gate.": "出入口",
    "lane.": "道闸",
    "agent.": "门禁终端",
    "uplink.": "数据上传",
    "report.": "报表导出",
    "inventory.": "车辆盘点",
    "audit_sample.": "抽查",
    "weighbridge.": "地磅",
    "hub.": "自动核查",
    "billing.": "账单",
    "retention.": "数据保存期限",
    "pass.": "通行记录",
    "installer.": "安装人员授权",
}
#: Actions by their Chinese names.
ACTIONS: Final = {
    "site.created": "新建厂区",
    "site.updated": "修改厂区",
    "site.deleted": "删除厂区",
    "gate.created": "新增出入口",
    "gate.updated": "修改出入口",
    "gate.deleted": "删除出入口",
    "lane.created": "新增道闸",
    "lane.updated": "修改道闸",
    "lane.deleted": "删除道闸",
    "lane.roi_set": "设置识别区域",
    "agent.revoked": "吊销终端凭据",
    "agent.rotated": "更换终端凭据",
    "auth.locked": "账号被锁定",
    "auth.login_failed": "登录失败",
    "user.invited": "邀请用户",
    "user.updated": "修改用户",
    "user.password_changed": "修改密码",
    "user.password_reset": "重置密码",
    "user.sessions_ended": "结束登录会话",
    "user.unlocked": "解除登录锁定",
    "vehicle.created": "新增车辆",
    "vehicle.corrected": "更正车辆",
    "vehicle.retired": "注销车辆",
    "vehicle.document_added": "上传证件",
    "vehicle.imported": "批量导入车辆",
    "blacklist.imported": "导入黑名单",
    "blacklist.revoked": "撤销黑名单",
    "blacklist.added": "加入黑名单",
    "policy.saved": "保存管控策略",
    "uplink.resend": "补传",
    "uplink.platform_set": "配置监管平台",
    "report.export_created": "导出报表",
    "inventory.closed": "关闭盘点单",
    "audit_sample.created": "生成抽查样本",
    "weighbridge.pushed": "地磅数据推送",
    "hub.precheck": "上传前核查",
    "hub.checks_ran": "运行自动核查",
    "billing.stage_changed": "账单状态变化",
    "retention.periods_set": "设置保存期限",
    "retention.purged": "清理过期数据",
    "retention.job_files_expired": "导出文件过期删除",
    "installer.granted": "授权安装人员",
    "installer.revoked": "撤销安装人员授权",
}


def role_label(code: str | None) -> str:
    """The Chinese name of the role an action was taken in ("—" for the system)."""
    try:
        return Role(code).label if code else "—"
    except ValueError:
        return "—"


def action_label(code: str) -> str:
    """The Chinese name of an audit action (its family's name when the action is not listed)."""
    if code in ACTIONS:
        return ACTIONS[code]
    family = code.split(".", 1)[0] + "."
    return f"{FAMILIES[family]}操作" if family in FAMILIES else "其他操作"


@page_get(BASE, roles=AUDITORS, denied=_DENIED)
async def audit_page(
    request: Request[Any, Any, Any],
    principal: Me,
    family: FromQuery[str] = "",
    actor: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response[Any]:
    """The audit log, newest first, filtered by kind of action, person and China dates."""
    errors: dict[str, str] = {}
    actor_id: uuid.UUID | None = None
    if actor:
        try:
            actor_id = uuid.UUID(actor)
        except ValueError:
            errors["actor"] = "请选择操作人"
    criteria = audit.AuditFilter(
        action=family if family in FAMILIES else None, actor_id=actor_id, start=start or None, end=end or None
    )
    page = max(1, min(page, 10_000))
    rows: list[Any] = []
    total = 0
    database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        members = await users.list_users(session, principal)
        if not errors:
            try:
                rows, total = await audit.list_entries(session, criteria, _PAGE, (page - 1) * _PAGE)
            except ProblemError as exc:
                names = {"from": "start", "to": "end"}
                errors = {
                    names.get(e.field, "_"): _DAY_FORMAT if e.code.endswith("format") else e.message for e in exc.errors
                } or {"_": exc.detail}
    filters = {"family": family, "actor": actor, "start": start, "end": end}
    return render(
        request,
        "enterprise/audit.html",
        principal=principal,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, (total + _PAGE - 1) // _PAGE),
        families=FAMILIES,
        members=members,
        filters=filters,
        query=lambda p: urlencode({**filters, "page": p}),
        action_label=action_label,
        role_label=role_label,
        errors=errors,
    )


def routes() -> list[Any]:
    """The audit log page."""
    return [audit_page]
