"""Users and roles, invitations, password reset, policy and emergency settings (issue 9)."""

from __future__ import annotations

from typing import Any

__all__ = ["routes"]


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return []
