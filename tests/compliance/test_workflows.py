"""Compliance workflows through the API: maker-checker, policy, region alerts, inventory, sampling, verify."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import pytest

from agent.decision.engine import DecisionEngine, DecisionRequest, DecisionSettings
from agent.decision.registry import LocalRegistry, RegistrySnapshot
from agent_protocol.events import Direction
from cloud.compliance import push, snapshots
from hj1321.grading import WarningLevel
from hj1321.identifiers import vin_check_digit
from hj1321.rules import decode_policy
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)


def _vin(serial: int) -> str:
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


def _truck(serial: int, **extra: Any) -> dict[str, Any]:
    return {
        "category": "transport",
        "plate": f"鄂A{serial:05d}",
        "plate_colour": "yellow",
        "vin": _vin(serial),
        "emission_stage": "国六",
        "fuel_type": "柴油",
        "vehicle_type": "H11",
        "total_mass_kg": 31000,
        **extra,
    }


class Listener:
    """LISTEN on the command channel as the app role (what a hub replica does)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.conn: asyncpg.Connection | None = None

    async def start(self, db_urls: Any) -> None:
        self.conn = await asyncpg.connect(db_urls.app_url.replace("postgresql+asyncpg://", "postgresql://"))
        await self.conn.add_listener(push.CHANNEL, lambda *a: self.messages.append(json.loads(a[3])))

    async def wait(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        for _ in range(int(seconds / 0.02)):
            if len(self.messages) >= count:
                break
            await asyncio.sleep(0.02)
        return self.messages

    async def stop(self) -> None:
        if self.conn is not None:
            await self.conn.close()


@pytest.fixture(name="listener")
async def fx_listener(db_urls: Any) -> Any:
    listener = Listener()
    await listener.start(db_urls)
    yield listener
    await listener.stop()


async def test_maker_checker(client, make_tenant, make_user, login_as, database) -> None:
    tenant = await make_tenant()
    maker = await login_as(await make_user(tenant.tenant_id, Role.MANAGER))
    checker = await login_as(tenant.admin_login)
    created = await client.post("/api/v1/vehicles", json=_truck(1), headers=maker)
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    assert created.json()["current"]["review"] == "pending"
    queue = (await client.get("/api/v1/compliance/vehicle-reviews", headers=checker)).json()
    assert [i["vehicle_id"] for i in queue["items"]] == [vid]
    assert queue["items"][0]["changed"] == ["新建"]
    own = await client.post(
        f"/api/v1/vehicles/{vid}/reviews", json={"version": 1, "decision": "verified", "reason": "核对"}, headers=maker
    )
    assert own.status_code == 409
    assert own.json()["code"] == "review_own"
    ok = await client.post(
        f"/api/v1/vehicles/{vid}/reviews",
        json={"version": 1, "decision": "verified", "reason": "核对随车清单"},
        headers=checker,
    )
    assert ok.status_code == 201, ok.text
    again = await client.post(
        f"/api/v1/vehicles/{vid}/reviews", json={"version": 1, "decision": "rejected", "reason": "x"}, headers=checker
    )
    assert again.json()["code"] == "review_done"
    # A descriptive correction keeps the verification; a changed stage needs the checker again.
    fleet = await client.post(
        f"/api/v1/vehicles/{vid}/corrections",
        json={"reason": "补录", "changes": {"fleet_name": "顺达车队"}},
        headers=maker,
    )
    assert fleet.json()["current"]["review"] == "verified"
    stage = await client.post(
        f"/api/v1/vehicles/{vid}/corrections",
        json={"reason": "更正", "changes": {"emission_stage": "国五"}},
        headers=maker,
    )
    assert stage.json()["current"]["review"] == "pending"
    # Agents see the last verified stage until the checker approves the change.
    principal = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id)
    async with database.session(principal) as session, session.begin():
        registry = await snapshots.registry_snapshot(session, tenant.tenant_id)
    (entry,) = registry["vehicles"]
    assert entry["emission_stage"] == "6"
    snapshot = RegistrySnapshot(
        version=registry["version"], vehicles=tuple(_registry_vehicle(v) for v in registry["vehicles"])
    )
    assert LocalRegistry(snapshot).find(plate="鄂A00001") is not None


