"""Check-digit identifiers: VIN (GB 16735 / ISO 3779), 统一社会信用代码 (GB 32100), HJ 608 source code.

Each ``parse_*`` returns the canonical spelling (NFKC, trimmed, upper case) or raises
:class:`~hj1321.errors.InvalidValueError` with a machine code (``vin.check_digit``…) and a Chinese
reason; each ``is_valid_*`` is the boolean form. Algorithms: REGULATION.md §3.8 [C] and §3.9
([C] for HJ 608's layout, [I] for the USCC check character, checked in tests against published codes).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from hj1321.errors import InvalidValueError

# --- VIN ------------------------------------------------------------------------------------

VIN_LENGTH: Final = 17
#: Characters a VIN may contain: digits and Latin letters except I, O and Q.
VIN_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
#: Transliteration of letters to values (§3.8); digits are their own value.
_VIN_VALUES: Final[dict[str, int]] = {
    **{d: int(d) for d in "0123456789"},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
#: Weights by position 1–17; position 9 (the check digit) weighs 0.
VIN_WEIGHTS: Final = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_CHECK_POSITION: Final = 8  # zero-based index of position 9


def _text(raw: object, field: str, title: str) -> str:
    if not isinstance(raw, str):
        raise InvalidValueError(f"{field}.type", f"{title}应为文本", raw)
    return "".join(unicodedata.normalize("NFKC", raw).split()).upper()


def vin_value(char: str) -> int:
    """The transliterated value of one VIN character (``A`` → 1, ``7`` → 7).

    Raises:
        InvalidValueError: ``vin.character`` when the character cannot appear in a VIN.
    """
    try:
        return _VIN_VALUES[char]
    except KeyError:
        raise InvalidValueError("vin.character", f"车辆识别代号不能含有字符“{char}”", char) from None


def vin_check_digit(vin: str) -> str:
    """Compute the check character (``0``–``9`` or ``X``) of a 17-character VIN.

    The character at position 9 is ignored (its weight is 0), so a VIN with a placeholder there
    works too. The input is normalised like :func:`parse_vin`.

    Raises:
        InvalidValueError: ``vin.length`` or ``vin.character`` when ``vin`` is not 17 VIN characters.
    """
    text = _text(vin, "vin", "车辆识别代号")
    if len(text) != VIN_LENGTH:
        raise InvalidValueError("vin.length", f"车辆识别代号应为 17 位，实际 {len(text)} 位", vin)
    total = sum(
        vin_value(c) * w for i, (c, w) in enumerate(zip(text, VIN_WEIGHTS, strict=True)) if i != _VIN_CHECK_POSITION
    )
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def parse_vin(raw: object) -> str:
    """Validate a VIN and return it canonical (upper case, no spaces).

    Checks, in order: non-empty, 17 characters, no I/O/Q or other foreign characters, and the
    check digit at position 9 (mandatory in China, §3.8).

    Raises:
        InvalidValueError: ``vin.type``, ``vin.empty``, ``vin.length``, ``vin.character`` or ``vin.check_digit``.
    """
    text = _text(raw, "vin", "车辆识别代号")
    if not text:
        raise InvalidValueError("vin.empty", "车辆识别代号为空", raw)
    if len(text) != VIN_LENGTH:
        raise InvalidValueError("vin.length", f"车辆识别代号应为 17 位，实际 {len(text)} 位", raw)
    for char in text:
        if char in "IOQ":
            raise InvalidValueError("vin.character", f"车辆识别代号不得含有字母 I、O、Q（发现“{char}”）", raw)
        if char not in _VIN_VALUES:
            raise InvalidValueError("vin.character", f"车辆识别代号含有非法字符“{char}”", raw)
    expected = vin_check_digit(text)
    if text[_VIN_CHECK_POSITION] != expected:
        raise InvalidValueError(
            "vin.check_digit",
            f"车辆识别代号校验位错误：第 9 位应为“{expected}”，实际为“{text[_VIN_CHECK_POSITION]}”",
            raw,
        )
    return text


def is_valid_vin(raw: object) -> bool:
    """Tell whether :func:`parse_vin` accepts ``raw``."""
    try:
        parse_vin(raw)
    except InvalidValueError:
        return False
    return True


# --- 统一社会信用代码 (GB 32100) --------------------------------------------------------------

USCC_LENGTH: Final = 18
#: The 31 symbols of GB 32100 (no I, O, S, V, Z); a symbol's value is its index.
USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: Weights of positions 1–17: 3**i mod 31.
USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUES: Final = {c: i for i, c in enumerate(USCC_ALPHABET)}


def uscc_check_char(code: str) -> str:
    """Compute the check character (position 18) from the first 17 characters of a USCC.

    ``code`` may be 17 or 18 characters long; an 18th character is ignored.

    Raises:
        InvalidValueError: ``uscc.length`` or ``uscc.character``.
    """
    text = _text(code, "uscc", "统一社会信用代码")
    if len(text) not in {USCC_LENGTH - 1, USCC_LENGTH}:
        raise InvalidValueError("uscc.length", f"统一社会信用代码应为 18 位，实际 {len(text)} 位", code)
    total = 0
    for char, weight in zip(text[:17], USCC_WEIGHTS, strict=True):
        value = _USCC_VALUES.get(char)
        if value is None:
            raise InvalidValueError("uscc.character", f"统一社会信用代码含有非法字符“{char}”", code)
        total += value * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def parse_uscc(raw: object) -> str:
    """Validate a 统一社会信用代码 and return it canonical (upper case, no spaces).

    Checks: 18 characters from the GB 32100 alphabet, positions 3–8 (the registering
    authority's GB/T 2260 region code) are digits, and the check character at position 18.

    Raises:
        InvalidValueError: ``uscc.type``, ``uscc.empty``, ``uscc.length``, ``uscc.character``,
            ``uscc.region`` or ``uscc.check_char``.
    """
    text = _text(raw, "uscc", "统一社会信用代码")
    if not text:
        raise InvalidValueError("uscc.empty", "统一社会信用代码为空", raw)
    if len(text) != USCC_LENGTH:
        raise InvalidValueError("uscc.length", f"统一社会信用代码应为 18 位，实际 {len(text)} 位", raw)
    for char in text:
        if char not in _USCC_VALUES:
            raise InvalidValueError("uscc.character", f"统一社会信用代码含有非法字符“{char}”", raw)
    if not text[2:8].isdigit():
        raise InvalidValueError("uscc.region", "统一社会信用代码第 3–8 位应为行政区划代码（数字）", raw)
    expected = uscc_check_char(text)
    if text[17] != expected:
        raise InvalidValueError(
            "uscc.check_char", f"统一社会信用代码校验码错误：第 18 位应为“{expected}”，实际为“{text[17]}”", raw
        )
    return text


def is_valid_uscc(raw: object) -> bool:
    """Tell whether :func:`parse_uscc` accepts ``raw``."""
    try:
        parse_uscc(raw)
    except InvalidValueError:
        return False
    return True


# --- HJ 608-2017 排污单位编码 -----------------------------------------------------------------

_SOURCE_CODE = re.compile(r"(?P<uscc>.{18})(?P<serial>[0-9]{3})P(?:(?P<outlet>D[AW][0-9]{3}))?")


@dataclass(frozen=True, slots=True)
class PollutantSourceCode:
    """An HJ 608-2017 code: USCC + 3-digit serial + ``P`` (22 chars), optionally + an outlet (``DA001``)."""

    uscc: str
    serial: str
    outlet: str | None = None

    @property
    def code(self) -> str:
        """The full canonical code, e.g. ``91130200699229617X001P`` or ``…001PDA001``."""
        return f"{self.uscc}{self.serial}P{self.outlet or ''}"

    @property
    def unit_code(self) -> str:
        """The 22-character unit code, without the outlet."""
        return f"{self.uscc}{self.serial}P"

    @property
    def outlet_medium(self) -> str | None:
        """``废气`` (A) or ``废水`` (W) for an outlet code, else None."""
        if self.outlet is None:
            return None
        return "废气" if self.outlet[1] == "A" else "废水"


def parse_pollutant_source_code(raw: object) -> PollutantSourceCode:
    """Validate an HJ 608 排污单位编码 (22 chars) or outlet code (27 chars, ``…PDA001``/``…PDW001``).

    The embedded USCC must pass :func:`parse_uscc` (check character included).

    Raises:
        InvalidValueError: ``source_code.type``/``.empty``/``.length``/``.format``, or the
            ``uscc.*`` error of the embedded credit code.
    """
    text = _text(raw, "source_code", "排污单位编码")
    if not text:
        raise InvalidValueError("source_code.empty", "排污单位编码为空", raw)
    if len(text) not in {22, 27}:
        raise InvalidValueError(
            "source_code.length", f"排污单位编码应为 22 位（排污口编码 27 位），实际 {len(text)} 位", raw
        )
    match = _SOURCE_CODE.fullmatch(text)
    if match is None:
        raise InvalidValueError(
            "source_code.format",
            "排污单位编码应为 18 位统一社会信用代码 + 3 位数字顺序码 + “P”（排污口再加 DA/DW + 3 位数字）",
            raw,
        )
    return PollutantSourceCode(parse_uscc(match["uscc"]), match["serial"], match["outlet"])


def is_valid_pollutant_source_code(raw: object) -> bool:
    """Tell whether :func:`parse_pollutant_source_code` accepts ``raw``."""
    try:
        parse_pollutant_source_code(raw)
    except InvalidValueError:
        return False
    return True
