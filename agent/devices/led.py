"""LED gate screen: the EG-LED/1 serial text protocol and its driver.

Frame (both directions)::

    STX  addr  cmd  len   payload  cs   ETX
    0x02 2 hex 1 ch 4 hex len B    2 hex 0x03

* ``addr``: screen address 00–FF as two upper-case hex digits (several screens may share a bus);
* ``cmd``: ``S`` show lines, ``C`` clear, ``P`` ping; replies are ``A`` (accepted) or ``N``
  (rejected, payload = ASCII reason ``CS``, ``LEN`` or ``CMD``);
* ``len``: payload length in bytes, four upper-case hex digits;
* ``payload`` of ``S``: lines separated by CR (0x0D); each line is one colour letter
  (``R`` red, ``G`` green, ``Y`` yellow, ``W`` white) followed by the text in GBK (default) or UTF-8;
* ``cs``: sum of the bytes from ``addr`` to the end of ``payload``, modulo 256, two hex digits.

A screen answers every valid frame addressed to it within 0.5 s; frames with a bad checksum
get ``N`` (``CS``) when their address is readable, otherwise silence.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from agent.devices.health import HealthReporting, HealthTracker
from agent.devices.notice import GateNotice, NoticeTemplates, lane_screen
from agent.devices.serial_link import LinkError, SerialLink, SerialSettings
from agent.devices.tasks import cancel_and_wait
from agent.devices.types import LedColour, LedLine, LedScreen
from agent.devices.voice import EspeakVoice

_log = structlog.get_logger("agent.devices.led")

STX = 0x02
ETX = 0x03
LINE_SEPARATOR = b"\r"
MAX_PAYLOAD = 0xFFFF
LedEncoding = Literal["gbk", "utf-8"]

_COLOUR_CODE = {LedColour.RED: "R", LedColour.GREEN: "G", LedColour.YELLOW: "Y", LedColour.WHITE: "W"}
_CODE_COLOUR = {code.encode(): colour for colour, code in _COLOUR_CODE.items()}
_HEADER = 8  # STX + addr(2) + cmd + len(4)


@dataclass(frozen=True, slots=True)
class LedFrame:
    """One EG-LED/1 frame."""

    address: int
    command: str
    payload: bytes = b""


def encode_led_frame(frame: LedFrame) -> bytes:
    """Serialise a frame."""
    if len(frame.payload) > MAX_PAYLOAD or not 0 <= frame.address <= 0xFF or len(frame.command) != 1:
        raise ValueError("LED 帧字段超出范围")
    body = f"{frame.address:02X}{frame.command}{len(frame.payload):04X}".encode("ascii") + frame.payload
    return bytes([STX]) + body + f"{sum(body) & 0xFF:02X}".encode("ascii") + bytes([ETX])


def _sanitise(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())


def encode_screen(screen: LedScreen, encoding: LedEncoding = "gbk", max_line_bytes: int = 64) -> bytes:
    """The payload of an ``S`` frame; characters the encoding lacks become ``?``, long lines are cut."""
    parts = []
    for line in screen.lines:
        text = _sanitise(line.text).encode(encoding, errors="replace")[:max_line_bytes]
        text = text.decode(encoding, errors="ignore").encode(encoding)  # never cut a character in half
        parts.append(_COLOUR_CODE[line.colour].encode("ascii") + text)
    return LINE_SEPARATOR.join(parts)


def decode_screen(payload: bytes, encoding: LedEncoding = "gbk") -> LedScreen:
    """Parse an ``S`` payload back into lines (used by the simulator)."""
    if not payload:
        return LedScreen(())
    lines = []
    for part in payload.split(LINE_SEPARATOR):
        colour = _CODE_COLOUR.get(part[:1])
        if colour is None:
            raise ValueError(f"未知颜色代码 {part[:1]!r}")
        lines.append(LedLine(part[1:].decode(encoding), colour))
    return LedScreen(tuple(lines))


class LedFrameDecoder:
    """Incremental decoder with resync: garbage and frames with bad checksums are skipped and counted."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_bad = 0
        self.bad_addresses: list[int] = []

    def feed(self, data: bytes) -> list[LedFrame]:
        """Add bytes; return complete valid frames."""
        buf = self._buf
        buf += data
        out: list[LedFrame] = []
        while True:
            start = buf.find(STX)
            if start < 0:
                buf.clear()
                return out
            del buf[:start]
            if len(buf) < _HEADER:
                return out
            try:
                head = bytes(buf[1:_HEADER]).decode("ascii")
                address, command, length = int(head[0:2], 16), head[2], int(head[3:7], 16)
            except (UnicodeDecodeError, ValueError):
                del buf[:1]
                continue
            end = _HEADER + length + 3
            if len(buf) < end:
                if len(buf) > _HEADER + MAX_PAYLOAD + 3:
                    del buf[:1]
                    continue
                return out
            frame = bytes(buf[:end])
            if frame[-1] != ETX:
                del buf[:1]
                continue
            body = frame[1 : _HEADER + length]
            if frame[-3:-1] != f"{sum(body) & 0xFF:02X}".encode("ascii"):
                self.frames_bad += 1
                self.bad_addresses.append(address)
                del buf[:1]
                continue
            del buf[:end]
            out.append(LedFrame(address, command, frame[_HEADER : _HEADER + length]))