def _registry_vehicle(data: dict[str, Any]) -> Any:
    import msgspec  # noqa: PLC0415

    from agent.decision.registry import RegistryVehicle  # noqa: PLC0415

    return msgspec.convert({k: v for k, v in data.items() if v is not None}, RegistryVehicle)


async def test_unverified_vehicle_has_no_stage_for_agents(client, make_tenant, login_as, database) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    await client.post("/api/v1/vehicles", json=_truck(2, emission_stage="国四"), headers=headers)
    principal = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id)
    async with database.session(principal) as session, session.begin():
        registry = await snapshots.registry_snapshot(session, tenant.tenant_id)
    (entry,) = registry["vehicles"]
    assert entry["emission_stage"] is None
    assert entry["fuel"] is None


async def test_policy_versions_window_and_push(client, make_tenant, login_as, listener, database) -> None:
    tenant = await make_tenant(grade="B")
    headers = await login_as(tenant.admin_login)
    current = (await client.get("/api/v1/compliance/policy", headers=headers)).json()
    assert current["is_default"] is True
    assert {r["state"] for r in current["rules"]} == {"default"}
    control = (await client.get("/api/v1/compliance/policy/default", headers=headers)).json()
    for rule in control["rules"]:
        if rule["id"] == "strategy3_gas_cn5":
            rule["enabled"] = True
    control["min_heavy_stage_by_level"] = {"red": "6"}
    saved = await client.post(
        "/api/v1/compliance/policy",
        json={
            "control": control,
            "reason": "属地要求：橙色以上禁行国五燃气车",
            "exemption_members": {"special": ["鄂A·12345"]},
        },
        headers=headers,
    )
    assert saved.status_code == 201, saved.text
    body = saved.json()
    assert body["version"] == "t1"
    assert {r["rule_id"]: r["state"] for r in body["rules"]}["strategy3_gas_cn5"] == "modified"
    assert body["exemption_members"] == {"special": ["鄂A12345"]}
    messages = await listener.wait(1)
    assert any(m["name"] == "policy_updated" and m["tenant_id"] == str(tenant.tenant_id) for m in messages)
    # A scheduled window wins while open.
    now = dt.datetime.now(dt.UTC)
    window = await client.post(
        "/api/v1/compliance/policy",
        json={
            "control": control,
            "reason": "夜间限行",
            "effective_from": (now - dt.timedelta(minutes=1)).isoformat(),
            "effective_until": (now + dt.timedelta(hours=1)).isoformat(),
        },
        headers=headers,
    )
    assert window.json()["version"] == "t2"
    later = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id)
    async with database.session(later) as session, session.begin():
        after = await snapshots.policy_snapshot(session, tenant.tenant_id, now + dt.timedelta(hours=2))
        during = await snapshots.policy_snapshot(session, tenant.tenant_id, now)
    assert (after["version"], during["version"]) == ("t1", "t2")
    decode_policy(json.dumps(during["policy"]))  # what the agent caches
    bad = await client.post(
        "/api/v1/compliance/policy", json={"control": {"rules": [{"id": "x"}]}, "reason": "x"}, headers=headers
    )
    assert bad.status_code == 422
    unknown_list = dict(control, rules=[dict(control["rules"][1], exempt_lists=["nobody"])])
    bad = await client.post("/api/v1/compliance/policy", json={"control": unknown_list, "reason": "x"}, headers=headers)
    assert bad.status_code == 422
    assert "nobody" in bad.json()["detail"]


