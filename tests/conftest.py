"""Root test configuration shared by every area (area fixtures live in tests/<area>/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(name="anyio_backend", scope="session")
def fx_anyio_backend() -> str:
    """Run anyio-marked async tests on asyncio (the runtime of both agent and cloud)."""
    return "asyncio"
