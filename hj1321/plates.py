"""Licence plates: alphabet, grammar (GA 36-2018 plate kinds), canonical form and colours.

Canonical form (ARCHITECTURE.md "Conventions"): upper case, no separator dot or spaces,
e.g. ``鄂A12345``, ``粤ZP560港``. Colours are the canonical names; camera and platform code
schemes (REGULATION.md §3.1) are mapped at the edges of the system, never stored.

The grammar follows GA 36-2018 《中华人民共和国机动车号牌》 as far as it is known here (the
standard's text was not at hand; section numbers below are from memory and marked [A] where they
are assumptions). Its rule: a valid plate must never be rejected (a gate that cannot store a real
plate is worse than one that accepts an odd string), so sequences are letters *or* digits
wherever the standard's letter limits (e.g. at most two letters in a self-chosen number) vary by
region or year. Kinds (GA 36-2018 §4 "分类" table [A]):

* 大型汽车 (yellow), 小型汽车 (blue), 普通/轻便摩托车, 低速车: 省 + 发牌机关代号 + 5 序号 (ORDINARY).
  The authority letter is a Latin letter without I; ``O`` is used by public-security organs
  (e.g. 粤O·A2160, seen on real photographs) [A]. Old black 外籍/境外 plates keep this layout.
* 挂车 (yellow, ``挂``), 教练汽车/摩托车 (yellow, ``学``), 警用汽车/摩托车 (white, red ``警``),
  领馆汽车/摩托车 (black, ``领``): 省 + 代号 + 4 序号 + suffix.
* 使馆汽车/摩托车 (black): ``使`` + 3-digit mission code + 3-digit sequence.
* 港澳入出境车 (black): ``粤Z`` + 4 序号 + ``港``/``澳``.
* 小型新能源汽车 (gradient green, 8 characters, 2016 amendment, now GA 36-2018 §5 [A]): 省 + 代号 +
  energy letter + letter-or-digit + 4 digits; 大型新能源汽车 (yellow-green): 省 + 代号 + 5 digits +
  energy letter. Energy letters were D (pure electric) and F (other); since 2021 A–K (A B C D E
  pure electric, F G H J K other; I never) [A].
* 应急救援专用号牌 (white, red ``应急``; State Council notice of 2018-12, not GA 36 itself): cars
  省 + team code (X 消防救援, S 森林消防) + 4 序号 + ``应急``, or 省 + 5 序号 + ``应急`` for the
  ministry's own; motorcycles ``应急`` + 省 + 3 序号 + team code. Canonical with both characters.

Not covered (no plate text a gate could store as such): 临时行驶车/临时入境 paper plates,
试验 plates, military (军) and armed-police (WJ) plates, 民航 airside plates, 农机 plates.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hj1321.errors import InvalidValueError

#: The 31 province-level abbreviations that open an ordinary plate.
PROVINCES: Final = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
#: Plate letters: the Latin alphabet without I and O (they would be confused with 1 and 0).
LETTERS: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS: Final = "0123456789"
#: Prefix of embassy plates.
EMBASSY_PREFIX: Final = "使"
#: Suffixes: trailer, coach (driving school), police, Hong Kong, Macau, consulate.
SUFFIXES: Final = "挂学警港澳领"
#: The two-character mark of emergency-rescue plates (after the number on cars, before it on motorcycles).
EMERGENCY_MARK: Final = "应急"
#: Issuing-authority letter (second character): the plate letters plus ``O`` for public-security organs [A].
AUTHORITY_LETTERS: Final = LETTERS + "O"
#: Every character that may appear in a canonical plate (``O`` only as the authority letter).
PLATE_ALPHABET: Final = PROVINCES + LETTERS + DIGITS + EMBASSY_PREFIX + SUFFIXES + EMERGENCY_MARK
#: Letters that mark the energy kind on new-energy plates (D pure electric, F other; A–K since 2021).
NEV_ENERGY_LETTERS: Final = "ABCDEFGHJK"
#: Team codes on emergency-rescue plates: X fire and rescue, S forest fire brigades.
EMERGENCY_TEAMS: Final = "XS"

_SEPARATORS = re.compile(r"[\s·•.\-_・:]+")


class PlateColour(StrEnum):
    """Canonical plate colours (ARCHITECTURE.md)."""

    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"  # small new-energy vehicle, white-to-green gradient
    YELLOW_GREEN = "yellow_green"  # large new-energy vehicle
    WHITE = "white"
    BLACK = "black"
    OTHER = "other"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return _COLOUR_LABELS[self]


_COLOUR_LABELS: Final = {
    PlateColour.BLUE: "蓝色",
    PlateColour.YELLOW: "黄色",
    PlateColour.GREEN: "绿色(渐变绿)",
    PlateColour.YELLOW_GREEN: "黄绿双拼色",
    PlateColour.WHITE: "白色",
    PlateColour.BLACK: "黑色",
    PlateColour.OTHER: "其他",
}


class PlateKind(StrEnum):
    """Grammatical kinds of plates that a gate must read."""

    ORDINARY = "ordinary"
    NEV_SMALL = "nev_small"
    NEV_LARGE = "nev_large"
    TRAILER = "trailer"
    COACH = "coach"
    POLICE = "police"
    EMBASSY = "embassy"
    CONSULATE = "consulate"
    HK_MACAU = "hk_macau"
    EMERGENCY = "emergency"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return _KIND_LABELS[self]


_KIND_LABELS: Final = {
    PlateKind.ORDINARY: "普通号牌",
    PlateKind.NEV_SMALL: "小型新能源号牌",
    PlateKind.NEV_LARGE: "大型新能源号牌",
    PlateKind.TRAILER: "挂车号牌",
    PlateKind.COACH: "教练车号牌",
    PlateKind.POLICE: "警用号牌",
    PlateKind.EMBASSY: "使馆号牌",
    PlateKind.CONSULATE: "领馆号牌",
    PlateKind.HK_MACAU: "港澳入出境号牌",
    PlateKind.EMERGENCY: "应急救援专用号牌",
}

#: Colours each kind is issued in; the first is the most common.
KIND_COLOURS: Final[dict[PlateKind, tuple[PlateColour, ...]]] = {
    # Black: pre-2018 外籍/境外 ordinary plates still on the road (e.g. 鲁L·88888).
    PlateKind.ORDINARY: (PlateColour.BLUE, PlateColour.YELLOW, PlateColour.BLACK),
    PlateKind.NEV_SMALL: (PlateColour.GREEN,),
    PlateKind.NEV_LARGE: (PlateColour.YELLOW_GREEN,),
    PlateKind.TRAILER: (PlateColour.YELLOW,),
    PlateKind.COACH: (PlateColour.YELLOW,),
    PlateKind.POLICE: (PlateColour.WHITE,),
    PlateKind.EMBASSY: (PlateColour.BLACK,),
    PlateKind.CONSULATE: (PlateColour.BLACK,),
    PlateKind.HK_MACAU: (PlateColour.BLACK,),
    PlateKind.EMERGENCY: (PlateColour.WHITE,),
}

_P = f"[{PROVINCES}]"
_L = f"[{AUTHORITY_LETTERS}]"
_A = f"[{LETTERS}{DIGITS}]"
_E = f"[{NEV_ENERGY_LETTERS}]"
_T = f"[{EMERGENCY_TEAMS}]"
_GRAMMAR: Final[tuple[tuple[PlateKind, re.Pattern[str]], ...]] = (
    (PlateKind.ORDINARY, re.compile(f"{_P}{_L}{_A}{{5}}")),
    # NEV: 8 characters; the energy letter opens the small plate's sequence and closes the large one's.
    (PlateKind.NEV_SMALL, re.compile(f"{_P}{_L}{_E}{_A}[0-9]{{4}}")),
    (PlateKind.NEV_LARGE, re.compile(f"{_P}{_L}[0-9]{{5}}{_E}")),
    (PlateKind.TRAILER, re.compile(f"{_P}{_L}{_A}{{4}}挂")),
    (PlateKind.COACH, re.compile(f"{_P}{_L}{_A}{{4}}学")),
    (PlateKind.POLICE, re.compile(f"{_P}{_L}{_A}{{4}}警")),
    (PlateKind.CONSULATE, re.compile(f"{_P}{_L}{_A}{{4}}领")),
    (PlateKind.HK_MACAU, re.compile(f"粤Z{_A}{{4}}[港澳]")),
    (PlateKind.EMBASSY, re.compile("使[0-9]{6}")),
    (PlateKind.EMERGENCY, re.compile(f"{_P}(?:{_T}{_A}{{4}}|{_A}{{5}})应急|应急{_P}{_A}{{3}}{_T}")),
)
#: Longest canonical plate (8 characters: NEV plates).
MAX_PLATE_LENGTH: Final = 8


@dataclass(frozen=True, slots=True)
class Plate:
    """A plate number that follows the grammar, in canonical form."""

    number: str
    kind: PlateKind

    @property
    def colours(self) -> tuple[PlateColour, ...]:
        """Colours a plate of this kind is issued in."""
        return KIND_COLOURS[self.kind]

    @property
    def province(self) -> str | None:
        """The province abbreviation of the plate (None for embassy plates)."""
        if self.kind is PlateKind.EMBASSY:
            return None
        return self.number[2] if self.number.startswith(EMERGENCY_MARK) else self.number[0]

    @property
    def is_new_energy(self) -> bool:
        """True for the 8-character new-energy plates (small and large)."""
        return self.kind in {PlateKind.NEV_SMALL, PlateKind.NEV_LARGE}


def canonical_plate(raw: str) -> str:
    """Return the canonical spelling of a plate: NFKC, upper case, separators removed.

    This does not check the grammar; :func:`parse_plate` does.
    """
    text = unicodedata.normalize("NFKC", raw).upper()
    return _SEPARATORS.sub("", text)


def parse_plate(raw: object) -> Plate:
    """Parse a plate number, returning its canonical form and kind.

    Raises:
        InvalidValueError: with a Chinese reason when the text is no valid plate (codes
            ``plate.type``, ``.empty``, ``.length``, ``.character``, ``.province``, ``.grammar``).
    """
    if not isinstance(raw, str):
        raise InvalidValueError("plate.type", "车牌号码应为文本", raw)
    number = canonical_plate(raw)
    if not number:
        raise InvalidValueError("plate.empty", "车牌号码为空", raw)
    if len(number) > MAX_PLATE_LENGTH:
        raise InvalidValueError("plate.length", f"车牌号码过长（{len(number)} 位，最多 8 位）", raw)
    bad = [c for i, c in enumerate(number) if c not in PLATE_ALPHABET and not (i == 1 and c == "O")]
    if bad:
        raise InvalidValueError("plate.character", f"车牌号码含有非法字符“{bad[0]}”", raw)
    if number[0] not in PROVINCES and number[0] != EMBASSY_PREFIX and not number.startswith(EMERGENCY_MARK):
        raise InvalidValueError("plate.province", f"车牌首字“{number[0]}”不是省份简称", raw)
    for kind, pattern in _GRAMMAR:
        if pattern.fullmatch(number):
            return Plate(number, kind)
    raise InvalidValueError("plate.grammar", f"“{number}”不符合任何号牌格式", raw)


def is_valid_plate(raw: object) -> bool:
    """Tell whether ``raw`` is a plate number that follows the grammar."""
    try:
        parse_plate(raw)
    except InvalidValueError:
        return False
    return True
