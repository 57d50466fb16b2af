"""A Modbus RTU slave on a simulated serial line, and the devices built on it.

* :class:`ModbusRtuSlave` answers function codes 1 (read coils), 2 (read discrete inputs),
  5 (write single coil) and 15 (write multiple coils) for its unit id; anything else gets
  exception 01. Requests with a bad CRC are ignored, as a real slave does.
* :class:`RelayBarrierSimulator`: a relay board driving a barrier. Coil 0 pulses "open",
  coil 1 pulses "close" (rising edge); discrete input 0 is the open limit switch, 1 the closed
  limit switch, 2 the controller's fault output. The arm takes ``travel_s`` to move.
* :class:`LoopDetectorSimulator`: a ground-loop detector whose outputs are discrete inputs
  0..n-1 (1 = vehicle over the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from agent.devices.sim.endpoints import SimEndpoint

READ_COILS = 0x01
READ_DISCRETE_INPUTS = 0x02
WRITE_SINGLE_COIL = 0x05
WRITE_MULTIPLE_COILS = 0x0F
_FIXED_LENGTH = {0x01: 8, 0x02: 8, 0x03: 8, 0x04: 8, 0x05: 8, 0x06: 8}
_IDLE_RESET_S = 0.05  # a gap longer than 3.5 characters starts a new frame; generous for ptys


def crc16_modbus(data: bytes) -> bytes:
    """Modbus RTU CRC-16 (polynomial 0xA001, init 0xFFFF), low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def _pack_bits(bits: list[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


class ModbusRtuSlave:
    """Coils and discrete inputs behind one unit id on a :class:`SimEndpoint`.

    ``respond = False`` makes the slave silent (a dead controller or a cut RS-485 pair) while
    the port stays present; ``requests`` counts the valid requests addressed to it.
    """

    def __init__(self, endpoint: SimEndpoint, *, unit_id: int = 1, coils: int = 16, discrete_inputs: int = 16) -> None:
        self.endpoint = endpoint
        self.unit_id = unit_id
        self.coils = [False] * coils
        self.discrete_inputs = [False] * discrete_inputs
        self.respond = True
        #: Answer nothing to the next N requests (a burst of line noise), then answer again.
        self.drop_replies = 0
        #: Acknowledge coil writes without switching the relay (a welded or dead relay; read-back shows it).
        self.stuck_coils = False
        self.requests = 0
        self.on_coil_change: Callable[[int, bool], None] | None = None
        self._buf = bytearray()
        self._last_rx = 0.0
        endpoint.on_receive = self._receive

    @property
    def url(self) -> str:
        """Where the driver opens the slave."""
        return self.endpoint.url

    async def start(self) -> None:
        """Create the port."""
        await self.endpoint.start()

    async def stop(self) -> None:
        """Remove the port."""
        await self.endpoint.stop()

    def _receive(self, data: bytes) -> None:
        now = time.monotonic()
        if now - self._last_rx > _IDLE_RESET_S:
            self._buf.clear()
        self._last_rx = now
        self._buf += data
        while self._try_frame():
            pass

    def _try_frame(self) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        function = buf[1]
        if function in _FIXED_LENGTH:
            size = _FIXED_LENGTH[function]
        elif function in {0x0F, 0x10}:
            if len(buf) < 7:
                return False
            size = 9 + buf[6]
        else:
            size = 8
        if len(buf) < size:
            return False
        frame = bytes(buf[:size])
        if crc16_modbus(frame[:-2]) != frame[-2:]:
            del buf[:1]  # resync
            return True
        del buf[:size]
        if frame[0] != self.unit_id:
            return True
        self.requests += 1
        reply = self._handle(frame[1:-2])
        dropped = self.drop_replies > 0
        self.drop_replies = max(0, self.drop_replies - 1)
        if self.respond and reply is not None and not dropped:
            body = bytes([self.unit_id]) + reply
            self.endpoint.write(body + crc16_modbus(body))
        return True

    def _handle(self, pdu: bytes) -> bytes | None:  # noqa: PLR0911 - one return per function code
        function = pdu[0]
        if function in {READ_COILS, READ_DISCRETE_INPUTS}:
            address = int.from_bytes(pdu[1:3], "big")
            count = int.from_bytes(pdu[3:5], "big")
            table = self.coils if function == READ_COILS else self.discrete_inputs
            if count < 1 or address + count > len(table):
                return bytes([function | 0x80, 0x02])
            data = _pack_bits(table[address : address + count])
            return bytes([function, len(data)]) + data
        if function == WRITE_SINGLE_COIL:
            address = int.from_bytes(pdu[1:3], "big")
            value = pdu[3:5]
            if address >= len(self.coils) or value not in {b"\xff\x00", b"\x00\x00"}:
                return bytes([function | 0x80, 0x02])
            self._set_coil(address, value == b"\xff\x00")
            return pdu[:5]
        if function == WRITE_MULTIPLE_COILS:
            address = int.from_bytes(pdu[1:3], "big")
            count = int.from_bytes(pdu[3:5], "big")
            if address + count > len(self.coils):
                return bytes([function | 0x80, 0x02])
            packed = pdu[6:]
            for i in range(count):
                self._set_coil(address + i, bool(packed[i // 8] >> (i % 8) & 1))
            return pdu[:5]
        return bytes([function | 0x80, 0x01])

    def _set_coil(self, address: int, value: bool) -> None:
        if self.stuck_coils:
            return
        old = self.coils[address]
        self.coils[address] = value
        if old != value and self.on_coil_change is not None:
            self.on_coil_change(address, value)


class RelayBarrierSimulator:
    """A barrier behind a Modbus relay board (coil 0 open, coil 1 close; inputs 0 open, 1 closed, 2 fault)."""

    OPEN_COIL = 0
    CLOSE_COIL = 1
    OPEN_INPUT = 0
    CLOSED_INPUT = 1
    FAULT_INPUT = 2

    def __init__(
        self,
        endpoint: SimEndpoint,
        *,
        unit_id: int = 1,
        travel_s: float = 0.5,
        relay_log: Path | None = None,
        auto_close_s: float = 0.0,
    ) -> None:
        self.slave = ModbusRtuSlave(endpoint, unit_id=unit_id)
        self.slave.on_coil_change = self._coil_changed
        self.travel_s = travel_s
        #: Every relay pulse the board took, one JSON line each (``{"at", "coil", "command"}``): the
        #: barrier relay log the chaos bench counts openings from.
        self.relay_log = relay_log
        #: > 0: the arm comes down on its own this long after it is fully up (the vehicle has passed).
        self.auto_close_s = auto_close_s
        self.jammed = False
        self.opens = 0
        self.closes = 0
        self._motion: asyncio.Task[None] | None = None
        self._set_limits(open_=False, closed=True)

    @property
    def url(self) -> str:
        """Where the driver opens the relay board."""
        return self.slave.url

    @property
    def is_open(self) -> bool:
        """True when the arm is fully up."""
        return self.slave.discrete_inputs[self.OPEN_INPUT]

    @property
    def is_closed(self) -> bool:
        """True when the arm is fully down."""
        return self.slave.discrete_inputs[self.CLOSED_INPUT]

    def set_responding(self, respond: bool) -> None:
        """A silent controller: requests get no answer."""
        self.slave.respond = respond

    def set_fault(self, fault: bool) -> None:
        """Raise or clear the controller's fault output."""
        self.slave.discrete_inputs[self.FAULT_INPUT] = fault

    def jam(self, jammed: bool = True) -> None:
        """The arm leaves its limit switch but never reaches the other one."""
        self.jammed = jammed

    async def start(self) -> None:
        """Create the port."""
        await self.slave.start()

    async def stop(self) -> None:
        """Remove the port."""
        if self._motion is not None:
            self._motion.cancel()
        await self.slave.stop()

    async def vanish(self) -> None:
        """The port disappears."""
        await self.slave.endpoint.vanish()

    async def restore(self) -> None:
        """The port returns."""
        await self.slave.endpoint.restore()

    def _set_limits(self, *, open_: bool, closed: bool) -> None:
        self.slave.discrete_inputs[self.OPEN_INPUT] = open_
        self.slave.discrete_inputs[self.CLOSED_INPUT] = closed

    def _coil_changed(self, address: int, value: bool) -> None:
        if not value or address not in {self.OPEN_COIL, self.CLOSE_COIL}:
            return
        opening = address == self.OPEN_COIL
        if opening:
            self.opens += 1
        else:
            self.closes += 1
        if self.relay_log is not None:
            line = json.dumps({"at": time.time(), "coil": address, "command": "open" if opening else "close"})
            with self.relay_log.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        if self._motion is not None:
            self._motion.cancel()
        self._motion = asyncio.get_running_loop().create_task(self._move(opening=opening))

    async def _move(self, *, opening: bool) -> None:
        if (opening and self.is_open) or (not opening and self.is_closed):
            return
        self._set_limits(open_=False, closed=False)
        await asyncio.sleep(self.travel_s)
        if not self.jammed:
            self._set_limits(open_=opening, closed=not opening)
        if opening and self.auto_close_s > 0 and not self.jammed:
            await asyncio.sleep(self.auto_close_s)
            self._set_limits(open_=False, closed=False)
            await asyncio.sleep(self.travel_s)
            self._set_limits(open_=False, closed=True)


class LoopDetectorSimulator:
    """A ground-loop detector: discrete input N is 1 while a vehicle stands over loop N."""

    def __init__(self, endpoint: SimEndpoint, *, unit_id: int = 1, channels: int = 2) -> None:
        self.slave = ModbusRtuSlave(endpoint, unit_id=unit_id, discrete_inputs=max(channels, 1))
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Where the driver opens the detector."""
        return self.slave.url

    def set_present(self, channel: int, present: bool) -> None:
        """A vehicle arrives on (or leaves) loop ``channel``."""
        self.slave.discrete_inputs[channel] = present

    def vehicle_passes(self, channel: int = 0, *, dwell_s: float = 1.0) -> None:
        """A vehicle drives over loop ``channel`` and leaves after ``dwell_s``."""

        async def _pass() -> None:
            self.set_present(channel, present=True)
            await asyncio.sleep(dwell_s)
            self.set_present(channel, present=False)

        task = asyncio.get_running_loop().create_task(_pass())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def set_responding(self, respond: bool) -> None:
        """A silent detector: requests get no answer."""
        self.slave.respond = respond

    async def start(self) -> None:
        """Create the port."""
        await self.slave.start()

    async def stop(self) -> None:
        """Remove the port."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.slave.stop()

    async def vanish(self) -> None:
        """The port disappears."""
        await self.slave.endpoint.vanish()

    async def restore(self) -> None:
        """The port returns."""
        await self.slave.endpoint.restore()
