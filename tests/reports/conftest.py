"""Report test fixtures: the cloud fixtures, generated months of ledger data, and the raw rows for the oracle."""

from __future__ import annotations

import datetime as dt
import importlib.util
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agent_protocol.events import (
    Evidence,
    PassEvent,
    Snapshot,
    SnapshotRole,
    Trigger,
    TriggerKind,
    VehicleSnapshot,
    WeighingLink,
)
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.ledger import passes as ledger_passes
from cloud.ledger.corrections import CorrectionInput, correct_pass
from tenants.context import Principal, Role
from tenants.ids import new_id
from tests.ledger_kit import AgentChain


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_reports_cloud_conftest", Path(__file__).parents[1] / "cloud" / "conftest.py")
oracle = _load("_reports_oracle", Path(__file__).parent / "oracle.py")

# The cloud fixtures (settings, app, client, tenants, logins) are shared with tests/cloud.
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_make_staff = _cloud.fx_make_staff
fx_login_as = _cloud.fx_login_as
fx_superuser_url = _cloud.fx_superuser_url

CN = oracle.CN
#: Generated data covers these China days (three whole months).
FIRST = dt.date(2026, 8, 1)
LAST = dt.date(2026, 10, 31)


@dataclass
class Ledger:
    """A tenant with generated months of passes, vehicles and non-road records."""

    tenant_id: uuid.UUID
    name: str
    headers: dict[str, str]
    site_id: uuid.UUID
    lane_in: uuid.UUID
    lane_out: uuid.UUID
    agent_id: uuid.UUID
    vehicles: dict[str, uuid.UUID] = field(default_factory=dict)
    chain: AgentChain = field(init=False)

    def __post_init__(self) -> None:
        self.chain = AgentChain(self.tenant_id, self.site_id, self.agent_id, self.lane_in, self.lane_out)

    def url(self, tail: str) -> str:
        return f"/api/v1/enterprises/{self.tenant_id}/{tail}"


# Vehicle specs: key → (category, stage, fuel, type, total mass, carrier).
VEHICLES: dict[str, tuple[str, str, str, str | None, int | None, str | None]] = {
    "d4": ("transport", "4", "B", "H11", 31000, "顺达物流"),
    "d5": ("transport", "5", "B", "H11", 31000, "顺达物流"),
    "d6": ("transport", "6", "B", "Q11", 49000, "宏运运输"),
    "g5": ("transport", "5", "E", "H14", 25000, "宏运运输"),
    "ev": ("transport", "D", "C", "H11", 31000, "绿能车队"),
    "h2": ("transport", "6", "P", "H17", 25000, None),
    "light": ("transport", "6", "B", "H31", 4500, "顺达物流"),
    "nomass": ("transport", "3", "B", None, 13000, "个体"),
    "ip4": ("in_plant", "4", "B", "H17", 25000, None),
    "ipev": ("in_plant", "D", "C", None, None, None),
    "m2": ("nrmm", "2", "B", None, None, None),
    "m4": ("nrmm", "4", "B", None, None, None),
}
PLATES = {k: f"鄂A{i:03d}{c}" for i, (k, c) in enumerate(zip(VEHICLES, "ABCDEFGHJKLM", strict=True), start=100)}


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=CN).astimezone(dt.UTC)


async def _base(database: Database, tenant_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="reports-seed")
    async with database.session(actor) as session, session.begin():
        site = m.Site(tenant_id=tenant_id, name="一号厂区", address="")
        session.add(site)
        await session.flush()
        gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code="G1", name="东门")
        agent = m.Agent(tenant_id=tenant_id, site_id=site.id, name="agent-1", status="active", health={})
        session.add_all([gate, agent])
        await session.flush()
        lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L1", name="入口", direction="in")
        lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L2", name="出口", direction="out")
        session.add_all([lane_in, lane_out])
        await session.flush()
        return site.id, lane_in.id, lane_out.id, agent.id