def gate_screen(plate: str, emission_stage: str, allowed: bool, text: str | None = None) -> LedScreen:
    """The usual lane screen: plate, emission stage, decision (green to pass, red when refused).

    Example: ``gate_screen("鄂A12345", "国六", True)`` shows 鄂A12345 / 国六 / 欢迎光临 请通行.
    """
    decision = text or ("欢迎光临 请通行" if allowed else "禁止通行")
    colour = LedColour.GREEN if allowed else LedColour.RED
    return LedScreen((LedLine(plate, LedColour.YELLOW), LedLine(emission_stage, colour), LedLine(decision, colour)))


class LedDisplayBase(HealthReporting, ABC):
    """What every gate-screen driver shares: health, the keep-alive ping that keeps :attr:`health` current
    while nothing is shown, the lane's pass screen re-worded by ``templates`` (:meth:`show` →
    :meth:`announce`), the spoken prompt on the agent's speaker (``voice``), and a stop that lets a
    prompt finish before the line is closed. Subclasses move the frames."""

    kind = "led"
    #: The logger of the keep-alive's own errors (each family's module).
    _events_log: Any = _log

    def __init__(
        self,
        *,
        name: str,
        keepalive_s: float,
        templates: NoticeTemplates | None,
        voice: EspeakVoice | None,
    ) -> None:
        self.name = name
        #: Issue 23: re-word the lane's pass screen (and speak it on ``voice``); None = lines as given.
        self.templates = templates
        self.voice = voice
        self.keepalive_s = keepalive_s
        self._health = HealthTracker(name, self.kind)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._speaking: set[asyncio.Task[bool]] = set()  # strong references until each prompt is done
        self.last_shown: LedScreen | None = None

    async def start(self) -> None:
        """Start the keep-alive ping that keeps :attr:`health` current while nothing is shown."""
        if self._task is None:
            self._task = asyncio.create_task(self._keepalive(), name=f"led-{self.name}")

    async def stop(self) -> None:
        """Stop the keep-alive, let a prompt finish, close the line."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._speaking:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*self._speaking, return_exceptions=True), 5.0)
        await self._close()
        self._health.stopped()

    async def show(self, screen: LedScreen | list[LedLine]) -> bool:
        """Show up to ``max_lines`` lines; True when the screen accepted them.

        With ``templates``, the lane's pass screen is re-worded and spoken (:meth:`announce`)."""
        if not isinstance(screen, LedScreen):
            screen = LedScreen(tuple(screen))
        notice = GateNotice.from_lane_screen(screen) if self.templates is not None else None
        if notice is not None:
            return await self.announce(notice)
        return await self._show_lines(screen)

    def _speak(self, text: str) -> None:
        """Say ``text`` on the agent's speaker in the background (nothing without ``voice``)."""
        if self.voice is None:
            return
        task = asyncio.create_task(self.voice.say(text), name=f"voice-{self.name}")
        self._speaking.add(task)
        task.add_done_callback(self._speaking.discard)

    async def _keepalive(self) -> None:
        await self._watch(
            self.ping, lambda: self.keepalive_s, self._events_log, "led.keepalive_error", "LED显示屏程序异常，正在重试"
        )

    @abstractmethod
    async def announce(self, notice: GateNotice) -> bool:
        """Show ``notice`` and speak it."""

    @abstractmethod
    async def ping(self) -> bool:
        """Check that the screen answers."""

    @abstractmethod
    async def _show_lines(self, screen: LedScreen) -> bool:
        """Show the lines as given (no templates)."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the line."""


