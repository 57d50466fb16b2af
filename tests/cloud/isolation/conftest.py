"""Isolation fixtures: a populated tenant ("world") built through the API, and superuser snapshots."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import pytest

from cloud.db import models as m
from hj1321.identifiers import vin_check_digit

_serial = itertools.count(1)
PNG = b"\x89PNG\r\n\x1a\n" + b"isolation" * 8


def tenant_tables() -> list[str]:
    """Every table protected by the tenant policy, from the metadata (``__tenant_owned__``)."""
    return sorted(mapper.local_table.name for mapper in m.Base.registry.mappers if mapper.class_.__tenant_owned__)


def make_vin(serial: int) -> str:
    """A VIN with a correct check digit."""
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


@dataclass
class World:
    """One tenant with at least one object of every kind the API exposes."""

    tenant_id: uuid.UUID
    region_code: str
    headers: dict[str, str]
    admin_login: str
    #: Path/query parameter name → a value naming one of this tenant's objects.
    params: dict[str, str] = field(default_factory=dict)
    #: Strings that identify this tenant's data; none may appear in another tenant's responses.
    secrets: set[str] = field(default_factory=set)

    def leaks(self, text: str) -> list[str]:
        """Which of this tenant's identifying strings occur in ``text``."""
        return sorted(s for s in self.secrets if s in text)


