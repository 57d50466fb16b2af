"""Where a simulator talks: a pseudo-terminal behind a stable symlink, or a loopback TCP server.

Both speak raw bytes; a driver opens ``endpoint.url`` with pyserial (a device path, or
``socket://127.0.0.1:PORT`` for a serial server). ``vanish()`` makes the port disappear the way an
unplugged USB adapter or a powered-off serial server does, ``restore()`` brings it back at the same
URL (a new pty behind the same symlink, or the same TCP port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class SimEndpoint(ABC):
    """The device side of one simulated serial line."""

    def __init__(self) -> None:
        self.on_receive: Callable[[bytes], None] | None = None
        self.bytes_written = 0
        self.bytes_dropped = 0

    @property
    @abstractmethod
    def url(self) -> str:
        """What a driver passes to pyserial to reach this simulator."""

    @property
    @abstractmethod
    def available(self) -> bool:
        """False while the port has vanished."""

    @abstractmethod
    async def start(self) -> None:
        """Create the port."""

    @abstractmethod
    async def stop(self) -> None:
        """Remove the port for good."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes to the driver; dropped (and counted) when nobody can take them."""

    async def vanish(self) -> None:
        """Make the port disappear (the driver's reads fail, reopening fails)."""
        await self.stop()

    async def restore(self) -> None:
        """Bring the port back at the same URL."""
        await self.start()

    def _received(self, data: bytes) -> None:
        if self.on_receive is not None and data:
            self.on_receive(data)


class PtyEndpoint(SimEndpoint):
    """A pseudo-terminal (``os.openpty`` + ``tty.setraw``) reachable through a fixed symlink path."""

    def __init__(self, link: str | os.PathLike[str]) -> None:
        super().__init__()
        self.link = Path(link)
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def url(self) -> str:
        """The symlink path (stable across vanish/restore, like a udev alias)."""
        return str(self.link)

    @property
    def available(self) -> bool:
        """True while the pty exists."""
        return self._master is not None

    @property
    def tty_name(self) -> str | None:
        """The current ``/dev/pts/N`` behind the symlink."""
        return os.ttyname(self._slave) if self._slave is not None else None

    async def start(self) -> None:
        """Open a new pty and point the symlink at it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        self._received(data)

    def write(self, data: bytes) -> None:
        """Write to the pty master; bytes that do not fit (nobody reading) are dropped."""
        if self._master is None:
            self.bytes_dropped += len(data)
            return
        try:
            sent = os.write(self._master, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0
        self.bytes_written += sent
        self.bytes_dropped += len(data) - sent

    async def stop(self) -> None:
        """Close both ends of the pty and remove the symlink."""
        master, slave = self._master, self._slave
        self._master = self._slave = None
        if master is not None:
            asyncio.get_running_loop().remove_reader(master)
            os.close(master)
        if slave is not None:
            os.close(slave)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()


class TcpEndpoint(SimEndpoint):
    """A serial-server lookalike: a TCP listener on loopback; bytes go to every connected client."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``socket://host:port`` for ``serial.serial_for_url``."""
        return f"socket://{self.host}:{self.port}"

    @property
    def available(self) -> bool:
        """True while the listener runs."""
        return self._server is not None

    @property
    def clients(self) -> int:
        """Number of connected drivers."""
        return len(self._writers)

    async def start(self) -> None:
        """Listen (on the same port as before after a vanish)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while data := await reader.read(4096):
                self._received(data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    def write(self, data: bytes) -> None:
        """Send to every connected client (dropped when none is connected)."""
        if not self._writers:
            self.bytes_dropped += len(data)
            return
        for writer in list(self._writers):
            if writer.is_closing():
                self._writers.discard(writer)
                continue
            writer.write(data)
        self.bytes_written += len(data)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


def make_endpoint(transport: str, link: str | os.PathLike[str] | None = None) -> SimEndpoint:
    """``transport`` is ``pty`` (needs ``link``, the symlink path) or ``tcp`` (a free loopback port)."""
    if transport == "pty":
        if link is None:
            raise ValueError("pty 端点需要符号链接路径")
        return PtyEndpoint(link)
    if transport == "tcp":
        return TcpEndpoint()
    raise ValueError(f"未知的模拟端点类型: {transport}")
