"""Input limits that hold before a handler runs (issue 17 finding 6): one ASGI middleware for every route.

A request is refused with a 4xx Problem Details, before any handler, service or SQL sees it, when:

* its path or query string holds a NUL or another control character (``input_control_character``);
* its JSON body is larger than :data:`MAX_JSON_BYTES` (413 ``request_too_large``), nested deeper
  than :data:`MAX_JSON_DEPTH` (``json_too_deep``: msgspec recurses while skipping unknown fields and
  raised ``RecursionError`` → 500 before), holds a string (key or value) with a control character
  other than tab, line feed and carriage return (``input_control_character``: PostgreSQL refuses NUL
  in text, which was a 500 on 13 operations including the logins), or an integer outside the signed
  64-bit range of the widest column (``value_out_of_range``);
* its urlencoded form (the portal's login and forms) holds such a character.

Integers inside 64 bits but outside a narrower column (``version`` is ``integer``) are refused by
the database before anything is written; ``cloud.lib.problems`` turns that error into the same
``value_out_of_range`` 422. Multipart text fields take the same path (``input_control_character``).
Request bodies of other types are bounded by Litestar's ``request_max_body_size``.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_to_bytes

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from cloud.lib.problems import FieldError, ProblemError

#: Largest JSON body (the biggest real one, a policy with its rules, is a few KB).
MAX_JSON_BYTES: Final = 1024 * 1024
#: Deepest nesting of JSON arrays/objects (the deepest real one, a policy's rule tree, is 5).
MAX_JSON_DEPTH: Final = 32
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES: Final = re.compile(rb"[\x00-\x1f\x7f]")
#: JSON strings and brackets: the depth is counted on brackets outside strings, in C (re), not Python.
_JSON_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]')


def control_character(field: str) -> ProblemError:
    """422 for a string holding NUL or another control character."""
    return ProblemError(
        422,
        "input_control_character",
        "输入包含非法字符",
        f"字段 {field} 包含空字符或控制字符",
        [FieldError(field=field, code="control_character", message="不允许空字符或控制字符")],
    )


def out_of_range(field: str = "body") -> ProblemError:
    """422 for an integer outside its column's range."""
    return ProblemError(
        422,
        "value_out_of_range",
        "数值超出范围",
        f"字段 {field} 的数值超出允许范围",
        [FieldError(field=field, code="out_of_range", message="数值超出允许范围")],
    )


def _too_large() -> ProblemError:
    return ProblemError(413, "request_too_large", "请求过大", f"JSON 或表单请求体最大 {MAX_JSON_BYTES // 1024} KB")


def _too_deep() -> ProblemError:
    return ProblemError(400, "json_too_deep", "请求参数不合法", f"JSON 嵌套层数最多 {MAX_JSON_DEPTH} 层")


def check_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (counted before decoding, so nothing recurses)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    depth = 0
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise _too_deep()
        elif token in (b"]", b"}"):
            depth -= 1


def _children(item: Any, where: str) -> list[tuple[Any, str]]:
    if isinstance(item, dict):
        for key in item:
            if _CONTROL.search(key):
                raise control_character(where)
        return [(inner, f"{where}.{key}") for key, inner in item.items()]
    if isinstance(item, list):
        return [(inner, f"{where}[{n}]") for n, inner in enumerate(item)]
    return []


def check_value(value: Any, path: str = "body") -> None:
    """Refuse control characters in strings and integers past 64 bits anywhere in a decoded JSON value."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _CONTROL.search(item):
                raise control_character(where)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not INT_MIN <= item <= INT_MAX:
                raise out_of_range(where)
        else:
            stack.extend(_children(item, where))


def check_json(body: bytes) -> None:
    """All JSON limits on a request body (malformed JSON is left to the handler's own 400)."""
    check_depth(body)
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return
    check_value(value)


def check_target(scope: Scope) -> None:
    """Refuse control characters in the path or the query string (percent-encoded or not)."""
    if _CONTROL.search(scope.get("path", "")):
        raise control_character("path")
    query: bytes = scope.get("query_string", b"")
    if query and (_CONTROL_BYTES.search(query) or (b"%" in query and _CONTROL_BYTES.search(unquote_to_bytes(query)))):
        name = "query"
        for key, inner in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if _CONTROL.search(key) or _CONTROL.search(inner):
                name = key
                break
        raise control_character(name)


def check_form(body: bytes) -> None:
    """Refuse control characters in an urlencoded form's names and values."""
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if _CONTROL.search(key) or _CONTROL.search(value):
            raise control_character(key)


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower().decode("latin-1")
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, cap: int) -> tuple[bytes, list[ReceiveMessage]]:
    """The whole body (at most ``cap`` bytes) and the messages read, to replay to the application."""
    chunks: list[bytes] = []
    size = 0
    messages: list[ReceiveMessage] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


class InputLimits(ASGIMiddleware):
    """The limits above on every HTTP request (registered once in ``cloud/app.py``)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Check the target, then a JSON or urlencoded body, then hand the same bytes on."""
        check_target(scope)
        media = _media_type(scope)
        is_json = media == "application/json" or media.endswith("+json")
        is_form = media == "application/x-www-form-urlencoded"
        if scope.get("method", "GET") in ("GET", "HEAD", "OPTIONS") or not (is_json or is_form):
            await next_app(scope, receive, send)
            return
        length = _content_length(scope)
        if is_json and length is not None and length > MAX_JSON_BYTES:
            raise _too_large()
        body, messages = await _read_body(receive, MAX_JSON_BYTES)
        if is_json:
            check_json(body)
        else:
            check_form(body)
        await next_app(scope, _replay(messages, receive), send)