@pytest.fixture(name="make_world")
def fx_make_world(client, make_tenant, login_as, seed_passes) -> Callable[..., Awaitable[World]]:
    """Factory: a tenant with a site, gate, lane, vehicle (2 versions, a document), user, passes and a weighing."""

    async def make(region_code: str = "420102") -> World:
        n = next(_serial)
        tenant = await make_tenant(region_code=region_code)
        headers = await login_as(tenant.admin_login)
        world = World(tenant.tenant_id, region_code, headers, tenant.admin_login)

        async def call(method: str, url: str, **kwargs: object) -> dict:
            response = await client.request(method, url, headers=headers, **kwargs)
            assert response.status_code in {200, 201}, response.text
            return response.json()

        site = await call("POST", "/api/v1/sites", json={"name": f"隔离测试厂区{n}", "address": f"地址{n}"})
        gate = await call("POST", f"/api/v1/sites/{site['id']}/gates", json={"code": "G1", "name": f"东门{n}"})
        lane = await call(
            "POST", f"/api/v1/gates/{gate['id']}/lanes", json={"code": "L1", "name": f"东门入口{n}", "direction": "in"}
        )
        plate = f"鄂A{n:05d}"
        vin = make_vin(n)
        vehicle = await call(
            "POST",
            "/api/v1/vehicles",
            json={
                "category": "transport",
                "plate": plate,
                "plate_colour": "yellow",
                "vin": vin,
                "emission_stage": "国六",
                "fuel_type": "柴油",
                "fleet_name": f"车队{n}",
            },
        )
        await call(
            "POST",
            f"/api/v1/vehicles/{vehicle['id']}/corrections",
            json={"reason": "补录", "changes": {"owner_name": f"车主{n}"}},
        )
        blob = PNG + str(n).encode()
        document = await call(
            "POST",
            f"/api/v1/vehicles/{vehicle['id']}/documents",
            data={"kind": "driving_license"},
            files={"file": ("xsz.png", blob, "image/png")},
        )
        invited = await call(
            "POST",
            "/api/v1/users",
            json={"login": f"iso-user-{n}-{uuid.uuid4().hex[:6]}", "display_name": "隔离用户", "role": "viewer"},
        )
        users = await call("GET", "/api/v1/users")
        admin_id = next(u["id"] for u in users if u["login"] == tenant.admin_login)
        when = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
        ledger = await seed_passes(
            tenant.tenant_id,
            [{"plate": plate, "occurred_at": when, "weight_kg": Decimal("30100.5")}],
        )
        # Reports (issue 7): a finished export job; report paths name the enterprise itself.
        started = await client.post(
            f"/api/v1/enterprises/{tenant.tenant_id}/reports/exports",
            json={"report": "transport_passes", "format": "csv", "from": "2026-11-28", "to": "2026-11-28"},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        export = started.json()
        for _ in range(200):
            export = await call("GET", f"/api/v1/enterprises/{tenant.tenant_id}/reports/exports/{export['id']}")
            if export["status"] in {"done", "failed"}:
                break
            await asyncio.sleep(0.05)
        assert export["status"] == "done", export
        # Compliance (issue 6): a blacklist entry, a count sheet, an audit sample and the check flags.
        entry = await call("POST", "/api/v1/compliance/blacklist", json={"plate": f"鄂B{n:05d}", "reason": f"超标{n}"})
        sheet = await call("POST", "/api/v1/compliance/inventories", json={"title": f"隔离盘点{n}"})
        sample = await call("POST", "/api/v1/compliance/audit-samples", json={"quarter": "2026Q4", "seed": "iso"})
        # Agents (issue 5): an agent enrolled with a one-time code.
        code = await call("POST", "/api/v1/agents/enrollment-codes", json={"site_id": site["id"], "name": f"代理{n}"})
        enrolled = await client.post("/api/v1/agent-enrollment", json={"code": code["code"]})
        assert enrolled.status_code == 201, enrolled.text
        # Weighbridge software (issue 15): a ticket no pass matches stays unattributed, for review.
        ticket = {"ticket_no": f"ISO-{n}", "plate": f"鄂C{n:05d}", "weighed_at": "2026-11-20 08:00:00", "net_kg": 20000}
        ticket["site"] = site["name"]
        pushed = await call("POST", "/api/v1/weighbridge/records", json={"records": [ticket]})
        flagged = await call("GET", "/api/v1/compliance/flags", params={"status": "all"})
        assert flagged["items"], flagged
        world.params = {
            "flag_id": flagged["items"][0]["id"],
            "weighing_id": pushed["items"][0]["weighing_id"],
            "agent_id": enrolled.json()["agent_id"],
            "entry_id": entry["id"],
            "inventory_id": sheet["id"],
            "sample_id": sample["id"],
            "alert_id": str(uuid.uuid4()),
            "invoice_id": str(uuid.uuid4()),  # billing (issue 22): platform-admin paths, refused to tenants
            "code": "standard",
            "quarter": "2026Q4",
            "seed": "iso",
            "tenant_id": str(tenant.tenant_id),
            "report_type": "transport_passes",
            "indicator": "open_flags",
            "export_id": export["id"],
            "site_id": site["id"],
            "gate_id": gate["id"],
            "lane_id": lane["id"],
            "vehicle_id": vehicle["id"],
            "user_id": invited["user"]["id"],
            "pass_id": str(ledger.pass_ids[0]),
            "pass_event_id": str(ledger.pass_ids[0]),
            "sha256": document["sha256"],
            "actor_id": admin_id,
            "object_id": vehicle["id"],
            "plate": plate,
            "vin": vin,
        }
        world.secrets = {
            str(tenant.tenant_id),
            tenant.admin_login,
            invited["user"]["login"],
            plate,
            vin,
            site["name"],
            gate["name"],
            lane["name"],
            document["sha256"],
            admin_id,
            entry["plate"],
            sheet["title"],
            str(ledger.site_id),
            str(ledger.weighing_ids[0]),
            *(v for k, v in world.params.items() if k.endswith("_id") or k == "sha256"),
        }
        return world

    return make


@pytest.fixture(name="snapshot")
def fx_snapshot(superuser_url: str) -> Callable[[uuid.UUID], Awaitable[dict[str, list[tuple[object, ...]]]]]:
    """Every row of one tenant in every tenant table, read as a superuser (RLS bypassed)."""

    async def snap(tenant_id: uuid.UUID) -> dict[str, list[tuple[object, ...]]]:
        conn = await asyncpg.connect(superuser_url)
        try:
            out: dict[str, list[tuple[object, ...]]] = {}
            for table in tenant_tables():
                column = "id" if table == "tenant" else "tenant_id"
                rows = await conn.fetch(f"SELECT * FROM {table} WHERE {column} = $1", tenant_id)
                out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
            return out
        finally:
            await conn.close()

    return snap
