"""The Hengshui persistent-TCP JSON adapter against its simulator over real TCP."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from cloud.uplink.adapters import Outcome, PlatformConfig, UplinkRecord, build_adapter
from infra.regsim.hengshui import HengshuiSimulator
from tenants.ids import new_id

pytestmark = pytest.mark.anyio
ENTERPRISE = "131102000001"


@pytest.fixture(name="sim")
async def fx_sim() -> AsyncIterator[HengshuiSimulator]:
    async with HengshuiSimulator() as sim:
        yield sim


def _record(plate: str = "冀T12345", colour: str = "yellow") -> UplinkRecord:
    return UplinkRecord(
        record_id=new_id(),
        kind="pass",
        occurred_at=dt.datetime(2026, 11, 28, 2, 3, 4, tzinfo=dt.UTC),
        direction="in",
        plate=plate,
        plate_colour=colour,
        gate_code="G1",
        lane_code="L1",
        decision="allow",
        cargo_name="焦炭",
        net_kg=Decimal(30000),
    )


def _adapter(url: str, **kw: Any) -> Any:
    return build_adapter(
        PlatformConfig(
            profile="hengshui",
            base_url=url,
            enterprise_code=ENTERPRISE,
            credentials={"username": "ecogate", "password": kw.pop("password", "EcoGate@2026")},
            timeout_s=kw.pop("timeout_s", 1.0),
        )
    )


async def _no_photo(_: str) -> bytes | None:
    return None


async def test_delivered_duplicate_one_connection_heartbeat(sim: HengshuiSimulator) -> None:
    adapter = _adapter(sim.url)
    try:
        record = _record(colour="black")
        first = await adapter.send(record, _no_photo)
        assert first.outcome is Outcome.DELIVERED, first
        again = await adapter.send(record, _no_photo)
        assert again.outcome is Outcome.DUPLICATE
        held = sim.records[record.serial]
        assert (held["plate"], held["plateColor"], held["passTime"], held["netWeightT"]) == (
            "冀T12345",
            "3",  # black is 3 in scheme B (§3.1)
            "2026-11-28 10:03:04",
            "30.000",
        )
        results = await asyncio.gather(*(adapter.send(_record(plate=f"冀T1000{i}"), _no_photo) for i in range(5)))
        assert all(r.outcome is Outcome.DELIVERED for r in results)
        assert (await adapter.heartbeat(["G1", "G2"])).delivered
        assert (sim.state.connections, sim.state.logins, sim.state.heartbeats) == (1, 1, 1)
        assert sim.state.duplicates == 1
    finally:
        await adapter.close()


async def test_rejection_carries_the_reason(sim: HengshuiSimulator) -> None:
    adapter = _adapter(sim.url)
    try:
        record = _record()
        sim.faults.reject_serials = {record.serial}
        result = await adapter.send(record, _no_photo)
        assert result.outcome is Outcome.REJECTED
        assert result.message == "车辆信息与备案不符"
        bad = await adapter.send(_record(plate="ABC"), _no_photo)
        assert bad.outcome is Outcome.REJECTED
        assert "车牌号码格式错误" in bad.message
        assert not sim.records
    finally:
        await adapter.close()


@pytest.mark.parametrize("fault", ["error_rate", "malformed_rate", "html_rate", "timeout_rate"])
async def test_answers_not_understood_are_retried_never_delivered(sim: HengshuiSimulator, fault: str) -> None:
    adapter = _adapter(sim.url, timeout_s=0.5)
    try:
        assert (await adapter.send(_record(), _no_photo)).delivered
        setattr(sim.faults, fault, 1.0)
        record = _record(plate="冀T54321")
        result = await adapter.send(record, _no_photo)
        assert result.outcome is Outcome.RETRY, result
        assert record.serial not in sim.records
        setattr(sim.faults, fault, 0.0)
        assert (await adapter.send(record, _no_photo)).outcome is Outcome.DELIVERED
    finally:
        await adapter.close()


async def test_session_expiry_relogin_and_reconnect_after_outage(sim: HengshuiSimulator) -> None:
    adapter = _adapter(sim.url)
    try:
        assert (await adapter.send(_record(), _no_photo)).delivered
        sim.expire_tokens()
        assert (await adapter.send(_record(plate="冀T11111"), _no_photo)).outcome is Outcome.DELIVERED
        assert sim.state.logins == 2
        await sim.set_down(True)
        record = _record(plate="冀T22222")
        down = await adapter.send(record, _no_photo)
        assert down.outcome is Outcome.RETRY
        assert "网络错误" in down.message
        await sim.set_down(False)
        assert (await adapter.send(record, _no_photo)).delivered
        assert sim.state.connections == 2
    finally:
        await adapter.close()


async def test_wrong_credentials_are_retried_and_no_pre_pass_check(sim: HengshuiSimulator) -> None:
    adapter = _adapter(sim.url, password="wrong")
    try:
        result = await adapter.send(_record(), _no_photo)
        assert result.outcome is Outcome.RETRY
        assert "账号或密码错误" in result.message
        assert await adapter.pre_pass_check("冀T12345", "yellow", "G1") is None
    finally:
        await adapter.close()


async def test_address_forms(sim: HengshuiSimulator) -> None:
    adapter = _adapter(f"http://127.0.0.1:{sim.port}")
    try:
        assert (await adapter.send(_record(), _no_photo)).delivered
    finally:
        await adapter.close()
    with pytest.raises(ValueError, match="tcp://"):
        _adapter("tcp://127.0.0.1")