async def test_region_alert_reaches_the_region_only(
    client, make_tenant, make_staff, login_as, listener, database
) -> None:
    # 黄石市 (4202): the end-to-end test uses 武汉 (4201) in the same database.
    jiangan = await make_tenant(region_code="420202", grade="C")
    wuchang = await make_tenant(region_code="420203", grade="B")
    yichang = await make_tenant(region_code="420502", grade="C")
    admin = await login_as(await make_staff("platform_admin"))
    tenant_headers = await login_as(jiangan.admin_login)
    forbidden = await client.post(
        "/api/v1/admin/region-alerts",
        json={"region_code": "4202", "level": "orange", "ends_at": "2099-01-01T00:00:00Z", "reason": "x"},
        headers=tenant_headers,
    )
    assert forbidden.status_code == 403
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)
    declared = await client.post(
        "/api/v1/admin/region-alerts",
        json={
            "region_code": "4202",
            "level": "orange",
            "ends_at": ends.isoformat(),
            "reason": "武汉市重污染天气橙色预警",
        },
        headers=admin,
    )
    assert declared.status_code == 201, declared.text
    assert declared.json()["tenants"] >= 2  # other tests' tenants of 4202 share this database
    alert_id = declared.json()["alert"]["id"]
    mine = {str(jiangan.tenant_id), str(wuchang.tenant_id), str(yichang.tenant_id)}
    messages = await listener.wait(2)
    levels = {
        m["tenant_id"]: m["args"]["level"]
        for m in messages
        if m["name"] == "set_emergency_level" and m["tenant_id"] in mine
    }
    assert levels == {str(jiangan.tenant_id): "orange", str(wuchang.tenant_id): "orange"}
    status = (await client.get("/api/v1/compliance/emergency", headers=tenant_headers)).json()
    assert status["level"] == "orange"
    assert [r["event"] for r in status["responses"]["items"]] == ["declared"]
    outside = (await client.get("/api/v1/compliance/emergency", headers=await login_as(yichang.admin_login))).json()
    assert outside["level"] == "none"
    assert outside["responses"]["total"] == 0
    # The agent decision under the level: a 国四 heavy truck is refused in orange.
    principal = Principal(user_id=uuid.UUID(int=3), role=Role.TENANT_ADMIN, tenant_id=jiangan.tenant_id)
    async with database.session(principal) as session, session.begin():
        level = await snapshots.level_snapshot(session, jiangan.tenant_id)
        policy_doc = await snapshots.policy_snapshot(session, jiangan.tenant_id)
    assert level["level"] == "orange"
    engine = DecisionEngine(
        policy=decode_policy(json.dumps(policy_doc["policy"])),
        settings=DecisionSettings(grade="C", unknown_vehicle="allow_flag"),
    )
    engine.update(level=WarningLevel(level["level"]))
    bad = engine.decide_local(
        DecisionRequest(lane_id="l", direction=Direction.IN, moment=dt.datetime.now(dt.UTC), plate="鄂A11111")
    )
    assert bad.decision.value == "refuse"  # unknown vehicle: stage unknown is treated as old under orange
    # Cancel: responses record the end; agents fall back to none.
    cancelled = await client.post(
        f"/api/v1/admin/region-alerts/{alert_id}/cancel", json={"reason": "预警解除"}, headers=admin
    )
    assert cancelled.status_code == 200, cancelled.text
    status = (await client.get("/api/v1/compliance/emergency", headers=tenant_headers)).json()
    assert status["level"] == "none"
    assert sorted(r["event"] for r in status["responses"]["items"]) == ["cancelled", "declared"]
    for _ in range(100):
        ends = [
            m["args"]["level"]
            for m in listener.messages
            if m["name"] == "set_emergency_level" and m["tenant_id"] in mine
        ]
        if len(ends) >= 4:
            break
        await asyncio.sleep(0.05)
    assert ends == ["orange", "orange", "none", "none"]
    regulator = await login_as(await make_staff("regulator", "4202"))
    alerts = (await client.get("/api/v1/admin/region-alerts", headers=regulator)).json()
    assert [a["id"] for a in alerts["items"]] == [alert_id]


