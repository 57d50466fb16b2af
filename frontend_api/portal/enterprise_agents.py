"""Agent pages (issue 9): enrollment codes, health, lane and ROI set-up over a camera snapshot."""

from __future__ import annotations

from typing import Any

__all__ = ["routes"]


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return []
