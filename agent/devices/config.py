"""Typed, strict configuration of each device driver; the ``type`` key selects the driver.

Unknown keys are rejected and every number is bounded, so a typo in the agent's config file fails
at start-up with a clear message instead of at the first truck.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent.devices.led import LedEncoding
from agent.devices.notice import NoticeTemplates
from agent.devices.scale_protocols import WeightUnit
from agent.devices.serial_link import SerialSettings
from agent.devices.stability import StabilitySettings

Seconds = Annotated[float, msgspec.Meta(gt=0, le=600)]
UnitId = Annotated[int, msgspec.Meta(ge=0, le=247)]
Address = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]


class DeviceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    """Fields every device has."""

    name: str
    """Device name used in health reports, logs and the booth UI (e.g. ``lane1-barrier``)."""


class ModbusRelayBarrierConfig(DeviceConfig, frozen=True, tag="modbus_relay"):
    """``type = "modbus_relay"``: barrier wired to a Modbus RTU relay/IO board."""

    port: str
    """Device path (``/dev/ttyUSB0``) or ``socket://host:port`` of a serial server."""
    serial: SerialSettings = msgspec.field(default_factory=SerialSettings)
    """Line settings."""
    unit_id: UnitId = 1
    """Modbus unit (slave) id of the board."""
    open_coil: Address = 0
    """Coil pulsed to raise the arm."""
    close_coil: Address = 1
    """Coil pulsed to lower the arm."""
    pulse_s: Seconds = 0.3
    """How long a coil stays on."""
    open_input: Address = 0
    """Discrete input of the open limit switch."""
    closed_input: Address = 1
    """Discrete input of the closed limit switch."""
    fault_input: Address | None = 2
    """Discrete input of the controller's fault output (None when not wired)."""
    timeout_s: Seconds = 0.5
    """Modbus answer timeout."""
    poll_s: Seconds = 0.5
    """Status poll interval."""
    travel_timeout_s: Seconds = 8.0
    """Arm not at the commanded limit after this long → fault."""
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    """Extra attempts of a command the board did not confirm (answer + coil read-back)."""
    confirm_position_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    """> 0: an open counts as done only once the open limit switch reports the arm up within this time."""


class HttpAnprBarrierConfig(DeviceConfig, frozen=True, tag="http_anpr"):
    """``type = "http_anpr"``: an ANPR camera that drives the barrier, over the generic HTTP profile."""

    base_url: str
    """Camera base URL, e.g. ``http://192.168.1.64``."""
    token: str | None = None
    """Bearer token, when the camera requires one."""
    timeout_s: Seconds = 2.0
    """HTTP timeout per request."""
    poll_s: Seconds = 1.0
    """Status poll interval."""
    travel_timeout_s: Seconds = 8.0
    """Arm not at the commanded position after this long → fault."""
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    """Extra attempts of a command the camera did not confirm."""
    confirm_position_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    """> 0: an open counts as done only once the camera reports the arm up within this time."""


class DahuaItcBarrierConfig(DeviceConfig, frozen=True, tag="dahua_itc"):
    """``type = "dahua_itc"``: a Dahua ITC/ITSE camera's strobe output over its HTTP CGI API (issue 23)."""

    base_url: str
    """Camera base URL, e.g. ``http://192.168.1.108``."""
    username: str | None = None
    """HTTP digest user (None: no authentication)."""
    password: str | None = None
    """HTTP digest password."""
    channel: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    """Video channel whose strobe is commanded."""
    relay_output: Address = 0
    """Alarm output wired to the barrier, read back after an open."""
    read_back: bool = True
    """Read the relay output back after an open (off: the camera's ``OK`` alone confirms)."""
    open_input: Address | None = None
    """Alarm input wired to the open limit switch (None: not wired)."""
    closed_input: Address | None = None
    """Alarm input wired to the closed limit switch (None: not wired)."""
    timeout_s: Seconds = 2.0
    """HTTP timeout per request."""
    poll_s: Seconds = 1.0
    """Status poll interval."""
    travel_timeout_s: Seconds = 8.0
    """Arm not at the commanded position after this long → fault."""
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    """Extra attempts of a command the camera did not confirm."""
    confirm_position_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    """> 0: an open counts as done only once the open limit switch reports the arm up within this time."""


