"""Vehicle pages (issue 9): three categories, create/correct, documents, Excel/QR import, approvals, inventory."""

from __future__ import annotations

from typing import Any

__all__ = ["routes"]


def routes() -> list[Any]:
    """The route handlers of this page group."""
    return []
