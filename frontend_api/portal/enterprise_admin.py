"""Users and roles, invitations, password reset, agents (enrollment codes, health, lane/ROI set-up) (issue 9)."""

from __future__ import annotations

from typing import Any

__all__ = ["routes"]


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return []
