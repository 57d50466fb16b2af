"""The enterprise's uplink API: platform settings (secrets write-only, encrypted), KPIs and alarms, 补传, attempts."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from cloud.blobs import BlobStore
from cloud.uplink.worker import UplinkWorker
from tenants.context import Role

pytestmark = pytest.mark.anyio


async def test_platform_status_alarms_resend_and_attempts(
    client, database, make_tenant, make_user, login_as, seed_passes, regsim, superuser_url, tmp_path
) -> None:
    tenant = await make_tenant()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ledger = await seed_passes(
        tenant.tenant_id, [{"plate": f"鄂A3000{i}", "occurred_at": now - dt.timedelta(hours=i + 1)} for i in range(5)]
    )
    admin = await login_as(tenant.admin_login)
    assert (await client.get("/api/v1/uplink/status", headers=admin)).json()["configured"] is False
    assert (await client.get("/api/v1/uplink/platform", headers=admin)).status_code == 404

    bad = await client.put(
        "/api/v1/uplink/platform",
        json={"base_url": "ftp://x", "enterprise_code": "", "username": "u", "password": "p"},
        headers=admin,
    )
    assert bad.status_code == 400
    unknown = await client.put(
        "/api/v1/uplink/platform",
        json={"base_url": regsim.url, "enterprise_code": "E1", "username": "u", "password": "p", "profile": "fax"},
        headers=admin,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "profile"

    body = {
        "base_url": regsim.url,
        "enterprise_code": "420102000001",
        "username": "ecogate",
        "password": "EcoGate@2026",
    }
    saved = await client.put("/api/v1/uplink/platform", json=body, headers=admin)
    assert saved.status_code == 200, saved.text
    assert "password" not in saved.text
    assert "EcoGate@2026" not in saved.text
    conn = await asyncpg.connect(superuser_url)
    try:
        stored = await conn.fetchval(
            "SELECT credentials_enc FROM uplink_platform WHERE tenant_id = $1", tenant.tenant_id
        )
    finally:
        await conn.close()
    assert b"EcoGate@2026" not in stored  # encrypted at rest

    # The five records that existed before the platform was set were back-filled into the outbox.
    status = (await client.get("/api/v1/uplink/status", headers=admin)).json()
    assert (status["total"], status["pending"], status["upload_rate"]) == (5, 5, "0.00")
    assert {a["code"] for a in status["alarms"]} == {"upload_rate_low"}

    regsim.faults.reject_serials = {ledger.pass_ids[0].hex}
    sender = UplinkWorker(database, BlobStore(tmp_path))
    await sender.run_once()
    await sender.close()
    status = (await client.get("/api/v1/uplink/status", headers=admin)).json()
    assert (status["delivered"], status["rejected"], status["upload_rate"]) == (4, 1, "80.00")
    assert {a["code"] for a in status["alarms"]} == {"upload_rate_low", "upload_rejected"}
    attempts = (await client.get(f"/api/v1/uplink/records/{ledger.pass_ids[0]}/attempts", headers=admin)).json()
    assert [(a["outcome"], a["message"]) for a in attempts["items"]] == [("rejected", "车辆信息与备案不符")]
    # A record delivered on its first send has no attempt row; the outbox row's answer is listed the same way.
    first = (await client.get(f"/api/v1/uplink/records/{ledger.pass_ids[1]}/attempts", headers=admin)).json()
    assert [(a["outcome"], a["id"], a["record_id"]) for a in first["items"]] == [
        ("delivered", str(ledger.pass_ids[1]), str(ledger.pass_ids[1]))
    ]
    assert first["items"][0]["message"]
    assert first["items"][0]["duration_ms"] >= 0

    day = (now - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    resent = await client.post(
        "/api/v1/uplink/resend", json={"from": day, "to": day, "reason": "平台要求补传"}, headers=admin
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["queued"] >= 1
    too_long = await client.post(
        "/api/v1/uplink/resend", json={"from": "2026-01-01", "to": "2026-11-01"}, headers=admin
    )
    assert too_long.status_code == 422

    guard = await login_as(await make_user(tenant.tenant_id, Role.GUARD))
    assert (await client.get("/api/v1/uplink/status", headers=guard)).status_code == 403
    manager = await login_as(await make_user(tenant.tenant_id, Role.MANAGER))
    assert (await client.put("/api/v1/uplink/platform", json=body, headers=manager)).status_code == 403
