"""Frames of the common Chinese gate-screen families (issue 23): 仰邦 BX-style and 灵信-style.

Both directions of both families are here (the driver encodes commands and decodes answers, the
simulators the reverse). Sources and every assumption are listed in docs/devices.md, "LED families";
the layouts were reconstructed from the vendors' public protocol documents named there and have not
been checked against a controller: capture one frame from the vendor's own tool before a site goes
live and compare.

**BX** (仰邦 BX-5/BX-6 controllers, serial or TCP 5005) — one dynamic text area per screen::

    A5 ×8 (wake-up/start) | escaped packet | 5A (end)
    packet = dst(2 LE) src(2 LE, 0x8000) reserved(3) option(1) check(1, 0=CRC16) display(1)
             device_type(1, 0xFE) version(1, 0x02) data_len(2 LE) data crc16(2 LE, CRC-16/ARC over dst..data)
    escape: A5→A6 02, A6→A6 01, 5A→5B 02, 5B→5B 01

* data of "dynamic area text" ``A3 06``: ``A3 06 01(ack wanted) 00 00 area_id(1) lines(1) stay_s(1)
  sound(1) text_len(4 LE) text`` — the text in GB2312/GBK, lines separated by CR LF, each line led by
  a colour escape ``\\C1`` red, ``\\C2`` green, ``\\C3`` yellow, ``\\C7`` white; ``sound = 1`` makes a
  voice-equipped controller read the text aloud (then ``voice_len(4 LE) voice`` follows the text);
* ``A3 07 01 00 00 area_id`` clears the area; ``A1 00 01 00 00`` asks for the controller status (ping);
* answer: ``A0 01 <status>`` — ``00`` accepted, anything else an error code.

**灵信-style** (the RS-485 protocol of the "语音显示一体屏" many lane screens speak)::

    DA(1, address) VR(1, 0x64) PN(2, FF FF) CMD(1) DL(1) DATA(DL) CRC(2, CRC-16/MODBUS LE over DA..DATA)

* ``0x62`` temporary text on one line: ``TWID(line) ETM ETS DM DT EXM EXS FINDEX DRS TC(4 RGBA)
  BC(4) TL(2 LE) TEXT`` (GBK);
* ``0x21`` clear a line (``TWID``), ``0x30`` speak (``OPT=01`` + GBK text), ``0x0F`` query (ping);
* answer: same header, ``CMD`` echoed, ``DL = 1``, ``DATA = 00`` accepted, else an error code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from agent.devices.types import LedColour, LedLine, LedScreen

ENCODING: Final = "gbk"


def crc16(data: bytes, *, init: int) -> int:
    """CRC-16 with the reflected polynomial 0xA001 (init 0: CRC-16/ARC, init 0xFFFF: CRC-16/MODBUS)."""
    crc = init
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _text(text: str, max_bytes: int) -> bytes:
    clean = "".join(ch for ch in text if ch.isprintable())
    data = clean.encode(ENCODING, errors="replace")[:max_bytes]
    return data.decode(ENCODING, errors="ignore").encode(ENCODING)  # never half a character


@dataclass(frozen=True, slots=True)
class LedCommand:
    """A decoded command (what a screen received)."""

    kind: str  # "show" | "clear" | "speak" | "ping"
    address: int
    screen: LedScreen | None = None
    line: int = 0
    text: str = ""


# --- BX -----------------------------------------------------------------------------------------

BX_WAKE: Final = b"\xa5" * 8
BX_END: Final = 0x5A
_BX_ESC: Final = {0xA5: b"\xa6\x02", 0xA6: b"\xa6\x01", 0x5A: b"\x5b\x02", 0x5B: b"\x5b\x01"}
_BX_UNESC: Final = {(0xA6, 0x02): 0xA5, (0xA6, 0x01): 0xA6, (0x5B, 0x02): 0x5A, (0x5B, 0x01): 0x5B}
_BX_COLOUR: Final = {LedColour.RED: "\\C1", LedColour.GREEN: "\\C2", LedColour.YELLOW: "\\C3", LedColour.WHITE: "\\C7"}
_BX_HEAD = struct.Struct("<HH3sBBBBBH")
BX_SRC: Final = 0x8000


def _bx_escape(packet: bytes) -> bytes:
    return b"".join(_BX_ESC.get(b, bytes([b])) for b in packet)


def _bx_unescape(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        pair = (raw[i], raw[i + 1]) if i + 1 < len(raw) else None
        if pair in _BX_UNESC:
            out.append(_BX_UNESC[pair])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def bx_frame(address: int, data: bytes, *, src: int = BX_SRC) -> bytes:
    """A whole BX frame (wake-up, escaped packet, end)."""
    packet = _BX_HEAD.pack(address, src, b"\0\0\0", 0, 0, 0, 0xFE, 0x02, len(data)) + data
    packet += struct.pack("<H", crc16(packet, init=0))
    return BX_WAKE + _bx_escape(packet) + bytes([BX_END])


def bx_show(address: int, screen: LedScreen, *, voice: str = "", area: int = 0, max_line_bytes: int = 64) -> bytes:
    """Dynamic-area text (and, with ``voice``, the sentence a voice controller reads aloud)."""
    text = b"\r\n".join(_BX_COLOUR[ln.colour].encode() + _text(ln.text, max_line_bytes) for ln in screen.lines)
    data = bytes([0xA3, 0x06, 0x01, 0, 0, area, len(screen.lines), 0, 1 if voice else 0])
    data += struct.pack("<I", len(text)) + text
    if voice:
        spoken = _text(voice, 1024)
        data += struct.pack("<I", len(spoken)) + spoken
    return bx_frame(address, data)


def bx_clear(address: int, *, area: int = 0) -> bytes:
    """Blank the dynamic area."""
    return bx_frame(address, bytes([0xA3, 0x07, 0x01, 0, 0, area]))


def bx_ping(address: int) -> bytes:
    """Ask the controller for its status."""
    return bx_frame(address, bytes([0xA1, 0x00, 0x01, 0, 0]))


def bx_answer(address: int, status: int = 0) -> bytes:
    """The controller's answer (sent from the controller's address to the PC's)."""
    return bx_frame(BX_SRC, bytes([0xA0, 0x01, status]), src=address)


