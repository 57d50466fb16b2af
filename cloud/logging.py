"""structlog set-up for the cloud processes: key=value lines with ISO times, or JSON with ECOGATE_LOG_JSON=1."""

from __future__ import annotations

import logging
import os

import structlog


def configure_logging(level: int = logging.INFO) -> None:
    """Configure structlog and the standard library logging once per process."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if os.environ.get("ECOGATE_LOG_JSON") == "1"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
