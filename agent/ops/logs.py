"""Logging of the running agent (issue 21): JSON lines with the site, agent and lane ids, or key=value text.

``ECOGATE_LOG_JSON=1`` (set by the installed systemd unit's environment or by hand) renders every line as
one JSON object — ``timestamp`` (UTC, ISO 8601), ``level``, ``event`` and the fields — so journald,
logrotate'd files and a log shipper read them without parsing text. Every line carries ``site_id`` and
``agent_id`` from the configuration; a lane's task binds ``lane_id`` (``LanePipeline.run``), so whatever
that lane logs, and the tasks it starts, carry it too. Without the variable the lines stay the readable
console format.

Secrets are never logged by name: fields called like a password, token, secret, key or credential are
replaced by ``[REDACTED]`` before rendering (the cloud's rule, ``cloud/logging.py``; the agent does not
import the cloud).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

__all__ = ["configure", "json_enabled"]

REDACTED: Final = "[REDACTED]"
_SECRET_NAME: Final = re.compile(
    r"passwd|password|secret|token|credential|authorization|cookie|private|api_?key|(^|_)key$|_key_",
    re.IGNORECASE,
)
_KEEP: Final = frozenset({"event", "level", "timestamp", "logger", "exception"})


def json_enabled() -> bool:
    """Whether ``ECOGATE_LOG_JSON=1`` asks for JSON lines."""
    return os.environ.get("ECOGATE_LOG_JSON") == "1"


def _redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in list(event_dict):
        if name not in _KEEP and _SECRET_NAME.search(name):
            event_dict[name] = REDACTED
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


def configure(level: int, *, site_id: str, agent_id: str) -> None:
    """Configure structlog for the agent process and bind its site and agent ids to every line."""
    structlog.contextvars.bind_contextvars(site_id=site_id, agent_id=agent_id)
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: structlog.typing.Processor
    if json_enabled():
        processors.append(structlog.processors.format_exc_info)  # text traceback, no locals
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _JsonLines)]  # configured again: start over
    if json_enabled():  # the libraries' standard-library lines (websockets, pymodbus) as JSON too
        handler = _JsonLines()
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                foreign_pre_chain=[*processors, structlog.stdlib.add_logger_name],
            )
        )
        root.handlers[:] = [handler]
        root.setLevel(level)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
