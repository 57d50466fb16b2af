"""The upload rate (issue 8) reaches the data-quality statistics and the grading dashboard (issue 7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from cloud.blobs import BlobStore
from cloud.uplink.worker import UplinkWorker

pytestmark = pytest.mark.anyio
_due_now = text("UPDATE uplink_outbox SET next_attempt_at = now() WHERE state = 'pending'")


async def test_upload_rate_in_statistics_and_grading(
    client, database, make_tenant, login_as, seed_passes, regsim, connect_platform, tmp_path
) -> None:
    tenant = await make_tenant()
    await connect_platform(tenant.tenant_id, regsim)
    start = dt.datetime(2026, 10, 3, 1, 0, tzinfo=dt.UTC)
    ledger = await seed_passes(
        tenant.tenant_id,
        [{"plate": f"鄂A{20000 + i}", "occurred_at": start + dt.timedelta(minutes=i)} for i in range(20)],
    )
    regsim.faults.reject_serials = {ledger.pass_ids[0].hex}
    await regsim.set_down(True)
    sender = UplinkWorker(database, BlobStore(tmp_path))
    await sender.run_once()  # nothing reaches a platform that is down
    await regsim.set_down(False)
    async with database.session(_actor(tenant.tenant_id)) as session, session.begin():
        await session.execute(_due_now)
    await sender.run_once()
    await sender.close()
    assert len(regsim.records) == 19

    headers = await login_as(tenant.admin_login)
    url = f"/api/v1/enterprises/{tenant.tenant_id}/reports"
    stats = await client.get(f"{url}/statistics", params={"period": "month", "date": "2026-10"}, headers=headers)
    assert stats.status_code == 200, stats.text
    quality = stats.json()["data_quality"]
    assert Decimal(str(quality["upload_rate"])) == Decimal("95.00")
    grading = await client.get(
        f"{url}/grading", params={"from": "2026-10-01", "to": "2026-10-31", "grade": "B"}, headers=headers
    )
    assert grading.status_code == 200, grading.text
    item = next(i for i in grading.json()["indicators"] if i["code"] == "upload_rate")
    assert Decimal(str(item["value"])) == Decimal("95.00")
    assert item["passed"] is True
    records = await client.get(item["records_href"], params={"limit": 50}, headers=headers)
    assert records.status_code == 200, records.text
    behind = records.json()
    assert behind["total"] == 1
    assert behind["items"][0]["state"] == "记录被拒收"
    assert behind["items"][0]["platform_message"] == "车辆信息与备案不符"


def _actor(tenant_id):
    import uuid  # noqa: PLC0415

    from tenants.context import Principal, Role  # noqa: PLC0415

    return Principal(user_id=uuid.UUID(int=6), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="check")