async def add_vehicles(database: Database, ledger: Ledger) -> None:
    """The vehicles of :data:`VEHICLES`; ``d5`` gets a second version (new carrier) on 2026-09-15."""
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=ledger.tenant_id, login="seed")
    async with database.session(actor) as session, session.begin():
        for key, (category, stage, fuel, vtype, mass, carrier) in VEHICLES.items():
            vehicle = m.Vehicle(tenant_id=ledger.tenant_id, category=category)
            session.add(vehicle)
            await session.flush()
            common = {
                "tenant_id": ledger.tenant_id,
                "vehicle_id": vehicle.id,
                "category": category,
                "reason": "创建",
                "emission_stage": stage,
                "fuel_type": fuel,
                "vehicle_type": vtype,
                "total_mass_kg": mass,
                "fleet_name": carrier,
                "plate": PLATES[key] if category == "transport" else None,
                "env_reg_code": f"ENV{key.upper()}" if category != "transport" else None,
                "vin": f"VIN{key.upper():0<14}"[:17],
            }
            session.add(m.VehicleVersion(version=1, created_at=_at(dt.date(2026, 7, 1), 9, 0), **common))
            if key == "d5":
                session.add(
                    m.VehicleVersion(
                        version=2, created_at=_at(dt.date(2026, 9, 15), 0, 0), **{**common, "fleet_name": "新顺达物流"}
                    )
                )
            ledger.vehicles[key] = vehicle.id


@dataclass
class Pass:
    """A generated pass: the agent's sealed event and when the cloud receives it."""

    event: PassEvent
    received_at: dt.datetime

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.event.event_id)

    @property
    def direction(self) -> str:
        return self.event.direction.value


def pass_row(ledger: Ledger, **kw: Any) -> Pass:
    """A pass as the ledger's agent seals it, with explicit ``received_at`` (timeliness).

    ``payload`` holds what the agent adds beside the columns: ``vehicle`` (its registry's snapshot),
    ``weighing`` and ``emergency_level``; ``vehicle_id`` names the registered vehicle the agent's
    registry matched (its registry id), ``internal_code`` an in-plant code.
    """
    payload = kw.get("payload", {})
    snapshot = dict(payload.get("vehicle") or {})
    if kw.get("vehicle_id") is not None:
        snapshot.setdefault("category", "transport")
        snapshot["registry_id"] = str(kw["vehicle_id"])
    weighing = payload.get("weighing")
    scene = kw.get("scene_sha256", "a" * 64)
    trigger = kw.get("trigger", "auto")
    event = ledger.chain.event(
        kw["plate"],
        kw["occurred_at"],
        kw.get("direction", "in"),
        colour=kw.get("plate_colour", "yellow"),
        decision=kw.get("decision", "allow"),
        reasons=tuple(kw.get("reason_codes", ())),
        trigger=Trigger(kind=TriggerKind(trigger), operator=kw.get("operator"), reason_text=kw.get("manual_reason")),
        vehicle=VehicleSnapshot(**snapshot) if snapshot else None,
        evidence=Evidence(snapshots=(Snapshot(role=SnapshotRole.SCENE, sha256=scene, size=0),) if scene else ()),
        cargo=kw.get("cargo_name"),
        anomalies=tuple(kw.get("anomaly_flags", ())),
        weighing=WeighingLink(**weighing) if weighing else None,
        emergency_level=payload.get("emergency_level") or "none",
        internal_code=kw.get("internal_code"),
    )
    return Pass(event, kw.get("received_at", kw["occurred_at"] + dt.timedelta(seconds=5)))


