"""The portal's navigation by role and its root URL (issue 19 item 3).

Each menu shows only the pages its reader may open: an item's roles are the very role sets the page
routes check (imported from their modules, not copied), so a role change on a route moves the menu
with it. The layout carries the one 退出 link, pointing at the sign-out of the person's entry
(enterprise ``/logout`` or staff ``/staff/logout``). ``/`` sends a visitor to the right sign-in, or a
signed-in person to the home of their role, instead of the API's JSON 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar import Request, Response, get
from litestar.response import Redirect

from cloud.auth.guards import SESSION_COOKIE, load_session
from cloud.lib.problems import ProblemError
from tenants.context import Principal, Role

__all__ = ["NavItem", "home_of", "logout_of", "menu", "routes"]


@dataclass(frozen=True, slots=True)
class NavItem:
    """One menu entry: where it goes, its Chinese label, who may open it."""

    path: str
    label: str
    roles: frozenset[Role]
    exact: bool = False

    def current(self, request_path: str) -> bool:
        """Whether the page being shown is this item (``aria-current``)."""
        return request_path == self.path if self.exact else request_path.startswith(self.path)


_HOMES: Final = {Role.REGULATOR: "/regulator", Role.PLATFORM_ADMIN: "/admin"}
_MENUS: dict[str, tuple[NavItem, ...]] = {}


def _build() -> dict[str, tuple[NavItem, ...]]:
    """The menus, with the role sets of the routes (imported late: the page modules import this toolkit)."""
    from frontend_api.portal import (  # noqa: PLC0415
        admin,
        billing,
        enterprise_admin,
        enterprise_agents,
        enterprise_audit,
        enterprise_sites,
        enterprise_uplink,
        staff_tenants,
    )
    from frontend_api.portal.toolkit import ENTERPRISE_ROLES  # noqa: PLC0415

    everyone = ENTERPRISE_ROLES
    return {
        "enterprise": (
            NavItem("/portal", "首页", everyone, exact=True),
            NavItem("/portal/ledger", "通行台账", everyone),
            NavItem("/portal/vehicles", "车辆管理", everyone),
            NavItem("/portal/reviews", "待审核", everyone),
            NavItem("/portal/blacklist", "黑名单", everyone),
            NavItem("/portal/reports", "统计报表", everyone),
            NavItem("/portal/carriers", "运输公司", everyone),
            NavItem("/portal/grading", "绩效分级", everyone),
            NavItem("/portal/settings", "管控策略", everyone),
            NavItem("/portal/users", "用户与角色", enterprise_admin.USER_ADMINS),
            NavItem("/portal/uplink", "数据上传", enterprise_uplink.MANAGERS),
            NavItem("/portal/sites", "厂区与道闸", enterprise_sites.MANAGERS),
            NavItem("/portal/agents", "门禁终端", enterprise_agents.VIEWERS),
            NavItem("/portal/audit", "操作日志", enterprise_audit.AUDITORS),
            NavItem("/portal/billing", "账单与发票", billing.READERS),
            NavItem("/portal/account", "我的账户", everyone),
            NavItem(staff_tenants.TENANTS, "切换企业", staff_tenants.INSTALLERS),
        ),
        "regulator": (
            NavItem("/regulator", "辖区企业", frozenset({Role.REGULATOR}), exact=True),
            NavItem("/regulator/wall", "监管大屏", frozenset({Role.REGULATOR}), exact=True),
        ),
        "admin": (
            NavItem("/admin", "运营总览", admin.ADMINS, exact=True),
            NavItem("/admin/tenants/new", "企业开户", admin.ADMINS, exact=True),
            NavItem("/admin/alerts/new", "发布区域预警", admin.ADMINS, exact=True),
            NavItem("/admin/alerts", "预警记录与解除", admin.ADMINS, exact=True),
            NavItem("/admin/installers", "安装人员", admin.ADMINS),
            NavItem("/admin/billing", "订阅与收费", billing.ADMINS),
        ),
    }


def menu(area: str, me: Principal | None) -> list[NavItem]:
    """The items of ``area``'s menu that ``me`` may open (none when signed out)."""
    if not _MENUS:
        _MENUS.update(_build())
    if me is None:
        return []
    return [item for item in _MENUS[area] if me.role in item.roles]


def home_of(role: Role) -> str:
    """The first page of a role (enterprise roles: ``/portal``)."""
    return _HOMES.get(role, "/portal")


def logout_of(me: Principal | None) -> str:
    """The sign-out of the person's entry: staff accounts (installers too) sign in and out at ``/staff``."""
    return "/staff/logout" if me is not None and (me.role in _HOMES or me.role is Role.INSTALLER) else "/logout"


@get("/", include_in_schema=False, opt={"public": True})
async def root(request: Request[Any, Any, Any]) -> Response[Any]:
    """The home of the signed-in person's role, or the enterprise sign-in (which links the staff entry)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        state = request.app.state
        try:
            found = await load_session(state.database, state.settings.auth.session_secret, token)
        except ProblemError:
            pass
        else:
            return Redirect(home_of(found.principal.role), status_code=303)
    return Redirect("/login", status_code=303)


def routes() -> list[Any]:
    """The root redirect."""
    return [root]