class HikvisionIsapiBarrierConfig(DeviceConfig, frozen=True, tag="hikvision_isapi"):
    """``type = "hikvision_isapi"``: a Hikvision parking/ANPR camera's barrier output over ISAPI (issue 23)."""

    base_url: str
    """Camera base URL, e.g. ``http://192.168.1.64``."""
    username: str | None = None
    """HTTP digest user (None: no authentication)."""
    password: str | None = None
    """HTTP digest password."""
    channel: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    """Parking channel whose barrier gate is commanded."""
    relay_output: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    """IO output (from 1) that drives the barrier, read back after an open."""
    read_back: bool = True
    """Read the relay output back after an open (off: the camera's ``statusCode`` 1 alone confirms)."""
    open_input: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None
    """IO input (from 1) wired to the open limit switch."""
    closed_input: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None
    """IO input (from 1) wired to the closed limit switch."""
    timeout_s: Seconds = 2.0
    """HTTP timeout per request."""
    poll_s: Seconds = 1.0
    """Status poll interval."""
    travel_timeout_s: Seconds = 8.0
    """Arm not at the commanded position after this long → fault."""
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    """Extra attempts of a command the camera did not confirm."""
    confirm_position_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    """> 0: an open counts as done only once the open limit switch reports the arm up within this time."""


class VzenithBarrierConfig(DeviceConfig, frozen=True, tag="vzenith_vz"):
    """``type = "vzenith_vz"``: a 臻识 VZ camera's relay output over its TCP control protocol (issue 23)."""

    host: str
    """Camera address, e.g. ``192.168.1.100``."""
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8131
    """Control port."""
    open_io: Annotated[int, msgspec.Meta(ge=0, le=7)] = 0
    """Relay output pulsed to raise the arm."""
    close_io: Annotated[int, msgspec.Meta(ge=0, le=7)] | None = None
    """Relay output pulsed to lower the arm (None: the barrier closes by itself)."""
    pulse_ms: Annotated[int, msgspec.Meta(ge=100, le=10_000)] = 500
    """Pulse length."""
    open_input: Annotated[int, msgspec.Meta(ge=0, le=7)] | None = None
    """Alarm input (GPIO) of the open limit switch."""
    closed_input: Annotated[int, msgspec.Meta(ge=0, le=7)] | None = None
    """Alarm input (GPIO) of the closed limit switch."""
    timeout_s: Seconds = 2.0
    """Answer timeout."""
    poll_s: Seconds = 1.0
    """Status poll interval."""
    travel_timeout_s: Seconds = 8.0
    """Arm not at the commanded position after this long → fault."""
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    """Extra attempts of a command the camera did not confirm."""
    confirm_position_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    """> 0: an open counts as done only once the open limit switch reports the arm up within this time."""


class _WeighbridgeConfig(DeviceConfig, frozen=True):
    port: str
    """Device path or ``socket://host:port``."""
    serial: SerialSettings = msgspec.field(default_factory=SerialSettings)
    """Line settings."""
    stability: StabilitySettings = msgspec.field(default_factory=StabilitySettings)
    """Stable-weight rule."""
    stale_after_s: Seconds = 3.0
    """No valid frame for this long → fault."""
    reconnect_s: Seconds = 1.0
    """Wait between attempts to reopen the port."""


class Xk3190A9Config(_WeighbridgeConfig, frozen=True, tag="xk3190_a9"):
    """``type = "xk3190_a9"``: 耀华 XK3190-A9 continuous output."""

    unit: WeightUnit = "kg"
    """Unit set on the indicator (the frame does not carry it)."""


class Xk3190A12Config(_WeighbridgeConfig, frozen=True, tag="xk3190_a12"):
    """``type = "xk3190_a12"``: A12-style ASCII lines (``ww012.340t``)."""


class ToledoConfig(_WeighbridgeConfig, frozen=True, tag="toledo"):
    """``type = "toledo"``: Mettler Toledo standard continuous output."""

    checksum: bool = True
    """Whether the indicator appends the checksum byte."""


class VoiceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``voice``: the agent box's own speaker (eSpeak NG, offline)."""

    voice: Annotated[str, msgspec.Meta(pattern=r"^[a-z-]{2,12}$")] = "cmn"
    """eSpeak NG voice (``cmn`` Mandarin)."""
    words_per_minute: Annotated[int, msgspec.Meta(ge=80, le=400)] = 150
    """Speaking rate."""
    player: tuple[str, ...] | None = ("aplay", "-q")
    """Command that plays the WAV file (None: synthesise only)."""