async def test_inventory_workflow(client, make_tenant, login_as) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    for body in (
        {"category": "in_plant", "internal_code": "CN01", "vin": _vin(11), "emission_stage": "国六", "fuel_type": "电"},
        {
            "category": "in_plant",
            "internal_code": "CN02",
            "vin": _vin(12),
            "emission_stage": "国五",
            "fuel_type": "柴油",
        },
        {"category": "nrmm", "env_reg_code": "EA0001", "pin": "PIN1", "emission_stage": "国三", "fuel_type": "柴油"},
    ):
        assert (await client.post("/api/v1/vehicles", json=body, headers=headers)).status_code == 201
    sheet = (
        await client.post("/api/v1/compliance/inventories", json={"title": "2026年11月盘点"}, headers=headers)
    ).json()
    assert sheet["expected"] == 3
    sid = sheet["id"]
    counted = await client.post(
        f"/api/v1/compliance/inventories/{sid}/counts",
        json={
            "items": [
                {"identifier": "cn01", "present": True},
                {"identifier": "CN02", "present": False},
                {"identifier": "EA0001", "present": True},
                {"identifier": "EA0099", "present": True, "note": "挖掘机"},
            ]
        },
        headers=headers,
    )
    body = counted.json()
    assert (body["missing"], body["unregistered"]) == (["CN02"], ["EA0099"])
    refused = await client.post(
        f"/api/v1/compliance/inventories/{sid}/close",
        json={"follow_ups": {"CN02": "已报废，注销台账"}},
        headers=headers,
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "inventory_incomplete"
    assert [e["field"] for e in refused.json()["errors"]] == ["EA0099"]
    closed = await client.post(
        f"/api/v1/compliance/inventories/{sid}/close",
        json={"follow_ups": {"CN02": "已报废，注销台账", "EA0099": "补录台账"}},
        headers=headers,
    )
    assert closed.json()["status"] == "closed"
    late = await client.post(
        f"/api/v1/compliance/inventories/{sid}/counts",
        json={"items": [{"identifier": "X", "present": True}]},
        headers=headers,
    )
    assert late.status_code == 409
    csv_text = (await client.get(f"/api/v1/compliance/inventories/{sid}/sheet", headers=headers)).content.decode(
        "utf-8-sig"
    )
    assert "EA0099" in csv_text
    assert "补录台账" in csv_text


async def test_audit_sample_and_regulator_verify(client, make_tenant, make_staff, login_as, make_plant) -> None:
    tenant = await make_tenant(region_code="420102")
    plant = await make_plant(tenant.tenant_id)
    headers = await login_as(tenant.admin_login)
    base = dt.datetime(2026, 10, 10, 1, 0, tzinfo=dt.UTC)
    await plant.passes(*[(f"鄂A{20000 + i}", base + dt.timedelta(days=i), "in") for i in range(30)])
    saved = await client.post(
        "/api/v1/compliance/audit-samples", json={"quarter": "2026Q4", "seed": "s1", "size": 8}, headers=headers
    )
    assert saved.status_code == 201, saved.text
    records = [r["pass_id"] for r in saved.json()["records"]]
    assert len(records) == 8
    assert saved.json()["population"] == 30
    assert len([d for d in saved.json()["days"] if d["kind"] == "normal"]) == 3
    regulator = await login_as(await make_staff("regulator", "4201"))
    url = f"/api/v1/enterprises/{tenant.tenant_id}/audit-sample"
    redraw = await client.get(url, params={"quarter": "2026Q4", "seed": "s1", "size": 8}, headers=regulator)
    assert [r["pass_id"] for r in redraw.json()["records"]] == records
    other = await client.get(url, params={"quarter": "2026Q4", "seed": "s2", "size": 8}, headers=regulator)
    assert [r["pass_id"] for r in other.json()["records"]] != records
    loaded = await client.get(f"/api/v1/compliance/audit-samples/{saved.json()['id']}", headers=headers)
    assert [r["pass_id"] for r in loaded.json()["records"]] == records
    # The regulator verifies the enterprise's ledger, with an anchor it kept.
    anchor = await client.post(f"/api/v1/enterprises/{tenant.tenant_id}/ledger/anchors", headers=headers)
    assert anchor.status_code == 201
    report = (await client.get(f"/api/v1/enterprises/{tenant.tenant_id}/ledger/verify", headers=regulator)).json()
    assert report["ok"], report
    assert report["agent_events"] == 30
    with_anchor = await client.post(
        f"/api/v1/enterprises/{tenant.tenant_id}/ledger/verify", json={"anchors": [anchor.json()]}, headers=regulator
    )
    assert with_anchor.json()["ok"]
    assert with_anchor.json()["anchors_checked"] == 2
    elsewhere = await login_as(await make_staff("regulator", "4205"))
    assert (
        await client.get(f"/api/v1/enterprises/{tenant.tenant_id}/ledger/verify", headers=elsewhere)
    ).status_code == 404


async def test_ledger_cli_verify_and_anchor(
    make_tenant, make_plant, owner_sql, db_urls, monkeypatch, tmp_path, capsys
) -> None:
    from cloud.cli import ledger  # noqa: PLC0415

    tenant = await make_tenant()
    plant = await make_plant(tenant.tenant_id)
    await plant.passes(*[(f"鄂A{30000 + i}", T0 + dt.timedelta(minutes=i), "in") for i in range(6)])
    monkeypatch.setenv("DATABASE_APP_URL", db_urls.app_url)
    monkeypatch.setenv("DATABASE_OWNER_URL", db_urls.owner_url)
    monkeypatch.setenv("DATABASE_REGULATOR_URL", db_urls.regulator_url)
    anchors = tmp_path / "anchors.json"
    code = await asyncio.to_thread(ledger.main, ["anchor", "--tenant", str(tenant.tenant_id), "--out", str(anchors)])
    assert code == 0
    assert await asyncio.to_thread(ledger.main, ["verify", "--tenant", str(tenant.tenant_id)]) == 0
    await owner_sql("pass_event", "DELETE FROM pass_event WHERE agent_id = $1 AND seq = 6", plant.agent_id)
    await owner_sql("chain_anchor", "DELETE FROM chain_anchor WHERE tenant_id = $1", tenant.tenant_id)
    capsys.readouterr()
    assert await asyncio.to_thread(ledger.main, ["verify", "--tenant", str(tenant.tenant_id)]) == 0
    code = await asyncio.to_thread(
        ledger.main, ["verify", "--tenant", str(tenant.tenant_id), "--anchors", str(anchors)]
    )
    assert code == 1
    out = capsys.readouterr().out
    assert "校验未通过" in out
    assert "序号 6" in out


async def test_review_queue_roles_and_refresh(client, make_tenant, make_user, login_as, make_plant) -> None:
    tenant = await make_tenant()
    plant = await make_plant(tenant.tenant_id)
    await plant.passes(("鄂A80001", T0, "out"))
    guard = await login_as(await make_user(tenant.tenant_id, Role.GUARD))
    manager = await login_as(await make_user(tenant.tenant_id, Role.MANAGER))
    # Reading the queue brings the checks up to date (no explicit run needed).
    queue = (await client.get("/api/v1/compliance/flags", headers=guard)).json()
    codes = {f["code"] for f in queue["items"]}
    assert {"exit_without_entry", "stage_missing"} <= codes
    summary = (await client.get("/api/v1/compliance/flags/summary", headers=guard)).json()
    assert summary["open_total"] == queue["total"]
    flag = next(f for f in queue["items"] if f["code"] == "exit_without_entry")
    assert flag["title"] == "出场无入场记录"
    assert flag["status_label"] == "待处理"
    url = f"/api/v1/compliance/flags/{flag['id']}/resolutions"
    denied = await client.post(url, json={"outcome": "resolved", "reason": "门岗自行处理"}, headers=guard)
    assert denied.status_code == 403
    done = await client.post(url, json={"outcome": "dismissed", "reason": "入场记录在另一厂区"}, headers=manager)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "closed"
    again = await client.post(url, json={"outcome": "resolved", "reason": "x"}, headers=manager)
    assert again.json()["code"] == "flag_closed"
    by_pass = await client.get(
        "/api/v1/compliance/flags", params={"status": "all", "pass_event_id": flag["pass_event_id"]}, headers=guard
    )
    assert {f["id"] for f in by_pass.json()["items"]} >= {flag["id"]}
    unknown = await client.get("/api/v1/compliance/flags", params={"code": "nonsense"}, headers=guard)
    assert unknown.status_code == 422
