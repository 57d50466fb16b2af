"""structlog set-up for the cloud processes: key=value lines with ISO times, or JSON with ECOGATE_LOG_JSON=1.

Two rules hold for every line (issue 17 finding 4):

* Tracebacks carry no local variables: the console renderer uses the plain traceback formatter and
  JSON lines carry ``exception`` as formatted text (``format_exc_info``), never the rich or dict
  tracebacks whose default is to print every frame's locals (a request's password among them).
* Secrets are redacted by field name in one processor, :func:`redact_secrets`, placed before any
  renderer: a field whose name says password, secret, token, credential(s), key, cookie,
  authorization or the SM2 key names is replaced by ``[REDACTED]``, at any depth of dicts and lists.

Ids on every line (issue 21): :class:`RequestContext` (ASGI middleware, first in the chain) takes the
caller's ``X-Request-ID`` (≤ 64 characters of ``[A-Za-z0-9._:-]``) or makes a UUIDv7, binds it as
``request_id`` into structlog's context variables for everything the request or websocket logs, echoes
it in the response's ``X-Request-ID`` and logs one ``http.request`` line per request (method, path,
status, milliseconds; not for ``/health`` and ``/metrics``). :func:`bind_principal` (the app's
``before_request``, after the guards) adds ``tenant_id``, ``user_id`` and ``role`` of the signed-in
principal; the agent hub binds ``agent_id``, ``site_id`` and ``tenant_id`` for its connection.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final, cast

import structlog
import uuid_utils

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Paths scraped or probed every few seconds: no access line (their request id is still bound and echoed).
_QUIET: Final = frozenset({"/health", "/metrics"})
_access = structlog.get_logger("cloud.access")

REDACTED: Final = "[REDACTED]"
#: Field names whose values are never logged (matched case-insensitively anywhere in the name).
_SECRET_NAME: Final = re.compile(
    r"passwd|password|secret|token|credential|authorization|cookie|private|prksm2|api_?key|"
    r"(^|_)key$|_key_|dek$|signature",
    re.IGNORECASE,
)
#: Structural fields of a log line that are never redacted.
_KEEP: Final = frozenset({"event", "level", "timestamp", "logger", "exception", "exc_info"})


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret."""
    return name not in _KEEP and bool(_SECRET_NAME.search(name))


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_name(str(k)) else _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, depth + 1) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace the values of secret-named fields (at any depth) by ``[REDACTED]``."""
    for name in list(event_dict):
        if is_secret_name(name):
            event_dict[name] = REDACTED
        elif name not in _KEEP:
            event_dict[name] = _scrub(event_dict[name])
    return event_dict


class _JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard library's lines as JSON on whatever ``sys.stdout`` is when they are written."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def configure_logging(level: int = logging.INFO) -> None:
    """Configure structlog and the standard library logging once per process."""
    as_json = os.environ.get("ECOGATE_LOG_JSON") == "1"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    if as_json:
        processors.append(structlog.processors.format_exc_info)  # text traceback, no locals
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _JsonLines)]  # configured again: start over
    if as_json:  # the libraries' standard-library lines (uvicorn, litestar, httpx) as JSON objects too
        handler = _JsonLines()
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                foreign_pre_chain=[*processors, structlog.stdlib.add_logger_name],
            )
        )
        root.handlers[:] = [handler]
        root.setLevel(level)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own handlers print text
            logging.getLogger(name).handlers[:] = []
            logging.getLogger(name).propagate = True
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def request_id_from(headers: Mapping[str, str] | None) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token, else a new UUIDv7 (time-ordered)."""
    given = (headers or {}).get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else str(uuid_utils.uuid7())


class RequestContext:
    """ASGI middleware: a request id per HTTP request and websocket, bound for logging and echoed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = cast("dict[str, Any]", scope)
        kind = str(info["type"])
        if kind not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in info.get("headers", [])}
        request_id = request_id_from(headers)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            out = cast("dict[str, Any]", message)
            if out["type"] in {"http.response.start", "websocket.accept"}:
                status = int(out.get("status", 101))
                out["headers"] = [*out.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                path = str(info.get("path", ""))
                if kind == "http" and path not in _QUIET:
                    _access.info(
                        "http.request",
                        method=info.get("method"),
                        path=path[:200],
                        status=status or 500,
                        ms=round(1000 * (time.perf_counter() - started), 1),
                        client=(info.get("client") or ("",))[0],  # the socket peer (the balancer behind one)
                    )


async def bind_principal(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: the signed-in principal's tenant, user and role into the log context."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return
    structlog.contextvars.bind_contextvars(
        tenant_id=str(principal.tenant_id) if principal.tenant_id else None,
        user_id=str(principal.user_id),
        role=str(principal.role),
    )


def litestar_logging_config() -> Any:
    """The app's ``logging_config``: Litestar's default (text), or None with JSON lines, so that Litestar's
    logger propagates to the JSON handler instead of installing its own text handler on the root logger."""
    from litestar.types import Empty  # noqa: PLC0415

    return None if os.environ.get("ECOGATE_LOG_JSON") == "1" else Empty
