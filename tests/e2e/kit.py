"""What the end-to-end scenarios share: VINs, waiting for a condition, a truck on the deck, the agent's files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.devices.sim import WeighbridgeSimulator
from agent.sync.enroll import Credential, save_credential
from hj1321.identifiers import vin_check_digit


def vin(serial: str) -> str:
    """A VIN with a valid check digit, ending in ``serial`` (six characters)."""
    number = f"LFWSRXSJ0KA{serial}"
    return number[:8] + vin_check_digit(number) + number[9:]


async def until(predicate: Callable[[], Any], limit_s: float, what: str) -> None:
    """Poll ``predicate`` (plain or async) every 0.1 s until it is true; fail the test after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {limit_s} s waiting for {what}")
        await asyncio.sleep(0.1)


async def weigh(scale: WeighbridgeSimulator, kg: float) -> None:
    """A truck drives onto the deck behind the barrier, stands until the plateau settles, and leaves."""
    scale.set_weight(kg)
    await asyncio.sleep(2.8)
    scale.set_weight(0)
    await asyncio.sleep(0.6)


def agent_files(tmp_path: Path, exported: object, tenant: Any, site: Any, hub_url: str) -> tuple[Path, Path]:
    """The registry seed the cloud exported and the agent's data folder holding its credential for ``site``."""
    seed = tmp_path / "registry.json"
    seed.write_bytes(msgspec.json.encode(exported))
    data = tmp_path / "agent"
    save_credential(
        data,
        Credential(
            agent_id=str(site.agent_id),
            tenant_id=str(tenant.tenant_id),
            site_id=str(site.site_id),
            token=site.token,
            hub_url=hub_url,
        ),
    )
    return seed, data