def generate(ledger: Ledger, first: dt.date, last: dt.date, seed: int = 7, per_day: int = 12) -> list[Pass]:
    """Months of varied passes: every mix the reports distinguish, including the awkward cases."""
    rnd = random.Random(seed)
    rows: list[Pass] = []
    day = first
    keys = list(VEHICLES)
    while day <= last:
        level = "orange" if day.day in (5, 6) else ("red" if day.day == 20 else "none")
        for _ in range(rnd.randint(per_day - 4, per_day + 4)):
            hour = rnd.choice([0, 6, 7, 8, 9, 10, 10, 14, 15, 16, 23])
            at = _at(day, hour, rnd.randint(0, 59))
            kind = rnd.random()
            key = rnd.choice(keys) if kind > 0.1 else None  # 10 % vehicles not in the ledger
            category, stage, fuel, vtype, mass, _carrier = (
                VEHICLES[key] if key else ("transport", "4", "B", "H11", 30000, None)
            )
            snapshot: dict[str, Any] | None = {
                "category": category,
                "fuel": fuel,
                "emission_stage": stage,
                "vehicle_type": vtype,
                "heavy": bool(vtype and vtype[:2] in ("H1", "Q1")) or (mass or 0) >= 12000,
            }
            if key is None:
                snapshot = None  # unregistered: nothing known
            elif rnd.random() < 0.1:
                snapshot = None  # manual entry / old agent: fall back to the version in force
            direction = rnd.choice(["in", "out"])
            decision = "refuse" if (stage in ("3", "4") and level != "none" and category == "transport") else "allow"
            if rnd.random() < 0.03:
                decision = "refuse"
            reasons = []
            if decision == "refuse":
                reasons = rnd.choice([["emergency_heavy_stage"], ["blacklisted"], [], ["a_grade_stage", "blacklisted"]])
            trigger = "auto"
            manual_reason = operator = None
            if rnd.random() < 0.05:
                trigger, decision, operator = "manual_release", "allow", "门岗张三"
                manual_reason = rnd.choice(["车牌无法识别", "", None, "主管指令放行"])
                reasons = []
            elif snapshot is None and key is not None:
                trigger = "manual_entry"
            cargo = rnd.choice(["煤炭", "石灰石", None]) if category == "transport" else None
            payload: dict[str, Any] = {"emergency_level": level}
            if snapshot is not None:
                payload["vehicle"] = snapshot
            if cargo and decision == "allow" and rnd.random() > 0.12:  # 12 % weighings missing
                payload["weighing"] = {"weighing_id": str(new_id()), "net_kg": rnd.randint(8000, 35000)}
            delay = dt.timedelta(seconds=rnd.choice([3, 30, 200, 900, 7200]))
            rows.append(
                pass_row(
                    ledger,
                    occurred_at=at,
                    received_at=at + delay,
                    direction=direction,
                    plate=PLATES[key]
                    if key and category == "transport"
                    else (f"鄂B{rnd.randint(10000, 99999)}" if not key else f"ENV{key.upper()}"),
                    plate_colour=rnd.choice(["yellow"] * 9 + ["other"]),
                    vehicle_id=ledger.vehicles[key] if key and snapshot is not None else None,
                    internal_code=f"ENV{key.upper()}" if key and category != "transport" else None,
                    decision=decision,
                    reason_codes=reasons,
                    trigger=trigger,
                    operator=operator,
                    manual_reason=manual_reason,
                    scene_sha256=None if rnd.random() < 0.03 else "b" * 64,
                    cargo_name=cargo,
                    anomaly_flags=["clock_skew"] if rnd.random() < 0.02 else [],
                    payload=payload,
                )
            )
        day += dt.timedelta(days=1)
    return rows


def corrections(ledger: Ledger, passes: list[Pass], seed: int = 7) -> list[Correction]:
    """Corrections of about 5 % of the passes: voids, plates, colours, directions, cargo and net weights,
    another registered vehicle, and passes corrected twice (the newest wins, even when it restates less)."""
    rnd = random.Random(seed * 31 + 1)
    out: list[Correction] = []
    trucks = sorted(k for k in ledger.vehicles if VEHICLES[k][0] == "transport")
    for event in passes:
        if rnd.random() >= 0.05:
            continue
        times = 2 if rnd.random() < 0.25 else 1
        for _n in range(times):
            kind = rnd.choice(["void", "plate", "colour", "direction", "cargo", "net", "vehicle", "mixed"])
            fields: dict[str, Any] = {}
            if kind == "void":
                fields["void"] = True
            if kind in ("plate", "mixed"):
                fields["plate"] = f"鄂A{rnd.randint(10000, 99999)}"
            if kind == "colour":
                fields["plate_colour"] = rnd.choice(["yellow", "green", "yellow_green"])
            if kind in ("direction", "mixed"):
                fields["direction"] = "out" if event.direction == "in" else "in"
            if kind in ("cargo", "mixed"):
                fields["cargo_name"] = rnd.choice(["煤炭", "焦炭", "铁矿石"])
            if kind in ("net", "cargo"):
                fields["net_kg"] = Decimal(rnd.randint(5000, 36000))
            if kind == "vehicle" and trucks:
                key = rnd.choice(trucks)  # the read was another registered truck
                fields["vehicle_id"] = ledger.vehicles[key]  # (PLATES are short of the plate grammar)
            fields.setdefault("void", False)
            out.append(Correction(event.id, CorrectionInput(reason="核对抓拍照片后更正", **fields)))
    return out


