"""Vehicle pages (issue 9): three categories, create/correct, documents, Excel/QR import, approvals, inventory.

Every page runs in the signed-in person's own session (``Database.session(principal)``: the app role
under RLS, tenant from the session token) and calls the same domain services as the JSON API
(``cloud.domain.vehicles``/``documents``, ``cloud.compliance.vehicle_import``/``qr``/``reviews``/
``inventory``). Writes follow the API's roles: writers (``Principal.can_write``) create, correct,
upload and import; only tenant admins and managers approve (双人复核, never one's own version) — others
get a Chinese 403 page. Bad input re-renders the form with the message next to the field and
writes nothing; a success redirects (303) to a page showing a confirmation.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any, Final
from urllib.parse import urlencode

import structlog
from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy import select

from cloud.blobs import from_state
from cloud.compliance import inventory, qr, reviews, vehicle_import
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import documents, vehicles
from cloud.lib.problems import ProblemError
from frontend_api.portal.toolkit import (
    ENTERPRISE_ROLES,
    STALE,
    Me,
    csrf_ok,
    csrf_token,
    field_errors,
    page_get,
    page_post,
    render,
)
from hj1321.vehicles import VehicleCategory
from tenants.context import WRITER_ROLES, Principal, Role

__all__ = ["routes"]

log = structlog.get_logger(__name__)

BASE: Final = "/portal/vehicles"
CATEGORIES: Final = {c.value: c.label for c in VehicleCategory}
#: Who approves vehicle versions (the JSON API's REVIEWERS).
REVIEWERS: Final = frozenset({Role.TENANT_ADMIN, Role.MANAGER})
#: Who may change vehicles (the enterprise roles among the writers).
WRITERS: Final = WRITER_ROLES & ENTERPRISE_ROLES
_CORRECT_DENIED: Final = "当前账号无权更正车辆信息"
_CLOSE_DENIED: Final = "只有企业管理员和环保管理员可以关闭盘点单"
STATUSES: Final = {
    "pending": "待审核",
    "verified": "已审核通过",
    "rejected": "已驳回",
    "retired": "已注销",
}
_LIFECYCLE: Final = {"retired": "retired", "pending": "active", "verified": "active", "rejected": "active"}
_PAGE: Final = 50
_DATES: Final = ("register_date", "production_date")
_INTS: Final = ("total_mass_kg", "rated_load_kg")
_HINTS: Final = {
    "plate": "如 鄂A12345",
    "plate_colour": "蓝色 / 黄色 / 绿色 / 黄绿色",
    "vin": "17 位",
    "emission_stage": "如 国六 / 国五 / 第四阶段",
    "fuel_type": "如 柴油 / 汽油 / 电 / 天然气",
    "register_date": "如 2024-05-01",
    "production_date": "如 2024-05-01",
    "total_mass_kg": "千克，整数",
    "rated_load_kg": "千克，整数",
}


def _fields_of(category: str) -> list[tuple[str, str, str]]:
    allowed = vehicles.CATEGORY_FIELDS[category]
    return [
        (name, vehicles.FIELD_LABELS[name], _HINTS.get(name, ""))
        for name in vehicles.DATA_FIELDS
        if name in allowed and name != "extra"
    ]


def _not_found(request: Request[Any, Any, Any], principal: Principal) -> Response[Any]:
    return render(request, "enterprise/not_found.html", status_code=404, principal=principal)


def _typed(form: dict[str, str], names: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the typed strings into the values the domain validates (dates, integers); blank = None."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        raw = form.get(name, "").strip()
        if not raw:
            data[name] = None
        elif name in _DATES:
            try:
                data[name] = dt.date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"{vehicles.FIELD_LABELS[name]}格式应为 YYYY-MM-DD"
        elif name in _INTS:
            try:
                data[name] = int(raw)
            except ValueError:
                errors[name] = f"{vehicles.FIELD_LABELS[name]}应为整数（千克）"
        else:
            data[name] = raw
    return data, errors


async def _logins(session: Any, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await session.execute(select(m.UserAccount.id, m.UserAccount.login).where(m.UserAccount.id.in_(wanted)))
    return {uid: str(login) for uid, login in rows}


# List ---------------------------------------------------------------------------------------------


@page_get(BASE, roles=ENTERPRISE_ROLES)
async def vehicle_list(
    request: Request[Any, Any, Any],
    principal: Me,
    category: FromQuery[str] = "transport",
    plate: FromQuery[str] = "",
    status: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response[Any]:
    """The three ledgers as tabs; search by plate and approval status; 50 a page."""
    if category not in CATEGORIES:
        category = "transport"
    if status not in STATUSES:
        status = ""
    page = max(1, min(page, 10_000))
    database: Database = request.app.state.database
    criteria = vehicles.VehicleFilter(
        category,
        plate.strip() or None,
        None,
        None,
        "retired" if status == "retired" else ("active" if status else None),
        status if status in {"pending", "verified", "rejected"} else None,  # filtered in the database
    )
    error = ""
    items: list[dict[str, Any]] = []
    total = 0
    async with database.session(principal) as session, session.begin():
        try:
            rows, total = await vehicles.search_vehicles(session, criteria, _PAGE, (page - 1) * _PAGE)
        except ProblemError as exc:
            rows, error = [], exc.detail
        state = await reviews.states(session, [v for _, v in rows])
        for vehicle, version in rows:
            review = state.get(version.id, version.review)
            items.append({"vehicle": vehicle, "version": version, "review": review, "labels": vehicles.labels(version)})
    return render(
        request,
        "enterprise/vehicles/list.html",
        principal=principal,
        categories=CATEGORIES,
        statuses=STATUSES,
        review_labels=reviews.REVIEW_LABELS,
        category=category,
        plate=plate,
        status=status,
        items=items,
        total=total,
        error=error,
        page=page,
        pages=max(1, -(-total // _PAGE)),
        can_write=principal.can_write,
    )


# Create -------------------------------------------------------------------------------------------


@page_get(f"{BASE}/new", roles=WRITERS, denied="当前账号无权新增车辆")
async def vehicle_new(
    request: Request[Any, Any, Any], principal: Me, category: FromQuery[str] = "transport"
) -> Response[Any]:
    """The create form of one category (fields may be prefilled from a QR read via the query string)."""
    if category not in CATEGORIES:
        category = "transport"
    form = {k: v for k, v in request.query_params.items() if k in vehicles.DATA_FIELDS}
    return _create_page(request, principal, category, form, {})


def _create_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    category: str,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response[Any]:
    return render(
        request,
        "enterprise/vehicles/new.html",
        status_code=status_code,
        principal=principal,
        category=category,
        categories=CATEGORIES,
        fields=_fields_of(category),
        network=vehicles.NETWORK_STATUSES,
        form=form,
        errors=errors,
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/new", roles=WRITERS, denied="当前账号无权新增车辆")
async def vehicle_create(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Create a vehicle (version 1, pending approval) with the reason given."""
    raw = await request.form()
    category = str(raw.get("category") or "transport")
    if category not in CATEGORIES:
        category = "transport"
    names = [f for f, _, _ in _fields_of(category)]
    form = {k: str(raw.get(k) or "").strip() for k in (*names, "reason")}
    if not csrf_ok(request, raw.get("csrf")):
        return _create_page(request, principal, category, form, STALE, 400)
    data, errors = _typed(form, names)
    if not form["reason"]:
        errors["reason"] = "必须填写原因"
    if errors:  # show every field's problem at once: the domain's checks of the rest too
        try:
            vehicles.validate(category, {k: v for k, v in data.items() if k not in errors})
        except ProblemError as exc:
            errors = {**field_errors(exc), **errors}
        errors.pop("_", None)
        return _create_page(request, principal, category, form, errors, 422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            detail = await vehicles.create_vehicle(session, principal, category, data, form["reason"])
    except ProblemError as exc:
        return _create_page(request, principal, category, form, field_errors(exc), 422 if exc.status == 422 else 409)
    log.info("portal.vehicle_created", vehicle_id=str(detail.vehicle.id), by=principal.login)
    return Redirect(f"{BASE}/{detail.vehicle.id}?notice=created", status_code=303)


# Detail, correction, documents --------------------------------------------------------------------

_NOTICES: Final = {
    "created": "车辆已新增，等待另一名管理人员审核。",
    "corrected": "更正已保存为新版本。",
    "uploaded": "证件照片已上传。",
    "reviewed": "审核结论已保存。",
    "retired": "车辆已注销（保存为新版本）。",
    "qr": "已按随车清单二维码更正（新版本）。",
}


@page_get(f"{BASE}/{{vehicle_id:uuid}}", roles=ENTERPRISE_ROLES)
async def vehicle_detail(
    request: Request[Any, Any, Any], principal: Me, vehicle_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """A vehicle: current data, version history (who and why), documents, correction and upload forms."""
    return await _detail_page(request, principal, vehicle_id)


async def _detail_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    vehicle_id: uuid.UUID,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        try:
            detail = await vehicles.get_vehicle(session, vehicle_id)
        except ProblemError:
            return _not_found(request, principal)
        state = await reviews.states(session, detail.versions)
        verdicts = {
            r.version_id: r
            for r in await session.scalars(
                select(m.VehicleReview).where(
                    m.VehicleReview.vehicle_id == vehicle_id,
                    m.VehicleReview.tenant_id == detail.vehicle.tenant_id,
                )
            )
        }
        people = await _logins(
            session,
            {v.created_by for v in detail.versions}
            | {d.created_by for d in detail.documents}
            | {r.reviewed_by for r in verdicts.values()},
        )
    current = detail.current
    category = detail.vehicle.category
    return render(
        request,
        "enterprise/vehicles/detail.html",
        status_code=status_code,
        principal=principal,
        detail=detail,
        vehicle=detail.vehicle,
        current=current,
        labels=vehicles.labels(current),
        category_label=CATEGORIES[category],
        fields=_fields_of(category),
        data=vehicles.version_data(current),
        history=list(reversed(detail.versions)),
        state=state,
        verdicts=verdicts,
        people=people,
        review_labels=reviews.REVIEW_LABELS,
        doc_kinds=vehicles.DOCUMENT_KINDS,
        missing=detail.missing_documents,
        network=vehicles.NETWORK_STATUSES,
        can_write=principal.can_write and current.status == "active",
        can_review=principal.role in REVIEWERS
        and state[current.id] == "pending"
        and current.status == "active"
        and current.created_by != principal.user_id,
        form=form or {},
        errors=errors or {},
        notice=_NOTICES.get(request.query_params.get("notice", ""), ""),
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/{{vehicle_id:uuid}}/corrections", roles=WRITERS, denied=_CORRECT_DENIED)
async def vehicle_correct(
    request: Request[Any, Any, Any], principal: Me, vehicle_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """A correction: a new version with who and why; blank fields keep their value unless ticked to clear."""
    raw = await request.form()
    form = {k: str(v).strip() for k, v in raw.items() if isinstance(v, str)}
    clear = {str(v) for v in raw.getall("clear", [])} if hasattr(raw, "getall") else set()
    if not csrf_ok(request, raw.get("csrf")):
        return await _detail_page(request, principal, vehicle_id, form=form, errors=STALE, status_code=400)
    names = [n for n in vehicles.DATA_FIELDS if n != "extra"]
    data, errors = _typed(form, names)
    changes: dict[str, Any] = {k: v for k, v in data.items() if v is not None}
    changes.update(dict.fromkeys(clear & set(names)))
    if not form.get("reason"):
        errors["reason"] = "必须填写更正原因"
    if not errors and not changes:
        errors["_"] = "请填写要更正的项目"
    if errors:
        return await _detail_page(request, principal, vehicle_id, form=form, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await vehicles.correct_vehicle(session, principal, vehicle_id, changes, form["reason"])
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return await _detail_page(request, principal, vehicle_id, form=form, errors=field_errors(exc), status_code=422)
    log.info("portal.vehicle_corrected", vehicle_id=str(vehicle_id), by=principal.login)
    return Redirect(f"{BASE}/{vehicle_id}?notice=corrected", status_code=303)


@page_post(f"{BASE}/{{vehicle_id:uuid}}/documents", roles=WRITERS, denied="当前账号无权上传证件")
async def vehicle_upload(
    request: Request[Any, Any, Any], principal: Me, vehicle_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Attach a document photo (随车清单, 行驶证, nameplates …) through the API's document service."""
    raw = await request.form()
    kind = str(raw.get("kind") or "")
    form = {"kind": kind}
    if not csrf_ok(request, raw.get("csrf")):
        return await _detail_page(request, principal, vehicle_id, form=form, errors=STALE, status_code=400)
    upload = raw.get("file")
    errors: dict[str, str] = {}
    if kind not in vehicles.DOCUMENT_KINDS:
        errors["kind"] = "请选择证件类型"
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = "请选择要上传的文件"
    if errors or not isinstance(upload, UploadFile):
        return await _detail_page(request, principal, vehicle_id, form=form, errors=errors, status_code=422)
    max_bytes: int = request.app.state.settings.blobs.max_bytes
    content = await upload.read(max_bytes + 1)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await documents.add_document(
                session,
                principal,
                from_state(request.app.state),
                vehicle_id,
                kind,
                documents.Upload(upload.filename or "", upload.content_type or "", content),
                max_bytes,
            )
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return await _detail_page(request, principal, vehicle_id, form=form, errors=field_errors(exc), status_code=422)
    return Redirect(f"{BASE}/{vehicle_id}?notice=uploaded#documents", status_code=303)


@page_post(f"{BASE}/{{vehicle_id:uuid}}/retire", roles=WRITERS, denied=_CORRECT_DENIED)
async def vehicle_retire(
    request: Request[Any, Any, Any], principal: Me, vehicle_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Retire (注销) a vehicle: a new version with status ``retired``, who and why."""
    return await _version_action(request, principal, vehicle_id, "retire")


@page_post(f"{BASE}/{{vehicle_id:uuid}}/qr", roles=WRITERS, denied=_CORRECT_DENIED)
async def vehicle_apply_qr(
    request: Request[Any, Any, Any], principal: Me, vehicle_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Fill VIN, model, engine and emission stage from the 随车清单 QR code (photo or text) as a correction."""
    return await _version_action(request, principal, vehicle_id, "qr")


async def _version_action(  # noqa: C901, PLR0912 - one answer per kind of bad input
    request: Request[Any, Any, Any], principal: Principal, vehicle_id: uuid.UUID, action: str
) -> Response[Any]:
    raw = await request.form()
    prefix = "retire_" if action == "retire" else "qr_"
    form = {f"{prefix}reason": str(raw.get("reason") or "").strip(), "qr_payload": str(raw.get("payload") or "")}
    if not csrf_ok(request, raw.get("csrf")):
        return await _detail_page(request, principal, vehicle_id, form=form, errors=STALE, status_code=400)
    reason = form[f"{prefix}reason"]
    errors: dict[str, str] = {}
    if not reason:
        errors[f"{prefix}reason"] = "必须填写原因"
    payload = form["qr_payload"].strip()
    if action == "qr":
        image = raw.get("image")
        try:
            if isinstance(image, UploadFile) and image.filename:
                payload = qr.decode_image(await image.read(request.app.state.settings.blobs.max_bytes + 1))
        except ProblemError as exc:
            errors["qr_payload"] = exc.detail
        if not payload and "qr_payload" not in errors:
            errors["qr_payload"] = "请上传二维码图片或填写二维码内容"
    if errors:
        return await _detail_page(request, principal, vehicle_id, form=form, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            if action == "retire":
                await vehicles.retire_vehicle(session, principal, vehicle_id, reason)
            else:
                result = qr.parse_payload(payload[: qr.MAX_PAYLOAD + 1])
                if not result.ok:
                    message = "；".join(e.message for e in result.errors) or "二维码中没有可用的字段"
                    return await _detail_page(
                        request, principal, vehicle_id, form=form, errors={"qr_payload": message}, status_code=422
                    )
                detail = await vehicles.get_vehicle(session, vehicle_id)
                allowed = vehicles.CATEGORY_FIELDS[detail.vehicle.category]
                changes = {k: v for k, v in result.fields.items() if k in allowed}
                await vehicles.correct_vehicle(session, principal, vehicle_id, changes, reason)
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        errors = (
            {("qr_payload" if action == "qr" else f"{prefix}reason"): exc.detail}
            if not exc.errors
            else field_errors(exc)
        )
        if action == "qr":
            errors = {"qr_payload": "；".join(errors.values())}
        return await _detail_page(request, principal, vehicle_id, form=form, errors=errors, status_code=422)
    log.info("portal.vehicle_version_action", action=action, vehicle_id=str(vehicle_id), by=principal.login)
    notice = "retired" if action == "retire" else "qr"
    return Redirect(f"{BASE}/{vehicle_id}?notice={notice}", status_code=303)


# Approvals ----------------------------------------------------------------------------------------


@page_get(f"{BASE}/reviews", roles=ENTERPRISE_ROLES)
async def review_queue(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Pending vehicle versions (new vehicles, changed stages), oldest first, with approve/reject forms."""
    return await _queue_page(request, principal)


async def _queue_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        rows, total = await reviews.pending(session, 200, 0)
        people = await _logins(session, {p.version.created_by for p in rows})
    coded = {p.version.id: vehicles.labels(p.version) for p in rows}
    return render(
        request,
        "enterprise/vehicles/reviews.html",
        status_code=status_code,
        principal=principal,
        rows=rows,
        total=total,
        coded=coded,
        people=people,
        categories=CATEGORIES,
        field_labels={**vehicles.FIELD_LABELS, "新建": "新建车辆", "重新复核": "重新复核"},
        can_review=principal.role in REVIEWERS,
        form=form or {},
        errors=errors or {},
        notice="审核结论已保存。" if request.query_params.get("notice") == "reviewed" else "",
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/{{vehicle_id:uuid}}/reviews", roles=REVIEWERS, denied="只有企业管理员和环保管理员可以审核车辆")
async def review_submit(  # noqa: C901 - one answer per kind of bad input
    request: Request[Any, Any, Any], principal: Me, vehicle_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Approve or reject a version (a reason is required to reject); never one's own version."""
    from cloud.compliance import push  # noqa: PLC0415

    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("decision", "reason", "version", "back")}
    form["vehicle_id"] = str(vehicle_id)
    back_to_detail = form["back"] == "detail"

    async def again(errors: dict[str, str], code: int) -> Response[Any]:
        if back_to_detail:
            return await _detail_page(request, principal, vehicle_id, form=form, errors=errors, status_code=code)
        return await _queue_page(request, principal, form=form, errors=errors, status_code=code)

    if not csrf_ok(request, raw.get("csrf")):
        return await again(STALE, 400)
    errors: dict[str, str] = {}
    if form["decision"] not in {"verified", "rejected"}:
        errors["decision"] = "请选择通过或驳回"
    if form["decision"] == "rejected" and not form["reason"]:
        errors["reason"] = "驳回必须填写原因"
    if not form["version"].isdigit():
        errors["_"] = "版本号无效，请刷新页面"
    if errors:
        return await again(errors, 422)
    reason = form["reason"] or "审核通过"
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            done = await reviews.review_version(
                session, principal, vehicle_id, int(form["version"]), form["decision"], reason
            )
            await push.notify_agents(
                session, done.review.tenant_id, "registry_updated", {"version": str(done.review.id)}
            )
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return await again(field_errors(exc) if exc.errors else {"_": exc.detail}, 409 if exc.status == 409 else 422)
    log.info("portal.vehicle_reviewed", vehicle_id=str(vehicle_id), decision=form["decision"], by=principal.login)
    if back_to_detail:
        return Redirect(f"{BASE}/{vehicle_id}?notice=reviewed", status_code=303)
    return Redirect(f"{BASE}/reviews?notice=reviewed", status_code=303)


# Excel import and QR ------------------------------------------------------------------------------


@page_get(f"{BASE}/import", roles=WRITERS, denied="当前账号无权导入车辆")
async def import_form(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """The import form, the template download and the QR reader."""
    return _import_page(request, principal)


def _import_page(
    request: Request[Any, Any, Any], principal: Principal, status_code: int = 200, **context: Any
) -> Response[Any]:
    context.setdefault("form", {})
    context.setdefault("errors", {})
    return render(
        request,
        "enterprise/vehicles/import.html",
        status_code=status_code,
        principal=principal,
        categories=CATEGORIES,
        csrf=csrf_token(request),
        **context,
    )


@page_get(f"{BASE}/import/template.xlsx", roles=ENTERPRISE_ROLES)
async def import_template(category: FromQuery[str] = "transport") -> Response[Any]:
    """An Excel template: the Chinese column names the importer reads, with one example row."""
    import openpyxl  # noqa: PLC0415

    if category not in CATEGORIES:
        category = "transport"
    names = [f for f, _, _ in _fields_of(category)]
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = CATEGORIES[category]
    sheet.append(["台账类别", *(vehicles.FIELD_LABELS[n] for n in names), "原因"])
    example = {
        "transport": {
            "plate": "鄂A12345",
            "plate_colour": "黄色",
            "vin": "LZZ1CLVB8MA123456",
            "emission_stage": "国六",
        },
        "in_plant": {"internal_code": "CN001", "vin": "LZZ1CLVB8MA654321", "emission_stage": "国五"},
        "nrmm": {"env_reg_code": "42A1234567", "pin": "PIN0001", "emission_stage": "第四阶段"},
    }[category] | {"fuel_type": "柴油"}
    sheet.append([CATEGORIES[category], *(example.get(n, "") for n in names), "批量导入"])
    out = io.BytesIO()
    book.save(out)
    filename = f"vehicle-import-{category}.xlsx"
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@page_post(f"{BASE}/import", roles=WRITERS, denied="当前账号无权导入车辆")
async def import_submit(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Import the file all-or-nothing: any bad row → every row's errors shown, nothing written."""
    raw = await request.form()
    category = str(raw.get("category") or "")
    form = {"category": category, "dry_run": "1" if raw.get("dry_run") else ""}
    if not csrf_ok(request, raw.get("csrf")):
        return _import_page(request, principal, 400, form=form, errors=STALE)
    upload = raw.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_page(request, principal, 422, form=form, errors={"file": "请选择要导入的 Excel 或 CSV 文件"})
    content = await upload.read(request.app.state.settings.blobs.max_bytes + 1)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            report = await vehicle_import.import_file(
                session,
                principal,
                content,
                upload.filename,
                category if category in CATEGORIES else None,
                dry_run=bool(form["dry_run"]),
                all_or_nothing=True,
            )
    except ProblemError as exc:
        return _import_page(request, principal, 422, form=form, errors={"file": exc.detail})
    failed = any(r.status == "error" for r in report.rows)
    log.info("portal.vehicles_imported", counts=report.counts, by=principal.login)
    return _import_page(
        request,
        principal,
        422 if failed else 200,
        form=form,
        report=report,
        failed=failed,
        field_labels=vehicles.FIELD_LABELS,
        filename=upload.filename,
    )


@page_post(f"{BASE}/qr", roles=WRITERS, denied="当前账号无权导入车辆")
async def qr_read(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Read a 随车清单 QR code (photo or text) into ledger fields; nothing is written."""
    raw = await request.form()
    payload = str(raw.get("payload") or "").strip()
    form = {"payload": payload, "qr_category": str(raw.get("qr_category") or "transport")}
    if not csrf_ok(request, raw.get("csrf")):
        return _import_page(request, principal, 400, form=form, errors=STALE)
    image = raw.get("image")
    try:
        if isinstance(image, UploadFile) and image.filename:
            payload = qr.decode_image(await image.read(request.app.state.settings.blobs.max_bytes + 1))
        elif not payload:
            return _import_page(
                request, principal, 422, form=form, errors={"image": "请上传二维码图片或填写二维码内容"}
            )
    except ProblemError as exc:
        return _import_page(request, principal, 422, form=form, errors={"image": exc.detail})
    result = qr.parse_payload(payload[: qr.MAX_PAYLOAD + 1])
    category = form["qr_category"] if form["qr_category"] in CATEGORIES else "transport"
    allowed = vehicles.CATEGORY_FIELDS[category]
    prefill = {
        k: (v.isoformat() if isinstance(v, dt.date) else str(v)) for k, v in result.fields.items() if k in allowed
    }
    return _import_page(
        request,
        principal,
        200 if result.ok else 422,
        form=form,
        qr_result=result,
        qr_fields=[(vehicles.FIELD_LABELS.get(k, k), v) for k, v in prefill.items()],
        qr_errors=[e.message for e in result.errors],
        qr_link=f"{BASE}/new?{urlencode({'category': category, **prefill})}",
    )


# Inventory ----------------------------------------------------------------------------------------

SCOPE_LABELS: Final = inventory.SCOPE_LABELS


@page_get(f"{BASE}/inventories", roles=ENTERPRISE_ROLES)
async def inventory_list(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Count sheets of in-plant vehicles and machinery, newest first, with the form to open one."""
    return await _inventory_page(request, principal)


async def _inventory_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        sheets, total = await inventory.list_sheets(session, 100, 0)
    return render(
        request,
        "enterprise/vehicles/inventories.html",
        status_code=status_code,
        principal=principal,
        sheets=sheets,
        total=total,
        scopes=SCOPE_LABELS,
        can_write=principal.can_write,
        form=form or {},
        errors=errors or {},
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/inventories", roles=WRITERS, denied="当前账号无权发起盘点")
async def inventory_create(request: Request[Any, Any, Any], principal: Me) -> Response[Any]:
    """Open a count sheet listing every active ledger vehicle of the scope."""
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("title", "scope", "note")}
    if not csrf_ok(request, raw.get("csrf")):
        return await _inventory_page(request, principal, form=form, errors=STALE, status_code=400)
    errors: dict[str, str] = {}
    if len(form["title"]) > 100:
        errors["title"] = "盘点名称不能超过 100 字"
    if len(form["note"]) > 200:
        errors["note"] = "备注不能超过 200 字"
    if errors:
        return await _inventory_page(request, principal, form=form, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            view = await inventory.create(session, principal, form["title"], form["scope"], None, form["note"])
    except ProblemError as exc:
        return await _inventory_page(request, principal, form=form, errors=field_errors(exc), status_code=422)
    return Redirect(f"{BASE}/inventories/{view.sheet.id}?notice=created", status_code=303)


@page_get(f"{BASE}/inventories/{{sheet_id:uuid}}", roles=ENTERPRISE_ROLES)
async def inventory_view(
    request: Request[Any, Any, Any], principal: Me, sheet_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """One count sheet: its lines and the differences (missing, unregistered, uncounted), count and close forms."""
    return await _sheet_page(request, principal, sheet_id)


_SHEET_NOTICES: Final = {"created": "盘点单已创建。", "counted": "盘点结果已保存。", "closed": "盘点单已关闭。"}


async def _sheet_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    sheet_id: uuid.UUID,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    database: Database = request.app.state.database
    async with database.session(principal) as session, session.begin():
        try:
            view = await inventory.get(session, sheet_id)
        except ProblemError:
            return _not_found(request, principal)
    return render(
        request,
        "enterprise/vehicles/inventory.html",
        status_code=status_code,
        principal=principal,
        view=view,
        scopes=SCOPE_LABELS,
        categories=CATEGORIES,
        can_write=principal.can_write and view.sheet.status == "open",
        can_close=principal.role in REVIEWERS and view.sheet.status == "open",
        form=form or {},
        errors=errors or {},
        notice=_SHEET_NOTICES.get(request.query_params.get("notice", ""), ""),
        csrf=csrf_token(request),
    )


@page_post(f"{BASE}/inventories/{{sheet_id:uuid}}/counts", roles=WRITERS, denied="当前账号无权录入盘点结果")
async def inventory_counts(
    request: Request[Any, Any, Any], principal: Me, sheet_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Record what was found on site (在场 / 未找到, note); an identifier not on the sheet becomes 台账外."""
    raw = await request.form()
    form = {k: str(v).strip() for k, v in raw.items() if isinstance(v, str)}
    if not csrf_ok(request, raw.get("csrf")):
        errors = STALE
        return await _sheet_page(request, principal, sheet_id, form=form, errors=errors, status_code=400)
    counts: list[inventory.Count] = []
    errors = {}
    for key, value in form.items():
        if key.startswith("present:") and value in {"1", "0"}:
            ident = key.removeprefix("present:")
            counts.append(inventory.Count(ident, value == "1", form.get(f"note:{ident}", "")[:200]))
    extra = form.get("extra_identifier", "")
    if extra:
        if len(extra) > 64:
            errors["extra_identifier"] = "编号不能超过 64 个字符"
        counts.append(inventory.Count(extra, present=True, note=form.get("extra_note", "")[:200]))
    if not counts and not errors:
        errors["_"] = "请至少选择一项盘点结果，或填写现场发现的台账外车辆"
    if errors:
        return await _sheet_page(request, principal, sheet_id, form=form, errors=errors, status_code=422)
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await inventory.record_counts(session, principal, sheet_id, counts)
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return await _sheet_page(request, principal, sheet_id, form=form, errors=field_errors(exc), status_code=422)
    return Redirect(f"{BASE}/inventories/{sheet_id}?notice=counted", status_code=303)


@page_post(f"{BASE}/inventories/{{sheet_id:uuid}}/close", roles=REVIEWERS, denied=_CLOSE_DENIED)
async def inventory_close(
    request: Request[Any, Any, Any], principal: Me, sheet_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Close the sheet: every line counted, every difference with its follow-up (整改措施)."""
    raw = await request.form()
    form = {k: str(v).strip() for k, v in raw.items() if isinstance(v, str)}
    if not csrf_ok(request, raw.get("csrf")):
        errors = STALE
        return await _sheet_page(request, principal, sheet_id, form=form, errors=errors, status_code=400)
    follow_ups = {k.removeprefix("follow:"): v[:200] for k, v in form.items() if k.startswith("follow:") and v}
    database: Database = request.app.state.database
    try:
        async with database.session(principal) as session, session.begin():
            await inventory.close(session, principal, sheet_id, follow_ups)
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        errors = {f"line:{e.field}": e.message for e in exc.errors} or {"_": exc.detail}
        errors.setdefault("_", exc.detail)
        return await _sheet_page(request, principal, sheet_id, form=form, errors=errors, status_code=422)
    return Redirect(f"{BASE}/inventories/{sheet_id}?notice=closed", status_code=303)


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return [
        vehicle_list,
        vehicle_new,
        vehicle_create,
        vehicle_detail,
        vehicle_correct,
        vehicle_upload,
        vehicle_retire,
        vehicle_apply_qr,
        review_queue,
        review_submit,
        import_form,
        import_template,
        import_submit,
        qr_read,
        inventory_list,
        inventory_create,
        inventory_view,
        inventory_counts,
        inventory_close,
    ]
