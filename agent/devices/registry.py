"""Driver registries selected by the config's ``type`` key (``type = "modbus_relay"`` …).

Each device kind has one :class:`DeviceRegistry`; a new driver registers its config struct and a
factory. ``create_device(kind, raw)`` validates a config mapping strictly and builds the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import msgspec

from agent.devices.barrier import HttpAnprBarrier, ModbusRelayBarrier
from agent.devices.camera_barrier import DahuaItcBarrier, HikvisionIsapiBarrier, VzenithBarrier
from agent.devices.config import (
    BxLedConfig,
    CameraRs485LedConfig,
    DahuaItcBarrierConfig,
    DeviceConfig,
    HikvisionIsapiBarrierConfig,
    HttpAnprBarrierConfig,
    LingxinLedConfig,
    ModbusDigitalInputConfig,
    ModbusRelayBarrierConfig,
    SerialLedConfig,
    ToledoConfig,
    VoiceConfig,
    VzenithBarrierConfig,
    Xk3190A9Config,
    Xk3190A12Config,
)
from agent.devices.digital_input import ModbusDigitalInput
from agent.devices.interfaces import Barrier, Device, DigitalInput, LedDisplay, Weighbridge
from agent.devices.led import SerialLedDisplay
from agent.devices.led_families import FamilyLedDisplay, LedTransport, SerialLedTransport, VzRs485Transport
from agent.devices.voice import EspeakVoice
from agent.devices.weighbridge import SerialWeighbridge

DeviceKind = Literal["barrier", "weighbridge", "led", "digital_input"]
D = TypeVar("D", bound=Device)
C = TypeVar("C", bound=DeviceConfig)


class DeviceConfigError(ValueError):
    """A device config is invalid; the message is Chinese and names the device and the field."""


class DeviceRegistry(Generic[D]):
    """Drivers of one device kind, by type key."""

    def __init__(self, kind: DeviceKind) -> None:
        self.kind: DeviceKind = kind
        self._entries: dict[str, tuple[type[DeviceConfig], Callable[[Any], D]]] = {}

    @property
    def types(self) -> tuple[str, ...]:
        """Registered type keys."""
        return tuple(self._entries)

    def register(self, type_key: str, config_type: type[C], factory: Callable[[C], D]) -> None:
        """Add a driver; ``config_type`` must be a :class:`DeviceConfig` tagged with ``type_key``."""
        if type_key in self._entries:
            raise ValueError(f"设备类型 {type_key} 已注册")
        self._entries[type_key] = (config_type, factory)

    def parse(self, raw: Mapping[str, object]) -> DeviceConfig:
        """Validate a config mapping (as read from TOML) into the driver's config struct."""
        type_key = raw.get("type")
        entry = self._entries.get(str(type_key))
        if entry is None:
            known = "、".join(self._entries)
            raise DeviceConfigError(f"未知的{_KIND_TEXT[self.kind]}类型 “{type_key}”，可选：{known}")
        try:
            return msgspec.convert(dict(raw), entry[0])
        except msgspec.ValidationError as exc:
            name = raw.get("name", "?")
            raise DeviceConfigError(f"{_KIND_TEXT[self.kind]} “{name}” 配置错误：{exc}") from exc

    def create(self, config: Mapping[str, object] | DeviceConfig) -> D:
        """Build the driver for a config (mapping or already-parsed struct)."""
        parsed = config if isinstance(config, DeviceConfig) else self.parse(config)
        for config_type, factory in self._entries.values():
            if type(parsed) is config_type:
                return factory(parsed)
        raise DeviceConfigError(f"{_KIND_TEXT[self.kind]}配置类型 {type(parsed).__name__} 未注册")


_KIND_TEXT: dict[DeviceKind, str] = {
    "barrier": "道闸",
    "weighbridge": "地磅",
    "led": "LED显示屏",
    "digital_input": "地感输入",
}


