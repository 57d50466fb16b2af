"""RFC 9457 Problem Details: one error type for the domain and the handlers that render it.

Every error a person or a client sees carries a machine ``code`` and a Chinese ``title``/``detail``;
validation errors list each offending field in ``errors`` (ARCHITECTURE.md "Conventions").
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE, HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError, IntegrityError

from hj1321.errors import InvalidValueError

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True):
    """One offending input field."""

    field: str
    code: str
    message: str


class ProblemError(Exception):
    """A domain error that becomes a Problem Details response."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str = "",
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail or title}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail or title
        self.errors = errors or []


def not_found(what: str = "对象") -> ProblemError:
    """404 for an object that does not exist or is not the caller's to see (they are indistinguishable)."""
    return ProblemError(404, "not_found", "未找到", f"{what}不存在或无权访问")


def forbidden(detail: str = "当前账号无权执行此操作") -> ProblemError:
    """403 for an authenticated caller without the right role."""
    return ProblemError(403, "forbidden", "无权操作", detail)


def invalid_field(field: str, err: InvalidValueError) -> ProblemError:
    """422 for a value that breaks a rule of the regulation's vocabulary."""
    return ProblemError(
        422,
        "validation_failed",
        "数据校验未通过",
        f"字段 {field}：{err.message}",
        [FieldError(field=field, code=err.code, message=err.message)],
    )