class SerialLedDisplay(LedDisplayBase):
    """An EG-LED/1 screen on a serial port or serial server; failures are health states, never exceptions."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "led",
        address: int = 1,
        encoding: LedEncoding = "gbk",
        serial: SerialSettings | None = None,
        max_lines: int = 4,
        max_line_bytes: int = 64,
        timeout_s: float = 0.5,
        keepalive_s: float = 5.0,
        templates: NoticeTemplates | None = None,
        voice: EspeakVoice | None = None,
    ) -> None:
        super().__init__(name=name, keepalive_s=keepalive_s, templates=templates, voice=voice)
        self.url = url
        self.address = address
        self.encoding: LedEncoding = encoding
        self.max_lines = max_lines
        self.max_line_bytes = max_line_bytes
        self.timeout_s = timeout_s
        self._link = SerialLink(url, serial, read_timeout=0.05, name=name)

    async def _close(self) -> None:
        await self._link.shutdown()

    async def _show_lines(self, screen: LedScreen) -> bool:
        screen = LedScreen(screen.lines[: self.max_lines])
        payload = encode_screen(screen, self.encoding, self.max_line_bytes)
        ok = await self._transact(LedFrame(self.address, "S", payload))
        if ok:
            self.last_shown = screen
        return ok

    async def announce(self, notice: GateNotice) -> bool:
        """Show ``notice`` with the templates, or without them the lane's classic four lines (the EG-LED/1
        screen keeps them unless ``templates`` are configured); speak it on ``voice``."""
        templates = self.templates or NoticeTemplates()
        shown = templates.screen(notice) if self.templates is not None else lane_screen(notice)
        screen = LedScreen(shown.lines[: self.max_lines])
        ok = await self._transact(
            LedFrame(self.address, "S", encode_screen(screen, self.encoding, self.max_line_bytes))
        )
        if ok:
            self.last_shown = screen
        if self.voice is not None:
            self._speak(templates.speech(notice))
        return ok

    async def clear(self) -> bool:
        """Blank the screen; True when accepted."""
        ok = await self._transact(LedFrame(self.address, "C"))
        if ok:
            self.last_shown = LedScreen(())
        return ok

    async def ping(self) -> bool:
        """Check that the screen answers."""
        return await self._transact(LedFrame(self.address, "P"))

    async def _transact(self, frame: LedFrame) -> bool:
        async with self._lock:
            try:
                if not self._link.is_open:
                    await self._link.open()
                await self._link.reset_input()
                await self._link.write(encode_led_frame(frame))
                reply = await self._await_reply()
            except LinkError as exc:
                self._health.fault("port_lost", f"LED显示屏串口 {self.url} 不可用", str(exc))
                return False
        if reply is None:
            self._health.fault("no_response", "LED显示屏无响应")
            return False
        if reply.command != "A":
            reason = reply.payload.decode("ascii", errors="replace")
            self._health.fault("rejected", f"LED显示屏拒绝指令（{reason}）")
            return False
        self._health.ok("LED显示屏正常")
        return True

    async def _await_reply(self) -> LedFrame | None:
        decoder = LedFrameDecoder()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while loop.time() < deadline:
            for frame in decoder.feed(await self._link.read()):
                if frame.address == self.address and frame.command in {"A", "N"}:
                    return frame
        return None