def _modbus_relay(cfg: ModbusRelayBarrierConfig) -> Barrier:
    return ModbusRelayBarrier(
        cfg.port,
        name=cfg.name,
        unit_id=cfg.unit_id,
        serial=cfg.serial,
        open_coil=cfg.open_coil,
        close_coil=cfg.close_coil,
        pulse_s=cfg.pulse_s,
        open_input=cfg.open_input,
        closed_input=cfg.closed_input,
        fault_input=cfg.fault_input,
        timeout_s=cfg.timeout_s,
        poll_s=cfg.poll_s,
        travel_timeout_s=cfg.travel_timeout_s,
        retries=cfg.retries,
        confirm_position_s=cfg.confirm_position_s,
    )


def _http_anpr(cfg: HttpAnprBarrierConfig) -> Barrier:
    return HttpAnprBarrier(
        cfg.base_url,
        name=cfg.name,
        token=cfg.token,
        timeout_s=cfg.timeout_s,
        poll_s=cfg.poll_s,
        travel_timeout_s=cfg.travel_timeout_s,
        retries=cfg.retries,
        confirm_position_s=cfg.confirm_position_s,
    )


def _digest_camera(cfg: DahuaItcBarrierConfig | HikvisionIsapiBarrierConfig) -> Barrier:
    """Dahua ITC and Hikvision ISAPI barriers: the same options, each family's own driver."""
    driver = HikvisionIsapiBarrier if isinstance(cfg, HikvisionIsapiBarrierConfig) else DahuaItcBarrier
    return driver(
        cfg.base_url,
        name=cfg.name,
        username=cfg.username,
        password=cfg.password,
        channel=cfg.channel,
        relay_output=cfg.relay_output if cfg.read_back else None,
        open_input=cfg.open_input,
        closed_input=cfg.closed_input,
        timeout_s=cfg.timeout_s,
        poll_s=cfg.poll_s,
        travel_timeout_s=cfg.travel_timeout_s,
        retries=cfg.retries,
        confirm_position_s=cfg.confirm_position_s,
    )


def _vzenith_vz(cfg: VzenithBarrierConfig) -> Barrier:
    return VzenithBarrier(
        cfg.host,
        port=cfg.port,
        name=cfg.name,
        open_io=cfg.open_io,
        close_io=cfg.close_io,
        pulse_ms=cfg.pulse_ms,
        open_input=cfg.open_input,
        closed_input=cfg.closed_input,
        timeout_s=cfg.timeout_s,
        poll_s=cfg.poll_s,
        travel_timeout_s=cfg.travel_timeout_s,
        retries=cfg.retries,
        confirm_position_s=cfg.confirm_position_s,
    )


def _xk3190_a9(cfg: Xk3190A9Config) -> Weighbridge:
    return SerialWeighbridge(
        cfg.port,
        "xk3190_a9",
        name=cfg.name,
        unit=cfg.unit,
        serial=cfg.serial,
        stability=cfg.stability,
        stale_after_s=cfg.stale_after_s,
        reconnect_s=cfg.reconnect_s,
    )


def _xk3190_a12(cfg: Xk3190A12Config) -> Weighbridge:
    return SerialWeighbridge(
        cfg.port,
        "xk3190_a12",
        name=cfg.name,
        serial=cfg.serial,
        stability=cfg.stability,
        stale_after_s=cfg.stale_after_s,
        reconnect_s=cfg.reconnect_s,
    )


def _toledo(cfg: ToledoConfig) -> Weighbridge:
    return SerialWeighbridge(
        cfg.port,
        "toledo",
        name=cfg.name,
        serial=cfg.serial,
        stability=cfg.stability,
        stale_after_s=cfg.stale_after_s,
        reconnect_s=cfg.reconnect_s,
        toledo_checksum=cfg.checksum,
    )


def _serial_led(cfg: SerialLedConfig) -> LedDisplay:
    return SerialLedDisplay(
        cfg.port,
        name=cfg.name,
        address=cfg.address,
        encoding=cfg.encoding,
        serial=cfg.serial,
        max_lines=cfg.max_lines,
        timeout_s=cfg.timeout_s,
        keepalive_s=cfg.keepalive_s,
        templates=cfg.templates,
        voice=_voice(cfg.voice, cfg.name),
    )


