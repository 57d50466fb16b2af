"""Tamper evidence: agent chains, the cloud chain and anchors against direct SQL by the table owner."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import pytest

from agent_protocol.events import PassEvent, event_hash
from cloud.compliance import chain
from cloud.db import models as m
from cloud.db.canonical import anchor_hash
from cloud.domain import vehicles
from hj1321.identifiers import vin_check_digit
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)


def _admin(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=uuid.UUID(int=7), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="admin7")


def _vin(serial: int) -> str:
    vin = f"LGB5BLSX0A{serial:07d}"
    return vin[:8] + vin_check_digit(vin) + vin[9:]


async def _verify(
    database: Any, tenant_id: uuid.UUID, external: list[dict[str, Any]] | None = None
) -> chain.VerifyReport:
    async with database.session(_admin(tenant_id)) as session, session.begin():
        return await session.run_sync(lambda s: chain.verify(s, tenant_id, external or []))


async def _anchor(database: Any, tenant_id: uuid.UUID) -> dict[str, Any]:
    async with database.session(_admin(tenant_id)) as session, session.begin():
        return await session.run_sync(lambda s: chain.make_anchor(s, tenant_id, "on_demand", None))


async def _ten_passes(make_tenant: Any, make_plant: Any) -> Any:
    tenant = await make_tenant()
    plant = await make_plant(tenant.tenant_id)
    specs = [(f"鄂A{10000 + i}", T0 + dt.timedelta(minutes=10 * i), "in" if i % 2 == 0 else "out") for i in range(10)]
    await plant.passes(*specs)
    return plant


async def test_intact_chains_verify(database, make_tenant, make_plant) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    async with database.session(_admin(plant.tenant_id)) as session, session.begin():
        await vehicles.create_vehicle(
            session,
            _admin(plant.tenant_id),
            "transport",
            {"plate": "鄂A10000", "plate_colour": "yellow", "vin": _vin(1), "emission_stage": "6", "fuel_type": "B"},
        )
    report = await _verify(database, plant.tenant_id)
    assert report.ok, report.problems
    assert report.agent_events == 10
    assert report.cloud_records == 1  # the vehicle version was sealed in its own transaction
    anchor = await _anchor(database, plant.tenant_id)
    assert anchor["heads"]["agents"][str(plant.agent_id)] == {"seq": 10, "hash": plant.head}
    assert (await _verify(database, plant.tenant_id, [anchor])).ok


async def test_edited_column_names_the_record(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    fifth = plant.events[4]
    await owner_sql("pass_event", "UPDATE pass_event SET plate = '鄂A99999' WHERE id = $1", uuid.UUID(fifth.event_id))
    report = await _verify(database, plant.tenant_id)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.code, first.seq, first.record_id) == ("columns", 5, fifth.event_id)
    assert "plate" in first.message
    assert "序号 5" in report.summary()


async def test_edited_payload_without_rehash(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    third = plant.events[2]
    await owner_sql(
        "pass_event",
        "UPDATE pass_event SET payload = jsonb_set(payload, '{confidence}', '0.5') WHERE id = $1",
        uuid.UUID(third.event_id),
    )
    first = (await _verify(database, plant.tenant_id)).first
    assert first is not None
    assert (first.code, first.seq) == ("hash", 3)


async def test_edited_and_rehashed_record_is_named(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    forged = msgspec.structs.replace(plant.events[5], cargo="黄沙")
    forged = msgspec.structs.replace(forged, hash=event_hash(forged, forged.prev_hash))
    await owner_sql(
        "pass_event",
        "UPDATE pass_event SET cargo_name = $2, payload = $3::jsonb, hash = $4 WHERE id = $1",
        uuid.UUID(forged.event_id),
        "黄沙",
        json.dumps(msgspec.to_builtins(forged)),
        forged.hash,
    )
    first = (await _verify(database, plant.tenant_id)).first
    assert first is not None
    assert (first.code, first.seq, first.record_id) == ("rehashed", 6, forged.event_id)


async def test_deleted_row_in_the_middle(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    await owner_sql("pass_event", "DELETE FROM pass_event WHERE id = $1", uuid.UUID(plant.events[3].event_id))
    first = (await _verify(database, plant.tenant_id)).first
    assert first is not None
    assert (first.code, first.seq) == ("seq_gap", 5)
    assert "序号 4" in first.message


async def test_inserted_row_in_the_middle(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    # The insider renumbers the tail and slips a well-formed, correctly hashed event in at seq 4.
    await owner_sql(
        "pass_event", "UPDATE pass_event SET seq = -(seq + 1) WHERE agent_id = $1 AND seq >= 4", plant.agent_id
    )
    await owner_sql("pass_event", "UPDATE pass_event SET seq = -seq WHERE agent_id = $1 AND seq < 0", plant.agent_id)
    template = plant.events[3]
    fake = msgspec.structs.replace(
        template, event_id=str(uuid.uuid4()), plate="鄂A55555", prev_hash=plant.events[2].hash
    )
    fake = msgspec.structs.replace(fake, hash=event_hash(fake, fake.prev_hash))
    await owner_sql(
        "pass_event",
        "INSERT INTO pass_event (tenant_id, id, site_id, lane_id, agent_id, seq, direction, occurred_at, received_at, "
        "plate, plate_colour, confidence, decision, reason_codes, trigger, anomaly_flags, prev_hash, hash, payload) "
        "VALUES ($1, $2, $3, $4, $5, 4, $6, $7, now(), '鄂A55555', 'yellow', 0.97, 'allow', '{allowed}', 'auto', "
        "'{}', $8, $9, $10::jsonb)",
        plant.tenant_id,
        uuid.UUID(fake.event_id),
        plant.site_id,
        uuid.UUID(fake.lane_id),
        plant.agent_id,
        fake.direction.value,
        fake.occurred_at,
        fake.prev_hash,
        fake.hash,
        json.dumps(msgspec.to_builtins(fake)),
    )
    first = (await _verify(database, plant.tenant_id)).first
    assert first is not None
    # The renumbered original seq 4 (now 5) gives it away: the inserted record is named.
    assert (first.code, first.seq, first.record_id) == ("inserted", 4, fake.event_id)


async def test_inserted_row_detected_by_chain_link(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    # A cleverer insider rewrites the payload seq of the tail too, so every row matches its payload.
    for event in reversed(plant.events[3:]):
        moved = msgspec.structs.replace(event, seq=event.seq + 1)
        await owner_sql(
            "pass_event",
            "UPDATE pass_event SET seq = $2, payload = $3::jsonb WHERE id = $1",
            uuid.UUID(event.event_id),
            moved.seq,
            json.dumps(msgspec.to_builtins(moved)),
        )
    fake = msgspec.structs.replace(
        plant.events[3], event_id=str(uuid.uuid4()), plate="鄂A55555", prev_hash=plant.events[2].hash
    )
    fake = msgspec.structs.replace(fake, hash=event_hash(fake, fake.prev_hash))
    await owner_sql(
        "pass_event",
        "INSERT INTO pass_event (tenant_id, id, site_id, lane_id, agent_id, seq, direction, occurred_at, received_at, "
        "plate, plate_colour, confidence, decision, reason_codes, trigger, anomaly_flags, prev_hash, hash, payload) "
        "VALUES ($1, $2, $3, $4, $5, 4, $6, $7, now(), '鄂A55555', 'yellow', 0.97, 'allow', '{allowed}', 'auto', "
        "'{}', $8, $9, $10::jsonb)",
        plant.tenant_id,
        uuid.UUID(fake.event_id),
        plant.site_id,
        uuid.UUID(fake.lane_id),
        plant.agent_id,
        fake.direction.value,
        fake.occurred_at,
        fake.prev_hash,
        fake.hash,
        json.dumps(msgspec.to_builtins(fake)),
    )
    first = (await _verify(database, plant.tenant_id)).first
    assert first is not None
    assert (first.code, first.seq, first.record_id) == ("inserted", 4, fake.event_id)


async def test_deleting_newest_rows_is_caught_by_anchors(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    anchor = await _anchor(database, plant.tenant_id)
    await owner_sql("pass_event", "DELETE FROM pass_event WHERE agent_id = $1 AND seq >= 9", plant.agent_id)
    plain = await _verify(database, plant.tenant_id, [])
    # The remaining chain is intact by itself; the anchor in the database catches the deletion.
    assert [p.chain for p in plain.problems] == [f"agent:{plant.agent_id}"]
    assert plain.first is not None
    assert plain.first.code == "anchor_missing"
    assert "序号 10" in plain.first.message
    # The insider also deletes the anchors: the verifier's own copy still catches it.
    await owner_sql("chain_anchor", "DELETE FROM chain_anchor WHERE tenant_id = $1", plant.tenant_id)
    assert (await _verify(database, plant.tenant_id)).ok
    report = await _verify(database, plant.tenant_id, [anchor])
    assert report.first is not None
    assert report.first.code == "anchor_missing"


async def test_rehashing_a_whole_chain_is_caught_by_anchors(database, make_tenant, make_plant, owner_sql) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    anchor = await _anchor(database, plant.tenant_id)
    prev = plant.events[0].prev_hash
    for i, event in enumerate(plant.events):
        changed = msgspec.structs.replace(event, plate="鄂A77777" if i == 2 else event.plate, prev_hash=prev)
        changed = msgspec.structs.replace(changed, hash=event_hash(changed, prev))
        prev = changed.hash
        await owner_sql(
            "pass_event",
            "UPDATE pass_event SET plate = $2, prev_hash = $3, hash = $4, payload = $5::jsonb WHERE id = $1",
            uuid.UUID(event.event_id),
            changed.plate,
            changed.prev_hash,
            changed.hash,
            json.dumps(msgspec.to_builtins(changed)),
        )
    report = await _verify(database, plant.tenant_id)
    assert report.first is not None
    assert report.first.code == "anchor_mismatch"
    # Re-hashing the anchors too needs the verifier's copy.
    await owner_sql(
        "chain_anchor",
        "UPDATE chain_anchor SET heads = jsonb_set(heads, ARRAY['agents', $2::text, 'hash'], to_jsonb($3::text)) "
        "WHERE tenant_id = $1",
        plant.tenant_id,
        str(plant.agent_id),
        prev,
    )
    report = await _verify(database, plant.tenant_id, [anchor])
    codes = {p.code for p in report.problems}
    assert "anchor_mismatch" in codes or "anchor_rewritten" in codes
    assert not report.ok


async def test_cloud_rows_edit_delete_insert(database, make_tenant, make_plant, owner_sql) -> None:
    tenant = await make_tenant()
    principal = _admin(tenant.tenant_id)
    created = []
    async with database.session(principal) as session, session.begin():
        for n in range(3):
            detail = await vehicles.create_vehicle(
                session,
                principal,
                "transport",
                {
                    "plate": f"鄂A2000{n}",
                    "plate_colour": "yellow",
                    "vin": _vin(100 + n),
                    "emission_stage": "5",
                    "fuel_type": "B",
                },
            )
            created.append(detail.current.id)
    assert (await _verify(database, tenant.tenant_id)).ok
    # Edit: the second vehicle's emission stage typed up from 国五 to 国六.
    await owner_sql("vehicle_version", "UPDATE vehicle_version SET emission_stage = '6' WHERE id = $1", created[1])
    first = (await _verify(database, tenant.tenant_id)).first
    assert first is not None
    assert (first.chain, first.code, first.record_id, first.seq) == ("cloud", "content", str(created[1]), 2)
    await owner_sql("vehicle_version", "UPDATE vehicle_version SET emission_stage = '5' WHERE id = $1", created[1])
    assert (await _verify(database, tenant.tenant_id)).ok
    # Insert: a version written behind the application's back, dated in the past.
    await owner_sql(
        "vehicle_version",
        "INSERT INTO vehicle_version (tenant_id, id, vehicle_id, version, category, status, review, reason, "
        "created_at, "
        "plate, plate_colour, vin, emission_stage, fuel_type, extra) SELECT tenant_id, $2, vehicle_id, 2, category, "
        "status, 'verified', '补录', created_at, plate, plate_colour, vin, '6', fuel_type, '{}' FROM vehicle_version "
        "WHERE id = $1",
        created[0],
        uuid.uuid4(),
    )
    first = (await _verify(database, tenant.tenant_id)).first
    assert first is not None
    assert (first.chain, first.code) == ("cloud", "unsealed")


async def test_cloud_row_deleted(database, make_tenant, owner_sql) -> None:
    tenant = await make_tenant()
    principal = _admin(tenant.tenant_id)
    async with database.session(principal) as session, session.begin():
        detail = await vehicles.create_vehicle(
            session,
            principal,
            "nrmm",
            {"env_reg_code": "EA1234567", "pin": "PIN0001", "emission_stage": "国三", "fuel_type": "B"},
        )
        vehicle_id = detail.vehicle.id
        await vehicles.correct_vehicle(session, principal, vehicle_id, {"owner_name": "某公司"}, "补录")
    versions = await owner_sql(
        "vehicle_version",
        "SELECT id FROM vehicle_version WHERE vehicle_id = $1 ORDER BY version",
        vehicle_id,
        fetch=True,
    )
    await owner_sql("vehicle_version", "DELETE FROM vehicle_version WHERE id = $1", versions[1]["id"])
    first = (await _verify(database, tenant.tenant_id)).first
    assert first is not None
    assert (first.code, first.record_id) == ("deleted", str(versions[1]["id"]))


async def test_anchor_hash_is_reproducible_from_its_json(database, make_tenant, make_plant) -> None:
    plant = await _ten_passes(make_tenant, make_plant)
    anchor = await _anchor(database, plant.tenant_id)
    again = json.loads(json.dumps(anchor))
    assert (
        anchor_hash(
            tenant_id=again["tenant_id"],
            kind=again["kind"],
            business_day=again["business_day"],
            heads=again["heads"],
            prev_anchor_hash=again["prev_anchor_hash"],
            anchored_at=again["anchored_at"],
        )
        == anchor["anchor_hash"]
    )
    second = await _anchor(database, plant.tenant_id)
    assert second["prev_anchor_hash"] == anchor["anchor_hash"]
    assert isinstance(PassEvent, type)
    assert m.ChainAnchor.__tablename__ == "chain_anchor"
