"""A serial port (device path or pyserial URL such as ``socket://host:port``) driven from asyncio.

pyserial is blocking, so each link owns one private worker thread and every call on the port runs
there; the event loop never blocks and a slow port never starves the loop's shared executor.
"""

from __future__ import annotations

import asyncio
import termios
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal, TypeVar

import msgspec
import serial

if TYPE_CHECKING:
    from collections.abc import Callable

R = TypeVar("R")

# what pyserial lets escape when a port vanishes: termios.error is no OSError subclass
_PORT_ERRORS = (serial.SerialException, OSError, ValueError, termios.error)


class SerialSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Line settings of a serial port (ignored by pseudo-terminals and ``socket://`` URLs)."""

    baudrate: int = 9600
    """Bits per second."""
    bytesize: Literal[7, 8] = 8
    """Data bits."""
    parity: Literal["N", "E", "O"] = "N"
    """Parity: none, even or odd."""
    stopbits: Literal[1, 2] = 1
    """Stop bits."""


class LinkError(Exception):
    """The port could not be opened, or it failed while in use (unplugged, server gone)."""


class SerialLink:
    """One serial port; ``open``/``read``/``write``/``close`` are awaitable and raise only :class:`LinkError`."""

    def __init__(
        self,
        url: str,
        settings: SerialSettings | None = None,
        *,
        read_timeout: float = 0.1,
        write_timeout: float = 1.0,
        name: str = "serial",
    ) -> None:
        self.url = url
        self.settings = settings or SerialSettings()
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._port: serial.SerialBase | None = None

    @property
    def is_open(self) -> bool:
        """True between a successful ``open`` and ``close`` or a failure."""
        return self._port is not None

    async def _call(self, fn: Callable[[], R]) -> R:
        if self._executor is None:  # made lazily so that a link can be reused after shutdown()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serial-{self._name}")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        """Open the port and drop whatever was buffered before we listened."""
        if self._port is not None:
            return

        def _open() -> serial.SerialBase:
            port: serial.SerialBase = serial.serial_for_url(
                self.url,
                baudrate=self.settings.baudrate,
                bytesize=self.settings.bytesize,
                parity=self.settings.parity,
                stopbits=self.settings.stopbits,
                timeout=self.read_timeout,
                write_timeout=self.write_timeout,
            )
            port.reset_input_buffer()
            return port

        try:
            self._port = await self._call(_open)
        except _PORT_ERRORS as exc:
            raise LinkError(str(exc)) from exc

    async def read(self, max_bytes: int = 4096) -> bytes:
        """Wait up to ``read_timeout`` for bytes; b"" when none came."""
        port = self._require()

        def _read() -> bytes:
            data: bytes = port.read(1)
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(min(waiting, max_bytes - 1))
            return data

        try:
            return await self._call(_read)
        except _PORT_ERRORS as exc:
            await self.close()
            raise LinkError(str(exc)) from exc

    async def write(self, data: bytes) -> None:
        """Send ``data`` and wait until it left the buffer."""
        port = self._require()

        def _write() -> None:
            port.write(data)
            port.flush()

        try:
            await self._call(_write)
        except _PORT_ERRORS as exc:
            await self.close()
            raise LinkError(str(exc)) from exc

    async def reset_input(self) -> None:
        """Drop bytes received but not read yet."""
        port = self._require()
        try:
            await self._call(port.reset_input_buffer)
        except _PORT_ERRORS as exc:
            await self.close()
            raise LinkError(str(exc)) from exc

    async def close(self) -> None:
        """Close the port (idempotent, never raises)."""
        port, self._port = self._port, None
        if port is None:
            return

        def _close() -> None:
            try:
                port.close()
            except _PORT_ERRORS:
                return

        await self._call(_close)

    async def shutdown(self) -> None:
        """Close the port and stop the worker thread."""
        await self.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    def _require(self) -> serial.SerialBase:
        if self._port is None:
            raise LinkError("串口未打开")
        return self._port
