"""Trip flags reach the cloud: the agent's weighing pairer finds a trip with a net weight and no cargo
(``cargo_missing``), the exit's weighing record carries the finding, and the cloud opens it as a check
flag on the exit pass, shown with its Chinese name in the API's review queue and on the portal's pass page.

Real parts: the agent (spool lanes, an XK3190 weighbridge simulator on a pseudo terminal, its pairer,
outbox and sync client) → a websocket to a cloud process over TCP → the ledger's weighing writer and the
compliance checks' flag writer in PostgreSQL under RLS → the in-process API and portal. The vehicle is
registered and reviewed through the cloud's services and reaches the agent in the exported registry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent.devices.sim import PtyEndpoint, WeighbridgeSimulator
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from cloud.compliance import reviews, snapshots
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import vehicles
from tenants.context import Principal, Role
from tests.e2e.kit import agent_files, until, vin, weigh

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PLATE = "鄂A3T572"
PASSWORD: str = sys.modules["_sync_cloud_conftest"].PASSWORD


TRUCK: dict[str, Any] = {
    "plate": PLATE,
    "plate_colour": "yellow",
    "vin": vin("T57201"),
    "vehicle_type": "H11",
    "brand_model": "东风牌DFH3310A8",
    "register_date": dt.date(2022, 3, 9),
    "engine_model": "DDi13E560-60",
    "engine_maker": "东风商用车有限公司",
    "engine_no": "D3195720",
    "fuel_type": "B",
    "emission_stage": "6",
    "use_nature": "F",
    "network_status": "connected",
    "env_list_no": "CN6HDFJ0000G6A000572",
    "fleet_name": "宏运运输",
    "owner_name": "宜昌宏运运输有限公司",
    "total_mass_kg": 31000,
    "rated_load_kg": 17000,
}


async def test_a_trip_without_cargo_is_flagged_on_its_exit_pass(
    make_tenant: Any,
    make_site: Any,
    cloud_process: Any,
    database: Database,
    client: Any,
    login_as: Any,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant("420115")
    site = await make_site(tenant.tenant_id)
    maker = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="maker")
    checker = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="checker")
    async with database.session(maker) as session, session.begin():
        vehicle_id = (await vehicles.create_vehicle(session, maker, "transport", TRUCK, "登记")).vehicle.id
    async with database.session(checker) as session, session.begin():
        await reviews.review_version(session, checker, vehicle_id, 1, "verified", "核对行驶证")
    async with database.session(maker) as session, session.begin():
        exported = await snapshots.registry_snapshot(session, tenant.tenant_id)

    scale = WeighbridgeSimulator(PtyEndpoint(tmp_path / "scale"), "xk3190_a9", interval_s=0.05)
    await scale.start()
    seed, data = agent_files(tmp_path, exported, tenant, site, cloud_process.url)
    spools = {"in": tmp_path / "in.jsonl", "out": tmp_path / "out.jsonl"}
    for spool in spools.values():
        spool.write_text("", encoding="utf-8")
    lanes = [
        {
            "id": str(site.lane_in if direction == "in" else site.lane_out),
            "name": "地磅入口" if direction == "in" else "地磅出口",
            "direction": direction,
            "barrier": f"{direction}-barrier",
            "weighbridge": "scale",
            "source": {"type": "spool", "path": str(spools[direction]), "poll_s": 0.05},
        }
        for direction in ("in", "out")
    ]
    cfg = parse_config(
        {
            "registry_seed": str(seed),
            "agent": {"id": str(site.agent_id), "data_dir": str(data)},
            "site": {"id": str(site.site_id), "name": "一厂区"},
            "booth": {"enabled": False},
            "devices": {
                "barriers": [{"type": "virtual", "name": "in-barrier"}, {"type": "virtual", "name": "out-barrier"}],
                "weighbridges": [{"type": "xk3190_a9", "name": "scale", "port": str(tmp_path / "scale")}],
            },
            "lanes": lanes,
            "evidence": {"clip": False},
            "cloud": {"heartbeat_s": 1.0},
        }
    )
    await asyncio.to_thread(cloud_process.start)
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))

    def passes(direction: str) -> int:
        box = agent.outbox
        return 0 if box is None else sum(1 for e in box.events(limit=100) if e.direction.value == direction)

    def feed(direction: str, read_id: str) -> None:
        line = {"read_id": read_id, "plate": PLATE, "colour": "yellow", "confidence": 0.97}  # no cargo declared
        with spools[direction].open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    async def weighed_in_cloud() -> bool:
        async with database.session(site.principal) as session, session.begin():
            rows = (await session.scalars(select(m.Weighing))).all()
        return len(rows) == 2 and any(r.net_kg is not None for r in rows)

    try:
        feed("in", "in-1")
        await until(lambda: passes("in") == 1, 60, "the entry pass")
        await weigh(scale, 30_000)
        feed("out", "out-1")
        await until(lambda: passes("out") == 1, 30, "the exit pass")
        await weigh(scale, 11_000)
        await until(weighed_in_cloud, 60, "both weighings in the cloud")
    finally:
        agent.supervisor.request_stop()
        await asyncio.wait_for(task, 20)
        await scale.stop()

    async with database.session(site.principal) as session, session.begin():
        exit_pass = await session.scalar(select(m.PassEvent).where(m.PassEvent.direction == "out"))
        entry_pass = await session.scalar(select(m.PassEvent).where(m.PassEvent.direction == "in"))
        trip = await session.scalar(select(m.Weighing).where(m.Weighing.net_kg.is_not(None)))
    assert exit_pass is not None
    assert entry_pass is not None
    assert trip is not None
    assert (trip.pass_event_id, int(trip.net_kg or 0), trip.cargo_name) == (exit_pass.id, 19_000, None)

    # The review queue through the API: the flag is on the exit pass with its Chinese name.
    headers = await login_as(tenant.admin_login)
    listed = await client.get(
        "/api/v1/compliance/flags", params={"pass_event_id": str(exit_pass.id), "status": "all"}, headers=headers
    )
    assert listed.status_code == 200, listed.text
    found = {item["code"]: item for item in listed.json()["items"]}
    assert "cargo_missing" in found, listed.json()
    flag = found["cargo_missing"]
    assert (flag["title"], flag["status"], flag["plate"]) == ("缺少货物名称", "open", PLATE)
    assert flag["vehicle_id"] == str(vehicle_id)
    assert "19000 千克" in flag["message"], flag
    assert flag["detail"]["source"] == "agent"
    entry_flags = await client.get(
        "/api/v1/compliance/flags",
        params={"pass_event_id": str(entry_pass.id), "code": "cargo_missing", "status": "all"},
        headers=headers,
    )
    assert entry_flags.status_code == 200, entry_flags.text
    assert entry_flags.json()["items"] == []  # the trip's finding belongs to the pass that closed it

    # The portal's pass page names it in Chinese among the pass's open flags.
    login = await client.post("/login", data={"login": tenant.admin_login, "password": PASSWORD})
    assert login.status_code in (200, 303), login.text
    page = await client.get(f"/portal/passes/{exit_pass.id}")
    assert page.status_code == 200, page.text
    assert "缺少货物名称" in page.text
    assert "cargo_missing" not in page.text