class SerialLedConfig(DeviceConfig, frozen=True, tag="serial_led"):
    """``type = "serial_led"``: EG-LED/1 screen."""

    port: str
    """Device path or ``socket://host:port``."""
    serial: SerialSettings = msgspec.field(default_factory=SerialSettings)
    """Line settings."""
    address: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1
    """Screen address on the bus."""
    encoding: LedEncoding = "gbk"
    """Text encoding of the screen."""
    max_lines: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4
    """Lines the screen has."""
    timeout_s: Seconds = 0.5
    """Answer timeout."""
    keepalive_s: Seconds = 5.0
    """Ping interval that keeps the health current."""
    templates: NoticeTemplates | None = None
    """Wording of the pass screen and the voice prompt (None: the lane's own lines)."""
    voice: VoiceConfig | None = None
    """Speak the prompt on the agent box's speaker (needs ``templates``; EG-LED/1 has no voice of its own)."""


class _FamilyLedConfig(DeviceConfig, frozen=True, kw_only=True):
    address: Annotated[int, msgspec.Meta(ge=0, le=0xFFFE)] = 1
    """Screen address on the bus."""
    max_lines: Annotated[int, msgspec.Meta(ge=1, le=8)] = 4
    """Lines the screen has."""
    templates: NoticeTemplates | None = None
    """Wording of the pass screen and the voice prompt (None: the lane's own lines, no prompt)."""
    screen_voice: bool = False
    """The screen has its own voice module: speak the prompt there."""
    voice: VoiceConfig | None = None
    """Also speak the prompt on the agent box's speaker."""
    timeout_s: Seconds = 0.5
    """Answer timeout."""
    keepalive_s: Seconds = 5.0
    """Ping interval that keeps the health current."""


class BxLedConfig(_FamilyLedConfig, frozen=True, kw_only=True, tag="bx_led"):
    """``type = "bx_led"``: 仰邦 BX-5/BX-6-style controller (serial, or ``socket://host:5005``)."""

    port: str
    """Device path or ``socket://host:port``."""
    serial: SerialSettings = msgspec.field(default_factory=SerialSettings)
    """Line settings."""


class LingxinLedConfig(_FamilyLedConfig, frozen=True, kw_only=True, tag="lingxin_led"):
    """``type = "lingxin_led"``: 灵信-style RS-485 lane screen (often with a voice module)."""

    port: str
    """Device path or ``socket://host:port``."""
    serial: SerialSettings = msgspec.field(default_factory=SerialSettings)
    """Line settings."""


class CameraRs485LedConfig(_FamilyLedConfig, frozen=True, kw_only=True, tag="camera_rs485_led"):
    """``type = "camera_rs485_led"``: a screen on the 臻识 camera's RS-485 port; the camera forwards frames."""

    host: str
    """Camera address."""
    camera_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8131
    """Camera control port."""
    protocol: Literal["bx", "lingxin"] = "lingxin"
    """What the screen behind the camera speaks."""
    comm: Annotated[str, msgspec.Meta(pattern=r"^rs485-[12]$")] = "rs485-1"
    """The camera's RS-485 port."""


class ModbusDigitalInputConfig(DeviceConfig, frozen=True, tag="modbus_di"):
    """``type = "modbus_di"``: ground-loop detector outputs read as Modbus discrete inputs."""

    port: str
    """Device path or ``socket://host:port``."""
    serial: SerialSettings = msgspec.field(default_factory=SerialSettings)
    """Line settings."""
    unit_id: UnitId = 1
    """Modbus unit id."""
    channels: tuple[Address, ...] = (0,)
    """Discrete inputs to watch (one per loop)."""
    poll_s: Seconds = 0.1
    """Poll interval."""
    debounce_s: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.2
    """A change must hold this long before it is an event."""
    timeout_s: Seconds = 0.5
    """Modbus answer timeout."""


BarrierConfig = (
    ModbusRelayBarrierConfig
    | HttpAnprBarrierConfig
    | DahuaItcBarrierConfig
    | HikvisionIsapiBarrierConfig
    | VzenithBarrierConfig
)
WeighbridgeConfig = Xk3190A9Config | Xk3190A12Config | ToledoConfig
LedConfig = SerialLedConfig | BxLedConfig | LingxinLedConfig | CameraRs485LedConfig
DigitalInputConfig = ModbusDigitalInputConfig
