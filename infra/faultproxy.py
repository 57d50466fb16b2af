"""A TCP proxy that injects network faults at random (seeded): drops, resets, stalls and refusals.

Put it between an agent and the cloud hub to check that nothing is lost or doubled when the
network misbehaves (issue 5, docs/sync-faults.md). Every accepted connection is forwarded to the
upstream; while it lives, the proxy draws faults from a seeded :class:`random.Random`:

* ``drop``: both sides are closed cleanly (FIN) in the middle of the stream;
* ``reset``: both sides are aborted (RST, ``SO_LINGER`` 0), bytes in flight are lost;
* ``stall``: forwarding stops for a while in both directions (the connection stays open; the
  peers see silence, as with a congested or half-dead route);
* ``refuse``: a new connection is accepted and closed at once (an unreachable cloud).

Used from tests and benches as an async context manager::

    async with FaultProxy(upstream_port=8000, seed=7) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/agent/ws"

and from a shell: ``python -m infra.faultproxy --upstream 127.0.0.1:8000 --listen 9000 --seed 7``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import structlog

__all__ = ["FaultCounts", "FaultProxy", "FaultSettings"]

log = structlog.get_logger(__name__)

_CHUNK = 65536


@dataclass(frozen=True, kw_only=True)
class FaultSettings:
    """How often and how badly the proxy misbehaves.

    Attributes:
        mean_fault_s: mean seconds between faults on one connection (exponential draw).
        weights: relative weights of ``drop``, ``reset`` and ``stall``.
        stall_s: bounds of a stall's length in seconds.
        refuse_probability: chance that a new connection is refused outright.
    """

    mean_fault_s: float = 3.0
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    stall_s: tuple[float, float] = (0.5, 4.0)
    refuse_probability: float = 0.1


@dataclass
class FaultCounts:
    """What the proxy did (for the soak's report)."""

    connections: int = 0
    refused: int = 0
    drops: int = 0
    resets: int = 0
    stalls: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict."""
        return dict(self.__dict__)


@dataclass(eq=False)
class _Link:
    """One proxied connection: both stream pairs and the gate that stalls them."""

    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    upstream_reader: asyncio.StreamReader
    upstream_writer: asyncio.StreamWriter
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def abort(self, *, reset: bool) -> None:
        for writer in (self.client_writer, self.upstream_writer):
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if reset:
                writer.transport.abort()
            else:
                writer.close()


class FaultProxy:
    """Forward ``listen_port`` to ``upstream_host:upstream_port`` and inject faults while enabled."""

    def __init__(
        self,
        *,
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        listen_port: int = 0,
        seed: int = 0,
        settings: FaultSettings | None = None,
        enabled: bool = True,
    ) -> None:
        """Prepare the proxy; nothing listens before :meth:`start`."""
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = listen_port
        self.settings = settings or FaultSettings()
        self.rng = random.Random(seed)
        self.enabled = enabled
        self.counts = FaultCounts()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    async def start(self) -> None:
        """Listen on 127.0.0.1 (the chosen port is in :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("faultproxy.listening", port=self.port, upstream=f"{self.upstream_host}:{self.upstream_port}")

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
        self.cut_all(reset=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> Self:
        """Start listening."""
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop and cut every connection."""
        await self.stop()

    def cut_all(self, *, reset: bool = True) -> int:
        """Abort (or close) every proxied connection now; return how many were cut."""
        links = list(self._links)
        for link in links:
            link.abort(reset=reset)
        return len(links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts.connections += 1
        if self.enabled and self.rng.random() < self.settings.refuse_probability:
            self.counts.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            writer.transport.abort()  # upstream down: the client sees a refused/reset connection
            return
        link = _Link(reader, writer, up_reader, up_writer)
        link.flowing.set()
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(link, reader, up_writer, up=True)),
            asyncio.create_task(self._pump(link, up_reader, writer, up=False)),
        ]
        chaos = asyncio.create_task(self._chaos(link))
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            chaos.cancel()
            link.abort(reset=False)
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, chaos, return_exceptions=True)
            self._links.discard(link)

    async def _pump(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    return
                await link.flowing.wait()
                writer.write(data)
                await writer.drain()
                if up:
                    self.counts.bytes_up += len(data)
                else:
                    self.counts.bytes_down += len(data)

    async def _chaos(self, link: _Link) -> None:
        settings = self.settings
        while True:
            await asyncio.sleep(self.rng.expovariate(1.0 / max(0.01, settings.mean_fault_s)))
            if not self.enabled:
                continue
            kind = self.rng.choices(("drop", "reset", "stall"), weights=settings.weights)[0]
            if kind == "stall":
                self.counts.stalls += 1
                link.flowing.clear()
                await asyncio.sleep(self.rng.uniform(*settings.stall_s))
                link.flowing.set()
                continue
            if kind == "drop":
                self.counts.drops += 1
            else:
                self.counts.resets += 1
            link.abort(reset=kind == "reset")
            return


async def _serve(args: argparse.Namespace) -> None:
    host, _, port = args.upstream.rpartition(":")
    settings = FaultSettings(mean_fault_s=args.mean_fault_s, refuse_probability=args.refuse)
    proxy = FaultProxy(
        upstream_host=host or "127.0.0.1",
        upstream_port=int(port),
        listen_port=args.listen,
        seed=args.seed,
        settings=settings,
    )
    async with proxy:
        try:
            await asyncio.Event().wait()
        finally:
            log.info("faultproxy.counts", **proxy.counts.as_dict())


def main(argv: list[str] | None = None) -> None:
    """Run the proxy from a shell until interrupted."""
    parser = argparse.ArgumentParser(description="TCP 故障注入代理（断开、复位、停顿、拒绝）")
    parser.add_argument("--upstream", required=True, help="host:port of the real server")
    parser.add_argument("--listen", type=int, default=0, help="port to listen on (127.0.0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mean-fault-s", type=float, default=3.0)
    parser.add_argument("--refuse", type=float, default=0.1, help="probability of refusing a new connection")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