def _voice(cfg: VoiceConfig | None, name: str) -> EspeakVoice | None:
    if cfg is None:
        return None
    return EspeakVoice(name=f"{name}-voice", voice=cfg.voice, words_per_minute=cfg.words_per_minute, player=cfg.player)


def _family_led(
    cfg: BxLedConfig | LingxinLedConfig | CameraRs485LedConfig, protocol: str, transport: LedTransport
) -> LedDisplay:
    return FamilyLedDisplay(
        "bx" if protocol == "bx" else "lingxin",
        transport,
        name=cfg.name,
        address=cfg.address,
        max_lines=cfg.max_lines,
        templates=cfg.templates,
        screen_voice=cfg.screen_voice,
        voice=_voice(cfg.voice, cfg.name),
        timeout_s=cfg.timeout_s,
        keepalive_s=cfg.keepalive_s,
    )


def _bx_led(cfg: BxLedConfig) -> LedDisplay:
    return _family_led(cfg, "bx", SerialLedTransport(cfg.port, cfg.serial, name=cfg.name))


def _lingxin_led(cfg: LingxinLedConfig) -> LedDisplay:
    return _family_led(cfg, "lingxin", SerialLedTransport(cfg.port, cfg.serial, name=cfg.name))


def _camera_rs485_led(cfg: CameraRs485LedConfig) -> LedDisplay:
    return _family_led(cfg, cfg.protocol, VzRs485Transport(cfg.host, cfg.camera_port, comm=cfg.comm))


def _modbus_di(cfg: ModbusDigitalInputConfig) -> DigitalInput:
    return ModbusDigitalInput(
        cfg.port,
        name=cfg.name,
        unit_id=cfg.unit_id,
        serial=cfg.serial,
        channels=cfg.channels,
        poll_s=cfg.poll_s,
        debounce_s=cfg.debounce_s,
        timeout_s=cfg.timeout_s,
    )


BARRIERS: DeviceRegistry[Barrier] = DeviceRegistry("barrier")
BARRIERS.register("modbus_relay", ModbusRelayBarrierConfig, _modbus_relay)
BARRIERS.register("http_anpr", HttpAnprBarrierConfig, _http_anpr)
BARRIERS.register("dahua_itc", DahuaItcBarrierConfig, _digest_camera)
BARRIERS.register("vzenith_vz", VzenithBarrierConfig, _vzenith_vz)
BARRIERS.register("hikvision_isapi", HikvisionIsapiBarrierConfig, _digest_camera)

WEIGHBRIDGES: DeviceRegistry[Weighbridge] = DeviceRegistry("weighbridge")
WEIGHBRIDGES.register("xk3190_a9", Xk3190A9Config, _xk3190_a9)
WEIGHBRIDGES.register("xk3190_a12", Xk3190A12Config, _xk3190_a12)
WEIGHBRIDGES.register("toledo", ToledoConfig, _toledo)

LED_DISPLAYS: DeviceRegistry[LedDisplay] = DeviceRegistry("led")
LED_DISPLAYS.register("serial_led", SerialLedConfig, _serial_led)
LED_DISPLAYS.register("bx_led", BxLedConfig, _bx_led)
LED_DISPLAYS.register("lingxin_led", LingxinLedConfig, _lingxin_led)
LED_DISPLAYS.register("camera_rs485_led", CameraRs485LedConfig, _camera_rs485_led)

DIGITAL_INPUTS: DeviceRegistry[DigitalInput] = DeviceRegistry("digital_input")
DIGITAL_INPUTS.register("modbus_di", ModbusDigitalInputConfig, _modbus_di)

REGISTRIES: dict[
    DeviceKind,
    DeviceRegistry[Barrier] | DeviceRegistry[Weighbridge] | DeviceRegistry[LedDisplay] | DeviceRegistry[DigitalInput],
] = {
    "barrier": BARRIERS,
    "weighbridge": WEIGHBRIDGES,
    "led": LED_DISPLAYS,
    "digital_input": DIGITAL_INPUTS,
}


def create_device(kind: DeviceKind, config: Mapping[str, object] | DeviceConfig) -> Device:
    """Build any device from its kind and config (use the per-kind registries for precise types)."""
    return REGISTRIES[kind].create(config)