def _bx_screen(text: bytes) -> LedScreen:
    lines = []
    codes = {v: k for k, v in _BX_COLOUR.items()}
    for part in text.split(b"\r\n") if text else []:
        colour = codes.get(part[:3].decode("ascii", errors="replace"))
        if colour is None:
            raise ValueError(f"BX 颜色转义无效：{part[:3]!r}")
        lines.append(LedLine(part[3:].decode(ENCODING), colour))
    return LedScreen(tuple(lines))


class BxDecoder:
    """Incremental BX frame decoder (either direction): ``feed`` → ``(dst, src, data)`` per valid frame."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_bad = 0

    def feed(self, chunk: bytes) -> list[tuple[int, int, bytes]]:
        """Add bytes; return complete frames with a good CRC (bad ones are counted and skipped)."""
        self._buf += chunk
        out: list[tuple[int, int, bytes]] = []
        while True:
            start = self._buf.find(0xA5)
            if start < 0:
                self._buf.clear()
                return out
            del self._buf[:start]
            end = self._buf.find(BX_END)
            if end < 0:
                if len(self._buf) > 1 << 16:
                    self._buf.clear()
                return out
            raw = bytes(self._buf[:end]).lstrip(b"\xa5")
            del self._buf[: end + 1]
            packet = _bx_unescape(raw)
            if len(packet) < _BX_HEAD.size + 2:
                self.frames_bad += 1
                continue
            dst, src, _r, _o, _c, _d, _t, _v, length = _BX_HEAD.unpack_from(packet)
            body, crc = packet[:-2], struct.unpack("<H", packet[-2:])[0]
            if len(body) != _BX_HEAD.size + length or crc16(body, init=0) != crc:
                self.frames_bad += 1
                continue
            out.append((dst, src, body[_BX_HEAD.size :]))


def bx_command(dst: int, data: bytes) -> LedCommand:
    """A decoded BX command (ValueError when it is not one of ours)."""
    if data[:2] == b"\xa3\x06":
        lines_n, sound = data[6], data[8]
        (length,) = struct.unpack_from("<I", data, 9)
        text = data[13 : 13 + length]
        screen = _bx_screen(text)
        if len(screen.lines) != lines_n:
            raise ValueError("BX 行数与文本不符")
        spoken = ""
        if sound:
            (vlen,) = struct.unpack_from("<I", data, 13 + length)
            spoken = data[17 + length : 17 + length + vlen].decode(ENCODING)
        return LedCommand("show", dst, screen=screen, line=data[5], text=spoken)
    if data[:2] == b"\xa3\x07":
        return LedCommand("clear", dst, line=data[5])
    if data[:2] == b"\xa1\x00":
        return LedCommand("ping", dst)
    raise ValueError(f"未知 BX 命令 {data[:2].hex()}")


# --- 灵信-style (0x64) ------------------------------------------------------------------------------

LX_VR: Final = 0x64
_LX_RGBA: Final = {
    LedColour.RED: b"\xff\x00\x00\x00",
    LedColour.GREEN: b"\x00\xff\x00\x00",
    LedColour.YELLOW: b"\xff\xff\x00\x00",
    LedColour.WHITE: b"\xff\xff\xff\x00",
}
LX_SHOW: Final = 0x62
LX_CLEAR: Final = 0x21
LX_SPEAK: Final = 0x30
LX_PING: Final = 0x0F
LX_MAX_DATA: Final = 255


def lx_frame(address: int, cmd: int, data: bytes = b"") -> bytes:
    """One 灵信-style frame."""
    if len(data) > LX_MAX_DATA:
        raise ValueError("灵信协议单帧数据不能超过 255 字节")
    body = bytes([address, LX_VR, 0xFF, 0xFF, cmd, len(data)]) + data
    return body + struct.pack("<H", crc16(body, init=0xFFFF))


def lx_show_line(address: int, line: int, text: LedLine, *, stay_s: int = 0) -> bytes:
    """Temporary text on ``line`` (stay_s 0: until replaced)."""
    data_text = _text(text.text, LX_MAX_DATA - 21)
    head = bytes([line, 0x15, 0x01, 0x00, stay_s, 0x15, 0x01, 0x03, 0x00])  # appear at once, static, font 16
    data = head + _LX_RGBA[text.colour] + b"\0\0\0\0" + struct.pack("<H", len(data_text)) + data_text
    return lx_frame(address, LX_SHOW, data)


def lx_show(address: int, screen: LedScreen, *, lines: int = 4) -> list[bytes]:
    """One frame per line; lines the screen has but the text does not are cleared."""
    frames = [lx_show_line(address, i, line) for i, line in enumerate(screen.lines[:lines])]
    frames += [lx_frame(address, LX_CLEAR, bytes([i])) for i in range(len(screen.lines), lines)]
    return frames


def lx_speak(address: int, text: str) -> bytes:
    """Have the screen's own voice module say ``text``."""
    return lx_frame(address, LX_SPEAK, b"\x01" + _text(text, LX_MAX_DATA - 1))


