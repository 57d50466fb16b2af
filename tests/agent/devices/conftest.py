"""Fixtures for the device tests: simulator endpoints on real ptys or loopback TCP, and a polling helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agent.devices.sim.endpoints import PtyEndpoint, SimEndpoint, TcpEndpoint

EndpointFactory = Callable[[str], SimEndpoint]


@pytest.fixture(name="endpoint_factory", params=["pty", "tcp"])
def fx_endpoint_factory(request: pytest.FixtureRequest, tmp_path: Path) -> EndpointFactory:
    """Builds simulator endpoints of the parametrised transport (a pty symlink or ``socket://``)."""
    transport = request.param

    def make(name: str) -> SimEndpoint:
        return PtyEndpoint(tmp_path / name) if transport == "pty" else TcpEndpoint()

    return make


@pytest.fixture(name="pty_factory")
def fx_pty_factory(tmp_path: Path) -> EndpointFactory:
    """Builds pty endpoints only."""

    def make(name: str) -> SimEndpoint:
        return PtyEndpoint(tmp_path / name)

    return make


async def _eventually(predicate: Callable[[], bool], timeout_s: float = 3.0, step_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(step_s)


Eventually = Callable[..., Awaitable[None]]


@pytest.fixture(name="eventually")
def fx_eventually() -> Eventually:
    """``await eventually(predicate, timeout_s=3.0)``: wait until the predicate holds, else fail the test."""
    return _eventually
