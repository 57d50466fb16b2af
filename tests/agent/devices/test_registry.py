"""Driver selection by ``type`` key, strict config validation, and conformance to the device protocols."""

from __future__ import annotations

import pytest

from agent.devices import (
    BARRIERS,
    DIGITAL_INPUTS,
    LED_DISPLAYS,
    WEIGHBRIDGES,
    Barrier,
    DeviceConfigError,
    DigitalInput,
    HttpAnprBarrier,
    LedDisplay,
    ModbusDigitalInput,
    ModbusRelayBarrier,
    SerialLedDisplay,
    SerialWeighbridge,
    Weighbridge,
    create_device,
)
from agent.devices.config import Xk3190A9Config


def test_each_type_key_builds_its_driver() -> None:
    relay = BARRIERS.create({"type": "modbus_relay", "name": "b1", "port": "/dev/ttyS9", "unit_id": 3})
    camera = BARRIERS.create({"type": "http_anpr", "name": "b2", "base_url": "http://192.0.2.1"})
    scale = WEIGHBRIDGES.create({"type": "toledo", "name": "w1", "port": "socket://10.0.0.5:4001"})
    a12 = WEIGHBRIDGES.create({"type": "xk3190_a12", "name": "w2", "port": "/dev/ttyS1"})
    led = LED_DISPLAYS.create({"type": "serial_led", "name": "l1", "port": "/dev/ttyS2", "encoding": "utf-8"})
    loop = DIGITAL_INPUTS.create({"type": "modbus_di", "name": "d1", "port": "/dev/ttyS3", "channels": [0, 3]})
    assert isinstance(relay, ModbusRelayBarrier)
    assert isinstance(camera, HttpAnprBarrier)
    assert isinstance(scale, SerialWeighbridge)
    assert scale.protocol == "toledo"
    assert isinstance(a12, SerialWeighbridge)
    assert isinstance(led, SerialLedDisplay)
    assert led.encoding == "utf-8"
    assert isinstance(loop, ModbusDigitalInput)
    assert loop.channels == (0, 3)
    assert isinstance(relay, Barrier)
    assert isinstance(camera, Barrier)
    assert isinstance(scale, Weighbridge)
    assert isinstance(led, LedDisplay)
    assert isinstance(loop, DigitalInput)


def test_nested_settings_and_parsed_structs() -> None:
    cfg = WEIGHBRIDGES.parse(
        {
            "type": "xk3190_a9",
            "name": "w1",
            "port": "/dev/ttyUSB0",
            "unit": "t",
            "serial": {"baudrate": 4800, "parity": "E"},
            "stability": {"window_s": 3, "tolerance_kg": 40},
        }
    )
    assert isinstance(cfg, Xk3190A9Config)
    assert cfg.serial.baudrate == 4800
    assert cfg.stability.tolerance_kg == 40
    scale = create_device("weighbridge", cfg)
    assert isinstance(scale, SerialWeighbridge)
    assert scale.detector.settings.window_s == 3


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"type": "gpio_relay", "name": "b1"}, "未知的道闸类型 “gpio_relay”"),
        ({"type": "modbus_relay", "name": "b1", "port": "p", "unit": 1}, "unknown field `unit`"),
        ({"type": "modbus_relay", "name": "b1", "port": "p", "unit_id": 300}, "unit_id"),
        ({"type": "modbus_relay", "name": "b1"}, "port"),
        ({"name": "b1", "port": "p"}, "未知的道闸类型"),
    ],
)
def test_bad_configs_are_rejected_with_chinese_message(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(DeviceConfigError) as info:
        BARRIERS.create(raw)
    assert needle in str(info.value)


def test_registry_lists_types_and_refuses_duplicates() -> None:
    # Built-in drivers; other modules (e.g. the runtime's virtual devices) may register more.
    assert set(BARRIERS.types) >= {"modbus_relay", "http_anpr"}
    assert set(WEIGHBRIDGES.types) >= {"xk3190_a9", "xk3190_a12", "toledo"}
    with pytest.raises(ValueError, match="已注册"):
        BARRIERS.register("modbus_relay", Xk3190A9Config, lambda cfg: None)  # type: ignore[arg-type,return-value]
