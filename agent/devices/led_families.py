"""Drivers for the common gate-screen families (issue 23): 仰邦 BX-style, 灵信-style, and a screen wired
to the ANPR camera's RS-485 port that the camera forwards text to (臻识 ``ttransmission``).

Frames are in :mod:`agent.devices.led_protocols`. A screen is reached over a serial port or a TCP
serial server / the controller's own TCP port (any pyserial URL: ``/dev/ttyUSB0``,
``socket://192.168.1.50:5005``), or through the camera (:class:`VzRs485Transport`). Over a serial
line the screen's answer confirms each frame; through the camera only the camera's acceptance can
(the camera does not return the screen's answer).

The lane pipeline hands every driver a :class:`~agent.devices.types.LedScreen`. When it is the
lane's standard pass screen and the driver has ``templates``, the driver re-renders it with the
configured wording (:mod:`agent.devices.notice`) and speaks the verdict: on the screen's own voice
module (``screen_voice``) and/or the agent's speaker (:class:`agent.devices.voice.EspeakVoice`).
:meth:`FamilyLedDisplay.announce` takes a :class:`~agent.devices.notice.GateNotice` directly.
"""

from __future__ import annotations

import asyncio
import base64
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

import structlog

from agent.devices import led_protocols as lp
from agent.devices.led import LedDisplayBase
from agent.devices.notice import GateNotice, NoticeTemplates
from agent.devices.serial_link import LinkError, SerialLink, SerialSettings
from agent.devices.types import LedScreen
from agent.devices.voice import EspeakVoice
from agent.devices.vz_link import DEFAULT_PORT, VzError, VzLink

_log = structlog.get_logger("agent.devices.led_families")

LedProtocol = Literal["bx", "lingxin"]


class TransportError(Exception):
    """The line or the camera could not carry a frame (Chinese message)."""


class LedTransport(ABC):
    """Carries frames to a screen; ``answers`` says whether the screen's replies come back."""

    answers = True

    @abstractmethod
    async def exchange(self, frame: bytes, match: Callable[[bytes], int | None], timeout_s: float) -> int | None:
        """Send ``frame``; with answers, the status ``match`` finds in what comes back (None: silence)."""

    @abstractmethod
    async def close(self) -> None:
        """Release the line."""


class SerialLedTransport(LedTransport):
    """A serial port or TCP serial server (pyserial URL)."""

    def __init__(self, url: str, serial: SerialSettings | None = None, *, name: str = "led") -> None:
        self.url = url
        self._link = SerialLink(url, serial, read_timeout=0.05, name=name)

    async def exchange(self, frame: bytes, match: Callable[[bytes], int | None], timeout_s: float) -> int | None:
        try:
            if not self._link.is_open:
                await self._link.open()
            await self._link.reset_input()
            await self._link.write(frame)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while loop.time() < deadline:
                status = match(await self._link.read())
                if status is not None:
                    return status
        except LinkError as exc:
            raise TransportError(f"LED显示屏串口 {self.url} 不可用：{exc}") from exc
        return None

    async def close(self) -> None:
        await self._link.shutdown()


class VzRs485Transport(LedTransport):
    """The screen on a 臻识 camera's RS-485 port: frames go through the camera (``ttransmission``)."""

    answers = False

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, comm: str = "rs485-1", timeout_s: float = 2.0) -> None:
        self.comm = comm
        self._link = VzLink(host, port, timeout_s=timeout_s)

    async def exchange(self, frame: bytes, match: Callable[[bytes], int | None], timeout_s: float) -> int | None:
        del match, timeout_s
        body = {
            "cmd": "ttransmission",
            "subcmd": "send",
            "comm": self.comm,
            "datalen": len(frame),
            "data": base64.b64encode(frame).decode("ascii"),
        }
        try:
            await self._link.request(body)
        except VzError as exc:
            raise TransportError(f"相机未转发显示内容：{exc}") from exc
        return 0

    async def ping(self) -> None:
        """The camera answers (the screen behind it cannot be asked)."""
        try:
            await self._link.request({"cmd": "getsn"})
        except VzError as exc:
            raise TransportError(f"相机无应答：{exc}") from exc

    async def close(self) -> None:
        self._link.close()