def lx_answer(address: int, cmd: int, status: int = 0) -> bytes:
    """The screen's answer."""
    return lx_frame(address, cmd, bytes([status]))


class LxDecoder:
    """Incremental 灵信-style decoder: ``feed`` → ``(address, cmd, data)`` per valid frame."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_bad = 0

    def feed(self, chunk: bytes) -> list[tuple[int, int, bytes]]:
        """Add bytes; return complete frames with a good CRC (resynchronises on garbage)."""
        self._buf += chunk
        out: list[tuple[int, int, bytes]] = []
        while len(self._buf) >= 8:
            if self._buf[1] != LX_VR or self._buf[2:4] != b"\xff\xff":
                del self._buf[:1]
                continue
            end = 6 + self._buf[5] + 2
            if len(self._buf) < end:
                return out
            frame = bytes(self._buf[:end])
            if crc16(frame[:-2], init=0xFFFF) != struct.unpack("<H", frame[-2:])[0]:
                self.frames_bad += 1
                del self._buf[:1]
                continue
            del self._buf[:end]
            out.append((frame[0], frame[4], frame[6:-2]))
        return out


def lx_command(address: int, cmd: int, data: bytes) -> LedCommand:
    """A decoded 灵信-style command (ValueError when it is not one of ours)."""
    if cmd == LX_SHOW:
        colours = {v: k for k, v in _LX_RGBA.items()}
        colour = colours.get(data[9:13])
        if colour is None:
            raise ValueError("灵信协议文字颜色无效")
        (length,) = struct.unpack_from("<H", data, 17)
        text = data[19 : 19 + length].decode(ENCODING)
        return LedCommand("show", address, screen=LedScreen((LedLine(text, colour),)), line=data[0])
    if cmd == LX_CLEAR:
        return LedCommand("clear", address, line=data[0])
    if cmd == LX_SPEAK:
        return LedCommand("speak", address, text=data[1:].decode(ENCODING))
    if cmd == LX_PING:
        return LedCommand("ping", address)
    raise ValueError(f"未知灵信命令 0x{cmd:02X}")
