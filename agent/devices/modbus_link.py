"""A Modbus RTU master connection (pymodbus) that reports failures as values and reconnects lazily.

Device paths and ``socket://host:port`` URLs both work: pymodbus's serial client sends RTU frames
over TCP to a serial server when given a ``socket://`` URL.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException

from agent.devices.serial_link import SerialSettings


class ModbusRequestError(Exception):
    """A Modbus request got no valid answer (port missing, timeout, exception response)."""


class ModbusLink:
    """Serialises requests to one unit on one port; every failure closes the client for a fresh reconnect."""

    def __init__(
        self,
        url: str,
        *,
        unit_id: int = 1,
        serial: SerialSettings | None = None,
        timeout_s: float = 0.5,
        reconnect_s: float = 1.0,
        quiet: bool = True,
    ) -> None:
        self.url = url
        self.unit_id = unit_id
        self.serial = serial or SerialSettings()
        self.timeout_s = timeout_s
        self.reconnect_s = reconnect_s
        self._client: AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self._next_connect = 0.0
        if quiet:
            # pymodbus logs every timeout at ERROR; our health state reports them once instead
            logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def _connected(self) -> AsyncModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        now = time.monotonic()
        if now < self._next_connect:
            raise ModbusRequestError("等待重新连接")
        self._next_connect = now + self.reconnect_s
        client = AsyncModbusSerialClient(
            self.url,
            baudrate=self.serial.baudrate,
            bytesize=self.serial.bytesize,
            parity=self.serial.parity,
            stopbits=self.serial.stopbits,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        try:
            ok = await client.connect()
        except (ModbusException, OSError, ValueError) as exc:
            client.close()
            raise ModbusRequestError(f"无法打开 {self.url}: {exc}") from exc
        if not ok:
            client.close()
            raise ModbusRequestError(f"无法打开 {self.url}")
        self._client = client
        return client

    async def read_discrete_inputs(self, address: int, count: int) -> list[bool]:
        """Read ``count`` discrete inputs from ``address``."""
        async with self._lock:
            client = await self._connected()
            try:
                reply = await client.read_discrete_inputs(address, count=count, device_id=self.unit_id)
            except (ModbusException, OSError, ValueError) as exc:
                self.close()
                raise ModbusRequestError(str(exc)) from exc
            if reply.isError():
                raise ModbusRequestError(f"异常应答 {reply}")
            return list(reply.bits[:count])

    async def read_coils(self, address: int, count: int) -> list[bool]:
        """Read ``count`` coils from ``address``."""
        async with self._lock:
            client = await self._connected()
            try:
                reply = await client.read_coils(address, count=count, device_id=self.unit_id)
            except (ModbusException, OSError, ValueError) as exc:
                self.close()
                raise ModbusRequestError(str(exc)) from exc
            if reply.isError():
                raise ModbusRequestError(f"异常应答 {reply}")
            return list(reply.bits[:count])

    async def write_coil(self, address: int, value: bool) -> None:
        """Set one coil."""
        async with self._lock:
            client = await self._connected()
            try:
                reply = await client.write_coil(address, value, device_id=self.unit_id)
            except (ModbusException, OSError, ValueError) as exc:
                self.close()
                raise ModbusRequestError(str(exc)) from exc
            if reply.isError():
                raise ModbusRequestError(f"异常应答 {reply}")

    def close(self) -> None:
        """Drop the connection (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
