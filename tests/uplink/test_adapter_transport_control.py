"""The transportControl adapter against the simulator over real TCP: every answer class is classified right."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from PIL import Image

from cloud.uplink.adapters import Outcome, PhotoRef, PlatformConfig, UplinkRecord, build_adapter
from tenants.ids import new_id

pytestmark = pytest.mark.anyio
ENTERPRISE = "420102000001"


def _record(plate: str = "鄂A12345", colour: str = "yellow", photos: tuple[PhotoRef, ...] = ()) -> UplinkRecord:
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
        vin="LGAX2A136K1000001",
        emission_stage="6",
        fuel_type="B",
        cargo_name="煤炭",
        net_kg=Decimal("31250.5"),
        photos=photos,
    )


def _jpeg(size: int = 64, noise: bool = False) -> bytes:
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8) if noise else np.full((size, size, 3), 90, np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def _adapter(url: str, **kw):
    config = PlatformConfig(
        profile="transport_control",
        base_url=url,
        enterprise_code=ENTERPRISE,
        enterprise_name="测试企业",
        credentials={"username": "ecogate", "password": kw.pop("password", "EcoGate@2026")},
        timeout_s=kw.pop("timeout_s", 2.0),
        photo_max_bytes=kw.pop("photo_max_bytes", 300_000),
    )
    return build_adapter(config)


async def _no_photo(_: str) -> bytes | None:
    return None


async def test_delivered_duplicate_and_mapped_codes(regsim) -> None:
    adapter = _adapter(regsim.url)
    try:
        record = _record(colour="white")
        first = await adapter.send(record, _no_photo)
        assert first.outcome is Outcome.DELIVERED, first
        again = await adapter.send(record, _no_photo)
        assert again.outcome is Outcome.DUPLICATE
        assert again.delivered
        held = regsim.records[record.serial]
        assert held["cpys"] == "2"  # white is 2 in scheme B (3 in the ETC scheme: §3.1)
        assert (held["cphm"], held["tgzt"], held["qybh"], held["ysl"], held["hwmc"]) == (
            "鄂A12345",
            "1",
            ENTERPRISE,
            "31.251",
            "煤炭",
        )
        assert held["tgsjq"] == "2026-11-28 10:03:04"  # China time
        assert regsim.state.duplicates == 1
    finally:
        await adapter.close()


async def test_photos_are_sent_and_shrunk_to_the_limit(regsim) -> None:
    big = _jpeg(900, noise=True)
    small = _jpeg()
    blobs = {"a" * 64: big, "b" * 64: small}

    async def load(sha: str) -> bytes | None:
        return blobs.get(sha)

    adapter = _adapter(regsim.url, photo_max_bytes=120_000)
    try:
        assert len(big) > 120_000
        record = _record(photos=(PhotoRef("a" * 64, "scene"), PhotoRef("b" * 64, "plate")))
        result = await adapter.send(record, load)
        assert result.outcome is Outcome.DELIVERED, result
        assert sorted(regsim.state.photos[record.serial]) == [1, 2]
    finally:
        await adapter.close()


async def test_rejections_carry_the_platform_reason(regsim) -> None:
    adapter = _adapter(regsim.url)
    try:
        record = _record()
        regsim.faults.reject_serials = {record.serial}
        result = await adapter.send(record, _no_photo)
        assert result.outcome is Outcome.REJECTED
        assert result.message == "车辆信息与备案不符"
        bad_plate = await adapter.send(_record(plate="ABC"), _no_photo)
        assert bad_plate.outcome is Outcome.REJECTED
        assert "车牌号码格式错误" in bad_plate.message
        assert not regsim.records
    finally:
        await adapter.close()


@pytest.mark.parametrize("fault", ["error_rate", "malformed_rate", "html_rate", "timeout_rate"])
async def test_answers_not_understood_are_retried_never_delivered(regsim, fault) -> None:
    adapter = _adapter(regsim.url, timeout_s=1.0)
    try:
        await adapter.send(_record(), _no_photo)  # token fetched while the platform is healthy
        setattr(regsim.faults, fault, 1.0)
        regsim.faults.timeout_s = 2.0
        record = _record(plate="鄂A54321")
        result = await adapter.send(record, _no_photo)
        assert result.outcome is Outcome.RETRY, result
        assert record.serial not in regsim.records
    finally:
        await adapter.close()


async def test_expired_token_is_renewed_and_platform_down_is_retried(regsim) -> None:
    adapter = _adapter(regsim.url)
    try:
        assert (await adapter.send(_record(), _no_photo)).delivered
        regsim.expire_tokens()
        assert (await adapter.send(_record(plate="鄂A11111"), _no_photo)).outcome is Outcome.DELIVERED
        assert regsim.state.requests["getAccessToken"] == 2
        await regsim.set_down(True)
        down = await adapter.send(_record(plate="鄂A22222"), _no_photo)
        assert down.outcome is Outcome.RETRY
        assert "网络错误" in down.message
        await regsim.set_down(False)
        assert (await adapter.send(_record(plate="鄂A22222"), _no_photo)).delivered
    finally:
        await adapter.close()


async def test_wrong_credentials_and_pre_pass_check(regsim) -> None:
    wrong = _adapter(regsim.url, password="wrong")
    try:
        result = await wrong.send(_record(), _no_photo)
        assert result.outcome is Outcome.RETRY
        assert "用户名或密码错误" in result.message
    finally:
        await wrong.close()
    adapter = _adapter(regsim.url)
    try:
        allowed = await adapter.pre_pass_check("鄂A12345", "yellow", "G1")
        refused = await adapter.pre_pass_check("鄂A1234X", "yellow", "G1")
        assert allowed is not None
        assert allowed.allowed
        assert refused is not None
        assert not refused.allowed
        assert refused.reason == "超标排放车辆"
        assert (await adapter.heartbeat(["G1", "G2"])).delivered
        assert regsim.state.heartbeats == 1
    finally:
        await adapter.close()


def test_serial_is_the_event_id() -> None:
    record = _record()
    assert record.serial == record.record_id.hex
    assert len(record.serial) == 32
