"""Uplink fixtures: the cloud fixtures, the regulator platform simulator, a tenant reporting to it."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cloud.db.engine import Database
from cloud.uplink import platforms
from infra.regsim import RegulatorSimulator
from tenants.context import Principal, Role


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_uplink_cloud_conftest", Path(__file__).parents[1] / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
fx_login_as = _cloud.fx_login_as
fx_superuser_url = _cloud.fx_superuser_url
fx_seed_passes = _cloud.fx_seed_passes

ENTERPRISE = "420102000001"


@pytest.fixture(name="regsim")
async def fx_regsim() -> AsyncIterator[RegulatorSimulator]:
    """The simulator on a free loopback port (fast timeouts so tests do not wait)."""
    async with RegulatorSimulator() as sim:
        sim.faults.timeout_s = 3.0
        yield sim


@pytest.fixture(name="connect_platform")
def fx_connect_platform(database: Database) -> Callable[..., Awaitable[None]]:
    """Factory: configure a tenant's platform as the simulator (credentials encrypted at rest)."""

    async def connect(
        tenant_id: uuid.UUID,
        sim: Any,
        *,
        timeout_s: float = 2.0,
        profile: str = "transport_control",
        credentials: dict[str, str] | None = None,
    ) -> None:
        actor = Principal(user_id=uuid.UUID(int=4), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="setup")
        async with database.session(actor) as session, session.begin():
            row = await platforms.configure(
                session,
                tenant_id,
                profile=profile,
                base_url=sim.url,
                enterprise_code=ENTERPRISE,
                enterprise_name="测试企业",
                credentials={"username": "ecogate", "password": "EcoGate@2026", **(credentials or {})},
            )
            row.timeout_s = timeout_s

    return connect
