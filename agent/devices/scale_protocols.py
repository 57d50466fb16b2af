"""Weighbridge indicator output formats: stream parsers (with resync) and encoders (used by the simulators).

Three continuous-output formats are understood; docs/devices.md describes each byte.

* ``xk3190_a9``: 耀华 XK3190-A9 continuous frame, 12 bytes
  ``STX sign d d d d d d dp xh xl ETX``; ``sign`` is ``+``/``-``, six ASCII digits (high first),
  ``dp`` the number of decimal places, ``xh xl`` the XOR of bytes 2–9 (sign to ``dp``) as two
  upper-case hex digits. The unit (kg or t) is set on the indicator, so it is a driver setting.
* ``xk3190_a12``: A12-style ASCII lines ``ww012.340t`` / ``wn-00350kg`` ended by CR, LF or CRLF;
  ``ww`` gross, ``wn`` net, optional sign, 1–9 characters of digits with at most one ``.``, unit
  ``kg`` or ``t``. There is no checksum: a line that does not match is counted as corrupt.
* ``toledo``: Mettler Toledo standard continuous output, 18 bytes
  ``STX SWA SWB SWC w×6 t×6 CR CKS``; status words carry the decimal point, sign, motion, net and
  unit; ``CKS`` makes the 7-bit sum of all 18 bytes zero. A 17-byte variant without ``CKS`` is
  accepted when the parser is built with ``checksum=False``.

Every parser keeps counters (good frames, corrupt frames, discarded bytes) so the reader can tell
"garbage on the line" from "no data" and report it in the device health.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

ScaleProtocol = Literal["xk3190_a9", "xk3190_a12", "toledo"]
WeightUnit = Literal["kg", "t"]

SCALE_PROTOCOLS: tuple[ScaleProtocol, ...] = ("xk3190_a9", "xk3190_a12", "toledo")

STX = 0x02
ETX = 0x03
CR = 0x0D
LF = 0x0A

_MAX_BUFFER = 512
_LB_TO_KG = Decimal("0.45359237")
_UNIT_TO_KG: dict[str, Decimal] = {"kg": Decimal(1), "t": Decimal(1000)}


@dataclass(frozen=True, slots=True)
class ScaleFrame:
    """One decoded indicator frame, before the reader stamps it with times."""

    kg: float
    indicator_stable: bool | None = None
    net: bool = False
    overload: bool = False


class ScaleParser(ABC):
    """Incremental decoder of one indicator output format; feed it bytes as they arrive."""

    protocol: ScaleProtocol

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_ok = 0
        self.frames_bad = 0
        self.bytes_discarded = 0

    def feed(self, data: bytes) -> list[ScaleFrame]:
        """Add received bytes and return the frames completed by them (garbage is skipped)."""
        self._buf += data
        frames = self._drain()
        if len(self._buf) > _MAX_BUFFER:  # a frame never gets this long: drop the stale head
            cut = len(self._buf) - _MAX_BUFFER
            self.bytes_discarded += cut
            del self._buf[:cut]
        return frames

    def reset(self) -> None:
        """Forget buffered bytes (after a reconnect)."""
        self._buf.clear()

    @abstractmethod
    def _drain(self) -> list[ScaleFrame]: ...


def _to_kg(value: Decimal, unit: WeightUnit) -> float:
    return float(value * _UNIT_TO_KG[unit])


def _xor(data: bytes | bytearray) -> int:
    acc = 0
    for byte in data:
        acc ^= byte
    return acc


class Xk3190A9Parser(ScaleParser):
    """耀华 XK3190-A9 continuous output (12-byte frames, XOR checksum)."""

    protocol: ScaleProtocol = "xk3190_a9"
    FRAME_LEN = 12

    def __init__(self, unit: WeightUnit = "kg") -> None:
        super().__init__()
        self.unit: WeightUnit = unit

    def _drain(self) -> list[ScaleFrame]:
        out: list[ScaleFrame] = []
        buf = self._buf
        while True:
            start = buf.find(STX)
            if start < 0:
                self.bytes_discarded += len(buf)
                buf.clear()
                return out
            if start:
                self.bytes_discarded += start
                del buf[:start]
            if len(buf) < self.FRAME_LEN:
                return out
            frame = self._decode(bytes(buf[: self.FRAME_LEN]))
            if frame is None:
                self.bytes_discarded += 1
                del buf[:1]
                continue
            del buf[: self.FRAME_LEN]
            out.append(frame)

    def _decode(self, raw: bytes) -> ScaleFrame | None:
        body = raw[1:9]
        shaped = raw[11] == ETX and raw[1:2] in {b"+", b"-"} and raw[2:9].isdigit()
        if not shaped:
            return None
        if raw[9:11] != f"{_xor(body):02X}".encode():
            self.frames_bad += 1
            return None
        dp = raw[8] - 0x30
        value = Decimal(int(raw[2:8])).scaleb(-dp)
        if raw[1:2] == b"-":
            value = -value
        self.frames_ok += 1
        return ScaleFrame(kg=_to_kg(value, self.unit))


def encode_xk3190_a9(kg: float, *, decimals: int = 0, unit: WeightUnit = "kg") -> bytes:
    """Encode a weight as an XK3190-A9 continuous frame (what the indicator would send)."""
    value = Decimal(str(kg)) / _UNIT_TO_KG[unit]
    scaled = int(abs(value).scaleb(decimals).to_integral_value())
    if scaled > 999_999 or not 0 <= decimals <= 9:
        raise ValueError(f"重量 {kg} kg 超出 XK3190-A9 帧的表示范围")
    body = (b"-" if value < 0 else b"+") + f"{scaled:06d}{decimals}".encode()
    return bytes([STX]) + body + f"{_xor(body):02X}".encode() + bytes([ETX])


_A12_LINE = re.compile(rb"w([wn])([+-]?)(\d{1,9}|\d{0,8}\.\d{1,8})(kg|t)", re.IGNORECASE)
_A12_MAX_LINE = 32


class Xk3190A12Parser(ScaleParser):
    """A12-style ASCII lines such as ``ww012.340t`` (gross) or ``wn00350kg`` (net)."""

    protocol: ScaleProtocol = "xk3190_a12"

    def _drain(self) -> list[ScaleFrame]:
        out: list[ScaleFrame] = []
        buf = self._buf
        while True:
            ends = [i for i in (buf.find(CR), buf.find(LF)) if i >= 0]
            if not ends:
                if len(buf) > _A12_MAX_LINE:  # no terminator in sight: keep only a possible line start
                    keep = max(buf.rfind(b"w"), len(buf) - 2)
                    self.bytes_discarded += keep
                    del buf[:keep]
                return out
            end = min(ends)
            line = bytes(buf[:end])
            del buf[: end + 1]
            if line:
                frame = self._decode(line)
                if frame is not None:
                    out.append(frame)

    def _decode(self, line: bytes) -> ScaleFrame | None:
        start = max(line.rfind(b"ww"), line.rfind(b"wn"), line.rfind(b"WW"), line.rfind(b"WN"))
        if start < 0:
            self.bytes_discarded += len(line)
            return None
        self.bytes_discarded += start
        match = _A12_LINE.fullmatch(line[start:])
        if match is None or len(line) - start > _A12_MAX_LINE:
            self.frames_bad += 1
            return None
        kind, sign, number, unit = match.groups()
        value = Decimal(number.decode())
        if sign == b"-":
            value = -value
        self.frames_ok += 1
        return ScaleFrame(kg=_to_kg(value, "t" if unit.lower() == b"t" else "kg"), net=kind.lower() == b"n")


def encode_xk3190_a12(kg: float, *, decimals: int = 0, unit: WeightUnit = "kg", net: bool = False) -> bytes:
    """Encode a weight as an A12-style line with a 7-character number field, e.g. ``ww032.140t\\r\\n``."""
    value = Decimal(str(kg)) / _UNIT_TO_KG[unit]
    number = f"{abs(value):07.{decimals}f}"
    sign = "-" if value < 0 else ""
    return f"w{'n' if net else 'w'}{sign}{number}{unit}\r\n".encode()


_TOLEDO_SCALE = {0: 2, 1: 1, 2: 0, 3: -1, 4: -2, 5: -3, 6: -4, 7: -5}  # SWA bits 0-2 → power of ten
_TOLEDO_BIT5 = 0x20
_TOLEDO_BIT6 = 0x40


def _toledo_status_ok(byte: int) -> bool:
    return (byte & _TOLEDO_BIT5) != 0 and (byte & _TOLEDO_BIT6) == 0


def _toledo_digits(raw: bytes) -> int | None:
    text = raw.replace(b" ", b"0")
    return int(text) if text.isdigit() else None


class ToledoContinuousParser(ScaleParser):
    """Mettler Toledo standard continuous output (status words A/B/C, weight, tare, CR, checksum)."""

    protocol: ScaleProtocol = "toledo"

    def __init__(self, *, checksum: bool = True) -> None:
        super().__init__()
        self.checksum = checksum
        self.frame_len = 18 if checksum else 17

    def _drain(self) -> list[ScaleFrame]:
        out: list[ScaleFrame] = []
        buf = self._buf
        while True:
            start = buf.find(STX)
            if start < 0:
                self.bytes_discarded += len(buf)
                buf.clear()
                return out
            if start:
                self.bytes_discarded += start
                del buf[:start]
            if len(buf) < self.frame_len:
                return out
            frame = self._decode(bytes(buf[: self.frame_len]))
            if frame is None:
                self.bytes_discarded += 1
                del buf[:1]
                continue
            del buf[: self.frame_len]
            out.append(frame)

    def _decode(self, raw: bytes) -> ScaleFrame | None:
        swa, swb, swc = raw[1], raw[2], raw[3]
        weight = _toledo_digits(raw[4:10])
        tare = _toledo_digits(raw[10:16])
        shaped = raw[16] == CR and all(map(_toledo_status_ok, (swa, swb, swc)))
        if not shaped or weight is None or tare is None:
            return None
        if self.checksum and sum(raw) & 0x7F:
            self.frames_bad += 1
            return None
        value = Decimal(weight).scaleb(_TOLEDO_SCALE[swa & 0x07])
        if swb & 0x02:
            value = -value
        if swc & 0x07 == 0x02:  # metric tons selected
            kg = _to_kg(value, "t")
        elif swb & 0x10:
            kg = float(value)
        else:
            kg = float(value * _LB_TO_KG)
        self.frames_ok += 1
        return ScaleFrame(kg=kg, indicator_stable=not swb & 0x08, net=bool(swb & 0x01), overload=bool(swb & 0x04))


def encode_toledo(
    kg: float,
    *,
    decimals: int = 0,
    motion: bool = False,
    net: bool = False,
    tare_kg: float = 0,
    checksum: bool = True,
) -> bytes:
    """Encode a weight (in kg) as a Toledo standard continuous frame."""
    code = {0: 2, 1: 3, 2: 4, 3: 5}[decimals]
    scaled = int(abs(Decimal(str(kg))).scaleb(decimals).to_integral_value())
    tare = int(abs(Decimal(str(tare_kg))).scaleb(decimals).to_integral_value())
    if scaled > 999_999 or tare > 999_999:
        raise ValueError(f"重量 {kg} kg 超出托利多连续输出的表示范围")
    swa = 0x20 | 0x08 | code  # count by 1
    swb = 0x20 | 0x10 | (0x01 if net else 0) | (0x02 if kg < 0 else 0) | (0x08 if motion else 0)
    swc = 0x20
    frame = bytes([STX, swa, swb, swc]) + f"{scaled:06d}{tare:06d}".encode() + bytes([CR])
    if checksum:
        frame += bytes([(-sum(frame)) & 0x7F])
    return frame


def make_parser(protocol: ScaleProtocol, *, unit: WeightUnit = "kg", checksum: bool = True) -> ScaleParser:
    """Build the parser for ``protocol`` (``unit`` applies to XK3190-A9, ``checksum`` to Toledo)."""
    if protocol == "xk3190_a9":
        return Xk3190A9Parser(unit)
    if protocol == "xk3190_a12":
        return Xk3190A12Parser()
    return ToledoContinuousParser(checksum=checksum)


def encode_frame(
    protocol: ScaleProtocol,
    kg: float,
    *,
    decimals: int = 0,
    unit: WeightUnit = "kg",
    motion: bool = False,
) -> bytes:
    """Encode ``kg`` in ``protocol`` (the indicator side, used by the simulators and tests)."""
    if protocol == "xk3190_a9":
        return encode_xk3190_a9(kg, decimals=decimals, unit=unit)
    if protocol == "xk3190_a12":
        return encode_xk3190_a12(kg, decimals=decimals, unit=unit)
    return encode_toledo(kg, decimals=decimals, motion=motion)
