"""EG-LED/1 screen simulator: records every screen it was told to show and answers like a real one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.devices.led import LedEncoding, LedFrame, LedFrameDecoder, decode_screen, encode_led_frame
from agent.devices.types import LedScreen

if TYPE_CHECKING:
    from agent.devices.sim.endpoints import SimEndpoint


class LedDisplaySimulator:
    """Shows (records) ``S`` frames, blanks on ``C``, answers ``P``; ``respond = False`` makes it mute."""

    def __init__(self, endpoint: SimEndpoint, *, address: int = 1, encoding: LedEncoding = "gbk") -> None:
        self.endpoint = endpoint
        self.address = address
        self.encoding: LedEncoding = encoding
        self.respond = True
        self.history: list[LedScreen] = []
        self.current = LedScreen(())
        self.pings = 0
        self._decoder = LedFrameDecoder()
        endpoint.on_receive = self._receive

    @property
    def url(self) -> str:
        """Where the driver opens the screen."""
        return self.endpoint.url

    @property
    def frames_bad(self) -> int:
        """Frames received with a bad checksum."""
        return self._decoder.frames_bad

    async def start(self) -> None:
        """Create the port."""
        await self.endpoint.start()

    async def stop(self) -> None:
        """Remove the port."""
        await self.endpoint.stop()

    async def vanish(self) -> None:
        """The port disappears."""
        await self.endpoint.vanish()

    async def restore(self) -> None:
        """The port returns."""
        await self.endpoint.restore()

    def _reply(self, command: str, payload: bytes = b"") -> None:
        if self.respond:
            self.endpoint.write(encode_led_frame(LedFrame(self.address, command, payload)))

    def _receive(self, data: bytes) -> None:
        bad_before = len(self._decoder.bad_addresses)
        frames = self._decoder.feed(data)
        for address in self._decoder.bad_addresses[bad_before:]:
            if address == self.address:
                self._reply("N", b"CS")
        for frame in frames:
            if frame.address != self.address:
                continue
            if frame.command == "S":
                try:
                    screen = decode_screen(frame.payload, self.encoding)
                except (ValueError, UnicodeDecodeError):
                    self._reply("N", b"LEN")
                    continue
                self.current = screen
                self.history.append(screen)
                self._reply("A")
            elif frame.command == "C":
                self.current = LedScreen(())
                self.history.append(self.current)
                self._reply("A")
            elif frame.command == "P":
                self.pings += 1
                self._reply("A")
            else:
                self._reply("N", b"CMD")
