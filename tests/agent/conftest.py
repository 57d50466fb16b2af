"""Fixtures shared by the agent tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.outbox import Outbox


@pytest.fixture(name="outbox")
def fx_outbox(tmp_path: Path) -> Iterator[Outbox]:
    """An empty outbox of ``agent-1`` in the test's directory, closed afterwards."""
    box = Outbox(tmp_path / "outbox", agent_id="agent-1")
    yield box
    box.close()
