"""End-to-end fixtures: the cloud fixtures (in-process API), a real cloud process over TCP, the regulator simulator."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from infra.regsim import RegulatorSimulator

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_sync = _load("_e2e_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
_cloud = sys.modules["_sync_cloud_conftest"]
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
fx_login_as = _cloud.fx_login_as
fx_cloud_process = _sync.fx_cloud_process
fx_make_site = _sync.fx_make_site
PASSWORD = _cloud.PASSWORD


@pytest.fixture(name="regsim")
async def fx_regsim() -> AsyncIterator[RegulatorSimulator]:
    """The transportControl-family simulator on a free loopback port."""
    async with RegulatorSimulator() as sim:
        sim.faults.timeout_s = 3.0
        yield sim
