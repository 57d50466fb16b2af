"""The ``/transport/*`` adapter against its simulator over real TCP: platform serials, every answer class."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image

from cloud.uplink.adapters import Outcome, PhotoRef, PlatformConfig, UplinkRecord, build_adapter
from infra.regsim.transport_serial import TransportSerialSimulator
from tenants.ids import new_id

pytestmark = pytest.mark.anyio
ENTERPRISE = "420102000001"


@pytest.fixture(name="sim")
async def fx_sim() -> AsyncIterator[TransportSerialSimulator]:
    async with TransportSerialSimulator() as sim:
        sim.faults.timeout_s = 3.0
        yield sim


def _record(plate: str = "鄂A12345", colour: str = "yellow", photos: tuple[PhotoRef, ...] = ()) -> UplinkRecord:
    return UplinkRecord(
        record_id=new_id(),
        kind="pass",
        occurred_at=dt.datetime(2026, 11, 28, 2, 3, 4, tzinfo=dt.UTC),
        direction="out",
        plate=plate,
        plate_colour=colour,
        gate_code="G1",
        lane_code="L1",
        decision="allow",
        cargo_name="煤炭",
        net_kg=Decimal("31250.5"),
        photos=photos,
    )


def _adapter(url: str, **kw: Any) -> Any:
    return build_adapter(
        PlatformConfig(
            profile="transport_serial",
            base_url=url,
            enterprise_code=ENTERPRISE,
            credentials={"username": "ecogate", "password": kw.pop("password", "EcoGate@2026")},
            timeout_s=kw.pop("timeout_s", 2.0),
        )
    )


async def _no_photo(_: str) -> bytes | None:
    return None


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 90, 90)).save(out, "JPEG")
    return out.getvalue()


async def test_serial_issued_delivered_duplicate_and_cargo(sim: TransportSerialSimulator) -> None:
    adapter = _adapter(sim.url)
    try:
        record = _record(colour="white")
        first = await adapter.send(record, _no_photo)
        assert first.outcome is Outcome.DELIVERED, first
        assert first.platform_serial is not None
        assert first.platform_serial.startswith("KF")
        held = sim.records[first.platform_serial]
        assert (held["license"], held["licenseColor"], held["passStatus"], held["passTime"]) == (
            "鄂A12345",
            "2",  # white is 2 in scheme B (§3.1)
            "2",
            "2026-11-28 10:03:04",
        )
        cargo = sim.state.cargo[first.platform_serial]
        assert (cargo["cargoName"], cargo["cargoWeight"], cargo["cargoWeightUnit"]) == ("煤炭", "31.251", "吨（T）")
        again = await adapter.send(record, _no_photo)
        assert again.outcome is Outcome.DUPLICATE
        assert again.platform_serial == first.platform_serial
        # a fresh adapter (another worker process) gets the same serial back from check
        other = _adapter(sim.url)
        try:
            third = await other.send(record, _no_photo)
        finally:
            await other.close()
        assert third.outcome is Outcome.DUPLICATE
        assert third.platform_serial == first.platform_serial
        assert len(sim.records) == 1
        assert sim.state.duplicates == 2
    finally:
        await adapter.close()


async def test_photos_go_with_the_pass_record(sim: TransportSerialSimulator) -> None:
    blobs = {"a" * 64: _jpeg(), "b" * 64: _jpeg()}

    async def load(sha: str) -> bytes | None:
        return blobs.get(sha)

    adapter = _adapter(sim.url)
    try:
        record = _record(photos=(PhotoRef("a" * 64, "scene"), PhotoRef("b" * 64, "plate")))
        result = await adapter.send(record, load)
        assert result.outcome is Outcome.DELIVERED, result
        assert result.platform_serial is not None
        assert sorted(sim.state.photos[result.platform_serial]) == [1, 2]
    finally:
        await adapter.close()


async def test_rejections_carry_the_platform_reason(sim: TransportSerialSimulator) -> None:
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
async def test_answers_not_understood_are_retried_never_delivered(sim: TransportSerialSimulator, fault: str) -> None:
    adapter = _adapter(sim.url, timeout_s=1.0)
    try:
        await adapter.send(_record(), _no_photo)  # token fetched while healthy
        setattr(sim.faults, fault, 1.0)
        record = _record(plate="鄂A54321")
        result = await adapter.send(record, _no_photo)
        assert result.outcome is Outcome.RETRY, result
        assert sim.client_record(record.serial) is None
    finally:
        await adapter.close()


async def test_expired_token_renewed_platform_down_retried(sim: TransportSerialSimulator) -> None:
    adapter = _adapter(sim.url)
    try:
        assert (await adapter.send(_record(), _no_photo)).delivered
        sim.expire_tokens()
        assert (await adapter.send(_record(plate="鄂A11111"), _no_photo)).outcome is Outcome.DELIVERED
        assert sim.state.requests["login"] == 2
        await sim.set_down(True)
        record = _record(plate="鄂A22222")
        down = await adapter.send(record, _no_photo)
        assert down.outcome is Outcome.RETRY
        assert "网络错误" in down.message
        await sim.set_down(False)
        assert (await adapter.send(record, _no_photo)).delivered
        assert sim.client_record(record.serial) is not None
    finally:
        await adapter.close()


async def test_wrong_credentials_and_pre_pass_check(sim: TransportSerialSimulator) -> None:
    wrong = _adapter(sim.url, password="wrong")
    try:
        result = await wrong.send(_record(), _no_photo)
        assert result.outcome is Outcome.RETRY
        assert "账号或密码错误" in result.message
    finally:
        await wrong.close()
    adapter = _adapter(sim.url)
    try:
        allowed = await adapter.pre_pass_check("鄂A12345", "yellow", "G1")
        refused = await adapter.pre_pass_check("鄂A1234X", "yellow", "G1")
        assert allowed is not None
        assert allowed.allowed
        assert allowed.platform_serial is not None
        assert refused is not None
        assert not refused.allowed
        assert refused.reason == "超标排放车辆"
        assert (await adapter.heartbeat(["G1"])).delivered
    finally:
        await adapter.close()