def _body(status: int, code: str, title: str, detail: str, instance: str, errors: list[FieldError]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://ecogate.cn/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    if errors:
        body["errors"] = [msgspec.structs.asdict(e) for e in errors]
    return body


def _response(request: Request[Any, Any, Any], problem: ProblemError) -> Response[dict[str, Any]]:
    body = _body(problem.status, problem.code, problem.title, problem.detail, request.url.path, problem.errors)
    headers: dict[str, str] | None = getattr(problem, "headers", None)  # e.g. Retry-After on a 429
    return Response(content=body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


_AT = re.compile(r"at `\$\.?([^`]*)`")


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    errors: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", ""))
        key = str(item.get("key") or "")
        match = _AT.search(message)
        field = key or (match.group(1) if match else "body")
        errors.append(FieldError(field=field or "body", code="invalid", message=_translate(message)))
    return errors


def _translate(message: str) -> str:
    """Render msgspec/litestar validation messages in Chinese, keeping the technical part."""
    replacements = (
        ("Expected", "类型应为"),
        ("got", "实际为"),
        ("Object missing required field", "缺少必填字段"),
        ("Object contains unknown field", "包含未知字段"),
        ("Invalid enum value", "取值不在代码表中"),
        ("Expected `str` of length <=", "字符串过长，最多"),
        ("Expected `str` of length >=", "字符串过短，至少"),
        ("Missing required", "缺少必填参数"),
        ("JSON is malformed", "JSON 格式错误"),
    )
    for en, zh in replacements:
        message = message.replace(en, zh)
    return message


#: SQLSTATEs of a value the database refuses (issue 17): numeric_value_out_of_range,
#: character_not_in_repertoire (NUL in text), untranslatable_character (a NUL escape in jsonb).
_OUT_OF_RANGE = frozenset({"22003"})
_BAD_CHARACTER = frozenset({"22021", "22P05"})


def _database_problem(exc: DBAPIError) -> ProblemError | None:
    """The Problem Details of a database error the caller caused (None: a server error)."""
    if isinstance(exc, IntegrityError):
        log.warning("integrity error", error=str(exc.orig))
        return ProblemError(409, "conflict", "数据冲突", "数据与已有记录冲突（重复或引用不存在）")
    if "row-level security" in str(exc.orig):
        return forbidden("无权写入该租户的数据")
    return _refused_value(exc)


def _refused_value(exc: DBAPIError) -> ProblemError | None:
    """A 422 for a value its column cannot hold; the transaction is rolled back, nothing was written.

    ``cloud.lib.limits`` refuses such input before the handler where it can (JSON, forms, the query);
    this covers the rest (multipart fields, integers inside 64 bits but past an ``integer`` column).
    """
    state = str(getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None) or "")
    text = str(exc.orig)
    if state in _OUT_OF_RANGE or "out of int" in text or "out of range" in text:
        return ProblemError(
            422,
            "value_out_of_range",
            "数值超出范围",
            "数值超出允许范围",
            [FieldError(field="body", code="out_of_range", message="数值超出允许范围")],
        )
    if state in _BAD_CHARACTER or "0x00" in text:
        return ProblemError(
            422,
            "input_control_character",
            "输入包含非法字符",
            "输入包含空字符或控制字符",
            [FieldError(field="body", code="control_character", message="不允许空字符或控制字符")],
        )
    return None


def _raised_while_reading_request(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by Litestar's request parsing (not by our own code)."""
    frame = exc.__traceback__
    while frame is not None:
        name = frame.tb_frame.f_code.co_filename
        if name.endswith(("litestar/_multipart.py", "litestar/_kwargs/extractors.py")):
            return True
        frame = frame.tb_next
    return False


def _http_problem(exc: HTTPException) -> ProblemError:
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:  # Litestar's body limits, before the body is read
        return ProblemError(413, "request_too_large", "请求过大", "请求体超过此接口允许的大小")
    return ProblemError(exc.status_code, "http_error", "请求无法处理", str(exc.detail))


def problem_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:  # noqa: PLR0911 - one branch per exception family
    """Render any exception as Problem Details."""
    if isinstance(exc, ProblemError):
        return _response(request, exc)
    if isinstance(exc, InvalidValueError):
        return _response(request, ProblemError(422, "validation_failed", "数据校验未通过", exc.message))
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        detail = "；".join(f"{e.field}：{e.message}" for e in errors) or "请求参数不合法"
        return _response(request, ProblemError(400, "request_invalid", "请求参数不合法", detail, errors))
    if isinstance(exc, NotAuthorizedException):
        return _response(request, ProblemError(401, "unauthorized", "未登录或登录已过期", "请先登录"))
    if isinstance(exc, PermissionDeniedException):
        return _response(request, forbidden(str(exc.detail) if exc.detail else "当前账号无权执行此操作"))
    if isinstance(exc, NotFoundException):
        return _response(request, ProblemError(404, "not_found", "未找到", "请求的资源不存在"))
    if isinstance(exc, HTTPException):
        return _response(request, _http_problem(exc))
    if isinstance(exc, DBAPIError) and (refused := _database_problem(exc)) is not None:
        return _response(request, refused)
    if isinstance(exc, UnicodeDecodeError) and _raised_while_reading_request(exc):
        # Litestar's multipart parser decodes text fields as UTF-8 and lets the error escape (issue 17).
        return _response(request, ProblemError(400, "request_encoding", "请求参数不合法", "表单字段应为 UTF-8 编码"))
    log.error("unhandled error", path=request.url.path, exc_info=exc)
    return _response(
        request, ProblemError(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "服务器内部错误", "请稍后重试")
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {Exception: problem_handler}


def document_problems(openapi: OpenAPI) -> OpenAPI:
    """Declare the Problem Details answers on every operation of the OpenAPI document (issue 17).

    Any operation can answer a 4xx Problem Details (validation, authentication, roles, not found,
    conflicts, limits, throttling): one ``4XX`` response per operation says so, so clients and the
    schemathesis run in CI can tell a documented refusal from an undocumented answer. 5xx stays
    undocumented: a server error is always a bug.
    """
    text = Schema(type=OpenAPIType.STRING)
    field = Schema(
        type=OpenAPIType.OBJECT,
        properties={"field": text, "code": text, "message": text},
        required=["field", "code", "message"],
    )
    problem = Schema(
        type=OpenAPIType.OBJECT,
        description="RFC 9457 Problem Details：机器可读的 code 与中文 title/detail",
        properties={
            "type": text,
            "title": text,
            "status": Schema(type=OpenAPIType.INTEGER),
            "detail": text,
            "code": text,
            "instance": text,
            "errors": Schema(type=OpenAPIType.ARRAY, items=field),
        },
        required=["type", "title", "status", "detail", "code"],
    )
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["Problem"] = problem
    response = OpenAPIResponse(
        description="请求被拒绝（Problem Details）",
        content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )
    for name, schema in openapi.components.schemas.items():
        if name != "Problem":  # echoes the request path, which may be anything
            _document_strings(schema)
    for item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is not None:
                _document_operation(operation, response)
    return openapi


def _document_operation(operation: Any, response: OpenAPIResponse) -> None:
    if operation.responses is None:
        operation.responses = {}
    for status in [s for s in operation.responses if s.startswith("4")]:
        operation.responses[status] = response  # Litestar's own 400 says application/json
    operation.responses.setdefault("4XX", response)
    for parameter in operation.parameters or []:
        _document_strings(getattr(parameter, "schema", None))
    for media in (getattr(operation.request_body, "content", None) or {}).values():
        _document_strings(media.schema)


#: Strings free of NUL and control characters (tab, LF, CR allowed), as cloud.lib.limits enforces.
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"


def _document_strings(schema: Any) -> None:
    """Add the no-control-character pattern to every free-text string schema under ``schema``."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if not isinstance(item, Schema):
            continue
        is_string = item.type == OpenAPIType.STRING or (isinstance(item.type, list) and OpenAPIType.STRING in item.type)
        if is_string and item.pattern is None and item.format is None and item.enum is None and item.const is None:
            item.pattern = NO_CONTROL_CHARACTERS
        stack.extend((item.properties or {}).values())
        stack.extend(item.one_of or [])
        stack.extend(item.any_of or [])
        stack.extend(item.all_of or [])
        if item.items is not None:
            stack.append(item.items)
        if isinstance(item.additional_properties, Schema):
            stack.append(item.additional_properties)


__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_JSON",
    "FieldError",
    "MediaType",
    "ProblemError",
    "document_problems",
    "problem_handler",
]
