"""黑名单 (issue 19 item 1): the tenant's blacklist, one entry by hand, revocation, and the regulator's list imported
from Excel or CSV with a report per row.

Every write goes through :mod:`cloud.compliance.blacklist` (validation, duplicates, audit, the push that
tells every agent). The import report shows each row's number, plate, outcome and the Chinese reasons of
a refused row; "只检查不导入" checks the file without writing. Everyone of the enterprise reads the list;
企业管理员 and 环保管理员 change it.
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from urllib.parse import urlencode

import structlog
from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from cloud.compliance import blacklist
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import (
    ENTERPRISE_ROLES,
    STALE,
    Me,
    csrf_ok,
    field_errors,
    page_get,
    page_post,
    read_form,
    render,
)
from tenants.context import Principal, Role

__all__ = ["EDITORS", "routes"]

log = structlog.get_logger(__name__)

BASE: Final = "/portal/blacklist"
EDITORS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
_DENIED: Final = "当前账号（{role}）无权修改黑名单。请联系企业管理员或环保管理员。"
_PAGE: Final = 50
_STATUS: Final = {"imported": "已导入", "skipped": "已在名单中，跳过", "error": "有错误，未导入", "valid": "检查通过"}
_DONE: Final = {"added": "已加入黑名单，门禁终端将立即收到更新。", "revoked": "已撤销，门禁终端将立即收到更新。"}


async def _page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    plate: str = "",
    show: str = "active",
    page: int = 1,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    report: Any = None,
    status_code: int = 200,
) -> Response[Any]:
    database = request.app.state.database
    page = max(1, min(page, 10_000))
    async with database.session(principal) as session, session.begin():
        rows, total = await blacklist.list_entries(
            session, show != "all", plate.strip() or None, _PAGE, (page - 1) * _PAGE
        )
    return render(
        request,
        "enterprise/blacklist.html",
        status_code=status_code,
        principal=principal,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, (total + _PAGE - 1) // _PAGE),
        filters={"plate": plate, "show": show},
        query=lambda p: urlencode({"plate": plate, "show": show, "page": p}),
        sources=blacklist.SOURCES,
        statuses=_STATUS,
        can_edit=principal.role in EDITORS,
        notice=notice,
        form=form or {},
        errors=errors or {},
        report=report,
    )


@page_get(BASE, roles=ENTERPRISE_ROLES)
async def blacklist_page(
    request: Request[Any, Any, Any],
    principal: Me,
    plate: FromQuery[str] = "",
    show: FromQuery[str] = "active",
    page: FromQuery[int] = 1,
    done: FromQuery[str] = "",
) -> Response[Any]:
    """The list (in force or all, by plate), the add form, revocation and the import form."""
    return await _page(request, principal, plate=plate, show=show, page=page, notice=_DONE.get(done, ""))


@page_post(BASE, roles=EDITORS, denied=_DENIED)
async def add_entry(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Add one plate (the plant's own list)."""
    form = await read_form(request, "plate", "plate_colour", "reason", "valid_until")
    form["form"] = "add"
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    values = {k: form[k] for k in ("plate", "plate_colour", "reason", "valid_until") if form[k]}
    database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await blacklist.add(session, principal, values, "enterprise")
    except ProblemError as exc:
        errors = field_errors(exc)
        if exc.status == 409:
            errors = {"plate": exc.detail}
        return await _page(request, principal, form=form, errors=errors, status_code=exc.status)
    log.info("portal.blacklist_added", by=principal.login)
    return Redirect(f"{BASE}?done=added", status_code=303)


@page_post(f"{BASE}/{{entry_id:uuid}}/revoke", roles=EDITORS, denied=_DENIED)
async def revoke_entry(request: Request[Any, Any, Any], principal: Me, entry_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Revoke an entry with a reason."""
    form = await read_form(request, "reason")
    form["form"] = f"revoke:{entry_id}"
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    if not form["reason"]:
        return await _page(request, principal, form=form, errors={"reason": "请填写撤销原因"}, status_code=422)
    database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await blacklist.revoke(session, principal, entry_id, form["reason"])
    except ProblemError as exc:
        return await _page(request, principal, form=form, errors={"reason": exc.detail}, status_code=exc.status)
    return Redirect(f"{BASE}?done=revoked", status_code=303)


@page_post(f"{BASE}/import", roles=EDITORS, denied=_DENIED)
async def import_list(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Import a list file; the answer is the report of every row."""
    raw = await request.form()
    form = {
        "form": "import",
        "csrf": str(raw.get("csrf") or ""),
        "source": str(raw.get("source") or "regulator"),
        "list_name": str(raw.get("list_name") or "").strip()[:100],
        "dry_run": "1" if raw.get("dry_run") else "",
    }
    if not csrf_ok(request, form):
        return await _page(request, principal, form=form, errors=STALE, status_code=400)
    upload = raw.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(
            request, principal, form=form, errors={"file": "请选择要导入的 Excel 或 CSV 文件"}, status_code=422
        )
    content = await upload.read(request.app.state.settings.blobs.max_bytes + 1)
    source = form["source"] if form["source"] in blacklist.SOURCES else "regulator"
    database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            report = await blacklist.import_file(
                session,
                principal,
                content,
                upload.filename,
                source,
                form["list_name"] or None,
                dry_run=bool(form["dry_run"]),
            )
    except ProblemError as exc:
        return await _page(request, principal, form=form, errors={"file": exc.detail}, status_code=422)
    log.info("portal.blacklist_imported", counts=report.counts, by=principal.login)
    return await _page(request, principal, form=form, report=report, status_code=200)


def routes() -> list[Any]:
    """The blacklist page and its forms."""
    return [blacklist_page, add_entry, revoke_entry, import_list]
