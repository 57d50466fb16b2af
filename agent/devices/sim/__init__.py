"""Device simulators speaking the drivers' bytes on pseudo-terminals or loopback TCP (serial servers).

Start a whole lane with ``python -m agent.devices.sim`` (see docs/devices.md) or in-process with
:meth:`LaneSimulators.start`.
"""

from __future__ import annotations

from agent.devices.sim.anpr_http import AnprHttpBarrierSimulator
from agent.devices.sim.endpoints import PtyEndpoint, SimEndpoint, TcpEndpoint, make_endpoint
from agent.devices.sim.lane import LaneSimulators
from agent.devices.sim.led import LedDisplaySimulator
from agent.devices.sim.modbus import LoopDetectorSimulator, ModbusRtuSlave, RelayBarrierSimulator, crc16_modbus
from agent.devices.sim.profiles import Hold, Ramp, ScaleProfile
from agent.devices.sim.weighbridge import WeighbridgeSimulator

__all__ = [
    "AnprHttpBarrierSimulator",
    "Hold",
    "LaneSimulators",
    "LedDisplaySimulator",
    "LoopDetectorSimulator",
    "ModbusRtuSlave",
    "PtyEndpoint",
    "Ramp",
    "RelayBarrierSimulator",
    "ScaleProfile",
    "SimEndpoint",
    "TcpEndpoint",
    "WeighbridgeSimulator",
    "crc16_modbus",
    "make_endpoint",
]
