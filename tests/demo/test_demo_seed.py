"""The demo's vehicle ledger holds every HJ 1321 field its exports and platform records read (issue 15).

A fresh ``make demo`` exported 进出厂运输车辆台账 rows with VIN but empty 注册登记日期, 品牌型号, 使用性质,
车队名称 and 联网状态, and sent the platform the same blanks: the seed entered plate, VIN, type, fuel and
stage only. The seed runs here through its own write path (``seed`` → ``create_vehicle`` → the manager's
verification) on a real PostgreSQL; every field the transport ledger and the uplink read from the vehicle
version must be filled, with a Chinese name for each code.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from cloud.compliance import reviews
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import vehicles
from cloud.settings import DatabaseSettings
from cloud.uplink.adapters.transport_control import TransportControlAdapter
from infra.demo import seed, seed_ledger
from infra.demo_video import CAST
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio


@pytest.fixture(name="db_urls", scope="module")
def fx_db_urls(admin_url: str, worker_name: str) -> Any:
    """A database of its own: the demo seed declares a 武汉市 orange alert that would apply to every Wuhan
    tenant of the worker's shared database (it leaked into the portal tests' settings pages)."""
    import asyncio  # noqa: PLC0415
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415

    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import create_database, drop_database  # noqa: PLC0415

    passwords = json.loads(os.environ["ECOGATE_TEST_ROLE_PASSWORDS"])
    name = f"ecogate_demo_seed_{worker_name}"
    urls = asyncio.run(create_database(admin_url, name, passwords, recreate=True))
    upgrade(urls.owner_url)
    yield urls
    asyncio.run(drop_database(admin_url, name))


#: Vehicle-version fields shown in the transport ledger export (cloud/reports/ledgers.py TRANSPORT_COLUMNS).
LEDGER_FIELDS = (
    "vehicle_type",
    "vin",
    "register_date",
    "brand_model",
    "engine_model",
    "engine_maker",
    "engine_no",
    "fuel_type",
    "emission_stage",
    "use_nature",
    "network_status",
    "env_list_no",
    "fleet_name",
)
CODED = ("plate_colour", "vehicle_type", "fuel_type", "emission_stage", "use_nature", "network_status")


async def test_demo_seed_fills_every_ledger_and_platform_field(db_urls: Any) -> None:
    settings = SimpleNamespace(
        database=DatabaseSettings(
            app_url=db_urls.app_url,
            owner_url=db_urls.owner_url,
            regulator_url=db_urls.regulator_url,
            pool_size=2,
        )
    )
    tenant_id = (await seed(settings)).tenant_id
    await seed_ledger(settings, tenant_id)

    database = Database.from_settings(settings.database)
    try:
        reader = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="test")
        async with database.session(reader) as session:
            rows = (
                await session.execute(
                    select(m.VehicleVersion).join(
                        m.Vehicle,
                        (m.Vehicle.tenant_id == m.VehicleVersion.tenant_id)
                        & (m.Vehicle.current_version_id == m.VehicleVersion.id),
                    )
                )
            ).scalars()
            current = {str(v.plate): v for v in rows}
            states = {plate: await reviews.state_of(session, v) for plate, v in current.items()}
    finally:
        await database.dispose()

    registered = [t for t in CAST if t.registered]
    assert sorted(current) == sorted(t.plate for t in registered)
    platform_fields = set(TransportControlAdapter.REGISTRY_FIELDS.values())
    for truck in registered:
        version = current[truck.plate]
        assert states[truck.plate] == "verified", truck.plate
        empty = [f for f in (*LEDGER_FIELDS, *platform_fields) if getattr(version, f) in (None, "")]
        assert empty == [], (truck.plate, empty)
        assert version.fleet_name == truck.carrier
        names = vehicles.labels(version)
        for field in CODED:
            assert names[field] != getattr(version, field), (truck.plate, field, names[field])
        # 国六 heavy diesel trucks are on the remote monitoring platform: no "not connected" flag in the demo
        if truck.emission_stage == "6":
            assert version.network_status == "connected"
