"""Simulators of the BX-style and 灵信-style gate screens (issue 23): they decode the real frames on a
pty or loopback TCP endpoint (or bytes a camera forwards from its RS-485 port) and record what a
driver would see on the glass and hear from the speaker."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from agent.devices import led_protocols as lp
from agent.devices.types import LedLine, LedScreen

if TYPE_CHECKING:
    from agent.devices.led_families import LedProtocol
    from agent.devices.sim.endpoints import SimEndpoint


class FamilyScreenSimulator:
    """A BX or 灵信-style screen: ``current`` lines, ``history`` of screens, ``spoken`` sentences.

    ``respond = False`` makes it mute; ``reject = n`` answers the next commands with error code ``n``.
    Without an endpoint, :meth:`feed` takes the bytes (a camera forwarding RS-485 data).
    """

    def __init__(
        self, protocol: LedProtocol, endpoint: SimEndpoint | None = None, *, address: int = 1, lines: int = 4
    ) -> None:
        self.protocol: LedProtocol = protocol
        self.endpoint = endpoint
        self.address = address
        self.lines: list[LedLine | None] = [None] * lines
        self.respond = True
        self.reject = 0
        self.history: list[LedScreen] = []
        self.spoken: list[str] = []
        self.pings = 0
        self.errors: list[str] = []
        self._bx = lp.BxDecoder()
        self._lx = lp.LxDecoder()
        if endpoint is not None:
            endpoint.on_receive = self.feed

    @property
    def url(self) -> str:
        """Where the driver opens the screen."""
        assert self.endpoint is not None
        return self.endpoint.url

    @property
    def current(self) -> LedScreen:
        """What the glass shows now."""
        return LedScreen(tuple(line for line in self.lines if line is not None))

    @property
    def frames_bad(self) -> int:
        """Frames with a bad CRC."""
        return self._bx.frames_bad + self._lx.frames_bad

    async def start(self) -> None:
        """Create the port."""
        if self.endpoint is not None:
            await self.endpoint.start()

    async def stop(self) -> None:
        """Remove the port."""
        if self.endpoint is not None:
            await self.endpoint.stop()

    def feed(self, data: bytes) -> None:
        """Bytes arriving on the screen's line."""
        if self.protocol == "bx":
            for dst, _src, body in self._bx.feed(data):
                if dst in {self.address, 0xFFFE}:
                    self._handle(self._decode(partial(lp.bx_command, dst, body)), partial(lp.bx_answer, self.address))
        else:
            for address, cmd, body in self._lx.feed(data):
                if address == self.address:
                    self._handle(
                        self._decode(partial(lp.lx_command, address, cmd, body)),
                        partial(lp.lx_answer, self.address, cmd),
                    )

    def _decode(self, decode: Callable[[], lp.LedCommand]) -> lp.LedCommand | None:
        try:
            return decode()
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            self.errors.append(str(exc))
            return None

    def _handle(self, command: lp.LedCommand | None, answer: Callable[[int], bytes]) -> None:
        if self.reject or command is None:
            self._write(answer(self.reject or 0x02))
            return
        if command.kind == "show" and command.screen is not None:
            if self.protocol == "bx":  # one area holds the whole screen
                self.lines = [*command.screen.lines, *([None] * len(self.lines))][: len(self.lines)]
                if command.text:
                    self.spoken.append(command.text)
            elif command.line < len(self.lines):
                self.lines[command.line] = command.screen.lines[0]
            self.history.append(self.current)
        elif command.kind == "clear":
            self._clear(command.line)
        elif command.kind == "speak":
            self.spoken.append(command.text)
        elif command.kind == "ping":
            self.pings += 1
        self._write(answer(0))

    def _clear(self, line: int) -> None:
        if self.protocol == "bx":
            self.lines = [None] * len(self.lines)
        elif line < len(self.lines):
            self.lines[line] = None
        self.history.append(self.current)

    def _write(self, data: bytes) -> None:
        if self.respond and self.endpoint is not None:
            self.endpoint.write(data)
