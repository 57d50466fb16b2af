"""Gate-lane devices: barrier, weighbridge, LED screen and ground loops, behind typed interfaces.

Drivers speak real serial ports (pyserial; device paths or ``socket://host:port`` serial servers),
Modbus RTU (pymodbus) or HTTP (aiohttp); :mod:`agent.devices.sim` holds simulators that speak the
same bytes on pseudo-terminals. Drivers never raise into the caller for device trouble: they
report it as :class:`DeviceHealth`. See docs/devices.md.
"""

from __future__ import annotations

from agent.devices.barrier import HttpAnprBarrier, ModbusRelayBarrier
from agent.devices.broadcast import Broadcast, Subscription
from agent.devices.camera_barrier import DahuaItcBarrier, HikvisionIsapiBarrier, VzenithBarrier
from agent.devices.digital_input import ModbusDigitalInput
from agent.devices.health import HealthTracker
from agent.devices.interfaces import Barrier, Device, DigitalInput, LedDisplay, Weighbridge
from agent.devices.led import SerialLedDisplay, gate_screen
from agent.devices.led_families import FamilyLedDisplay
from agent.devices.notice import GateNotice, NoticeTemplates
from agent.devices.registry import (
    BARRIERS,
    DIGITAL_INPUTS,
    LED_DISPLAYS,
    WEIGHBRIDGES,
    DeviceConfigError,
    DeviceRegistry,
    create_device,
)
from agent.devices.serial_link import SerialSettings
from agent.devices.stability import StabilityDetector, StabilitySettings
from agent.devices.types import (
    BarrierState,
    BarrierStatus,
    DeviceHealth,
    HealthLevel,
    LedColour,
    LedLine,
    LedScreen,
    StableWeight,
    VehicleEvent,
    WeightReading,
)
from agent.devices.voice import EspeakVoice
from agent.devices.weighbridge import SerialWeighbridge
from agent.devices.weighing import PassWeighing, TripKind, TripWeighing, TripWeighingPairer, pick_stable_for_pass

__all__ = [
    "BARRIERS",
    "DIGITAL_INPUTS",
    "LED_DISPLAYS",
    "WEIGHBRIDGES",
    "Barrier",
    "BarrierState",
    "BarrierStatus",
    "Broadcast",
    "DahuaItcBarrier",
    "Device",
    "DeviceConfigError",
    "DeviceHealth",
    "DeviceRegistry",
    "DigitalInput",
    "EspeakVoice",
    "FamilyLedDisplay",
    "GateNotice",
    "HealthLevel",
    "HealthTracker",
    "HikvisionIsapiBarrier",
    "HttpAnprBarrier",
    "LedColour",
    "LedDisplay",
    "LedLine",
    "LedScreen",
    "ModbusDigitalInput",
    "ModbusRelayBarrier",
    "NoticeTemplates",
    "PassWeighing",
    "SerialLedDisplay",
    "SerialSettings",
    "SerialWeighbridge",
    "StabilityDetector",
    "StabilitySettings",
    "StableWeight",
    "Subscription",
    "TripKind",
    "TripWeighing",
    "TripWeighingPairer",
    "VehicleEvent",
    "VzenithBarrier",
    "Weighbridge",
    "WeightReading",
    "create_device",
    "gate_screen",
    "pick_stable_for_pass",
]