@dataclass
class Correction:
    """A person's correction of a generated pass."""

    pass_id: uuid.UUID
    data: CorrectionInput


async def insert(database: Database, ledger: Ledger, rows: list[Any]) -> None:
    """Store passes and corrections through the ledger as the application role of the ledger's tenant."""
    actor = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=ledger.tenant_id, login="seed")
    passes = [r for r in rows if isinstance(r, Pass)]
    async with database.session(actor) as session, session.begin():
        if passes:
            await ledger_passes.store_batch(
                session, ledger.chain.source, [p.event for p in passes], received_at=[p.received_at for p in passes]
            )
        for row in rows:
            if isinstance(row, Correction):
                await correct_pass(session, actor, row.pass_id, row.data)


@pytest.fixture(name="make_ledger")
def fx_make_ledger(database: Database, make_tenant: Any, login_as: Any) -> Callable[..., Awaitable[Ledger]]:
    """Factory: a tenant with vehicles and generated passes over FIRST…LAST."""

    async def make(region_code: str = "420102", seed: int = 7, per_day: int = 12, name: str | None = None) -> Ledger:
        tenant = await make_tenant(region_code=region_code, name=name)
        headers = await login_as(tenant.admin_login)
        site_id, lane_in, lane_out, agent_id = await _base(database, tenant.tenant_id)
        ledger = Ledger(tenant.tenant_id, tenant.name, headers, site_id, lane_in, lane_out, agent_id)
        await add_vehicles(database, ledger)
        passes = generate(ledger, FIRST, LAST, seed, per_day)
        await insert(database, ledger, passes)
        await insert(database, ledger, corrections(ledger, passes, seed))
        return ledger

    return make


@pytest.fixture(name="raw")
def fx_raw(superuser_url: str) -> Callable[[uuid.UUID], Awaitable[dict[str, list[dict[str, Any]]]]]:
    """The raw rows of one tenant (superuser, RLS bypassed): passes, vehicle versions, non-road records."""

    async def read(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
        import json  # noqa: PLC0415

        conn = await asyncpg.connect(superuser_url)
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        try:
            out = {}
            for table in ("pass_event", "vehicle_version", "non_road_transport", "pass_correction"):
                rows = await conn.fetch(f"SELECT * FROM {table} WHERE tenant_id = $1", tenant_id)
                out[table] = [dict(r) for r in rows]
            return out
        finally:
            await conn.close()

    return read


__all__ = ["FIRST", "LAST", "VEHICLES", "Decimal", "Ledger", "oracle"]


@pytest.fixture(name="oracle")
def fx_oracle() -> Any:
    """The independent plain-Python computation (tests/reports/oracle.py)."""
    return oracle


@pytest.fixture(name="add_passes")
def fx_add_passes(database: Database) -> Callable[..., Awaitable[list[Pass]]]:
    """Factory: insert passes given as ``pass_row`` keyword dicts for a ledger; returns the rows."""

    async def add(ledger: Ledger, specs: list[dict[str, Any]]) -> list[Pass]:
        rows = [pass_row(ledger, **spec) for spec in specs]
        await insert(database, ledger, rows)
        return rows

    return add
