"""structlog set-up for the cloud processes: key=value lines with ISO times, or JSON with ECOGATE_LOG_JSON=1.

Two rules hold for every line (issue 17 finding 4):

* Tracebacks carry no local variables: the console renderer uses the plain traceback formatter and
  JSON lines carry ``exception`` as formatted text (``format_exc_info``), never the rich or dict
  tracebacks whose default is to print every frame's locals (a request's password among them).
* Secrets are redacted by field name in one processor, :func:`redact_secrets`, placed before any
  renderer: a field whose name says password, secret, token, credential(s), key, cookie,
  authorization or the SM2 key names is replaced by ``[REDACTED]``, at any depth of dicts and lists.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

import structlog

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
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
