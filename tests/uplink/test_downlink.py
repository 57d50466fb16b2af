"""Downlink (issue 8): the platform's over-emission vehicles and warnings reach the blacklist and the
emergency records, are acknowledged after commit, and are applied idempotently when seen again."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from cloud.blobs import BlobStore
from cloud.db import models as m
from cloud.uplink.worker import UplinkWorker
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio


async def test_over_emission_vehicles_and_warnings(database, make_tenant, regsim, connect_platform, tmp_path) -> None:
    # A region no other test uses: the warning becomes a region alert that would apply to every
    # 武汉 tenant of this worker's database for a day (it leaked into the portal tests).
    tenant = await make_tenant(region_code="450102")
    await connect_platform(tenant.tenant_id, regsim)
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0)
    vehicle = regsim.push(
        {"id": "v1", "type": "overEmission", "license": "鄂A99991", "licenseColor": "1", "reason": "尾气超标"}
    )
    warning = regsim.push(
        {
            "id": "w1",
            "type": "warning",
            "level": "橙色",
            "startTime": start.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S"),
            "endTime": (start + dt.timedelta(days=1))
            .astimezone(dt.timezone(dt.timedelta(hours=8)))
            .strftime("%Y-%m-%d %H:%M:%S"),
            "measures": "停止国四及以下柴油货车运输",
        }
    )
    broken = regsim.push({"id": "w2", "type": "warning", "level": "紫色", "startTime": "x", "endTime": "y"})
    regsim.push({"id": "x1", "type": "somethingNew"})  # unknown type: left alone, not acknowledged

    sender = UplinkWorker(database, BlobStore(tmp_path))
    try:
        assert await sender.poll_downlink() == 3
        assert sorted(regsim.state.acknowledged) == sorted([vehicle, warning, broken])
        assert list(regsim.state.downlink) == ["x1"]

        # The acknowledgement of v1 was lost: the platform sends it again; nothing is doubled.
        regsim.push({"id": "v1", "type": "overEmission", "license": "鄂A99991", "licenseColor": "1"})
        assert await sender.poll_downlink() == 1
        # Later the platform releases the vehicle.
        regsim.push({"id": "v2", "type": "overEmission", "license": "鄂A99991", "released": True})
        assert await sender.poll_downlink() == 1
    finally:
        await sender.close()

    actor = Principal(user_id=uuid.UUID(int=7), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="check")
    async with database.session(actor) as session, session.begin():
        entries = list(await session.scalars(select(m.BlacklistEntry).where(m.BlacklistEntry.plate == "鄂A99991")))
        revocations = list(await session.scalars(select(m.BlacklistRevocation)))
        responses = list(await session.scalars(select(m.EmergencyResponse)))
    assert len(entries) == 1
    assert (entries[0].source, entries[0].plate_colour) == ("regulator", "yellow")
    assert "尾气超标" in entries[0].reason
    assert [r.entry_id for r in revocations] == [entries[0].id]
    assert len(responses) == 1
    assert (responses[0].level, responses[0].starts_at) == ("orange", start)
    assert "停止国四及以下柴油货车运输" in responses[0].reason