class FamilyLedDisplay(LedDisplayBase):
    """A BX or 灵信-style screen; failures are health states, never exceptions."""

    _events_log = _log

    def __init__(
        self,
        protocol: LedProtocol,
        transport: LedTransport,
        *,
        name: str = "led",
        address: int = 1,
        max_lines: int = 4,
        max_line_bytes: int = 64,
        templates: NoticeTemplates | None = None,
        screen_voice: bool = False,
        voice: EspeakVoice | None = None,
        timeout_s: float = 0.5,
        keepalive_s: float = 5.0,
    ) -> None:
        super().__init__(name=name, keepalive_s=keepalive_s, templates=templates, voice=voice)
        self.protocol: LedProtocol = protocol
        self.transport = transport
        self.address = address
        self.max_lines = max_lines
        self.max_line_bytes = max_line_bytes
        self.screen_voice = screen_voice
        self.timeout_s = timeout_s
        self.last_spoken: str | None = None

    async def _close(self) -> None:
        await self.transport.close()

    async def _show_lines(self, screen: LedScreen) -> bool:
        return await self._show(screen, speech="")

    async def announce(self, notice: GateNotice) -> bool:
        """Show ``notice`` with the templates (defaults when none are configured) and speak it."""
        templates = self.templates or NoticeTemplates()
        speech = templates.speech(notice) if (self.screen_voice or self.voice is not None) else ""
        ok = await self._show(templates.screen(notice), speech=speech if self.screen_voice else "")
        if speech:
            self._speak(speech)
        return ok

    async def clear(self) -> bool:
        """Blank the screen."""
        if self.protocol == "bx":
            ok = await self._send([lp.bx_clear(self.address)])
        else:
            ok = await self._send(lp.lx_show(self.address, LedScreen(()), lines=self.max_lines))
        if ok:
            self.last_shown = LedScreen(())
        return ok

    async def ping(self) -> bool:
        """Check that the screen (or, through a camera, the camera) answers."""
        if isinstance(self.transport, VzRs485Transport):
            try:
                await self.transport.ping()
            except TransportError as exc:
                self._health.fault("no_response", "转发显示屏的相机无应答", str(exc))
                return False
            self._health.ok("相机在线（显示屏经相机转发，无法单独检测）")
            return True
        frame = lp.bx_ping(self.address) if self.protocol == "bx" else lp.lx_frame(self.address, lp.LX_PING)
        return await self._send([frame])

    async def _show(self, screen: LedScreen, *, speech: str) -> bool:
        screen = LedScreen(screen.lines[: self.max_lines])
        if self.protocol == "bx":
            frames = [lp.bx_show(self.address, screen, voice=speech, max_line_bytes=self.max_line_bytes)]
        else:
            frames = lp.lx_show(self.address, screen, lines=self.max_lines)
            if speech:
                frames.append(lp.lx_speak(self.address, speech))
        ok = await self._send(frames)
        if ok:
            self.last_shown = screen
            self.last_spoken = speech or self.last_spoken
        return ok

    def _matcher(self) -> Callable[[bytes], int | None]:
        if self.protocol == "bx":
            bx = lp.BxDecoder()

            def match_bx(chunk: bytes) -> int | None:
                for _dst, src, data in bx.feed(chunk):
                    if src == self.address and data[:2] == b"\xa0\x01" and len(data) > 2:
                        return data[2]
                return None

            return match_bx
        lx = lp.LxDecoder()

        def match_lx(chunk: bytes) -> int | None:
            for address, _cmd, data in lx.feed(chunk):
                if address == self.address and len(data) == 1:
                    return data[0]
            return None

        return match_lx

    async def _send(self, frames: list[bytes]) -> bool:
        async with self._lock:
            for frame in frames:
                try:
                    status = await self.transport.exchange(frame, self._matcher(), self.timeout_s)
                except TransportError as exc:
                    self._health.fault("port_lost", str(exc).split("：", 1)[0], str(exc))
                    return False
                if status is None:
                    self._health.fault("no_response", "LED显示屏无应答")
                    return False
                if status != 0:
                    self._health.fault("rejected", f"LED显示屏拒绝指令（错误码 {status}）")
                    return False
        if self.transport.answers:
            self._health.ok("LED显示屏正常")
        else:
            self._health.ok("相机已转发显示内容")
        return True
