"""Plate colours: lookup by name and the camera/platform code schemes (REGULATION.md §3.1).

Colours are stored canonically (:class:`~hj1321.plates.PlateColour`); numeric codes exist only at
the edges (a camera SDK, a regulator adapter). Several incompatible schemes exist and **white and
black are swapped** between scheme C (ETC/JT: 2 = black, 3 = white) and schemes A/B
(2 = white, 3 = black), so a code is never meaningful without its scheme.

Decoding policy: a code the scheme defines but that has no canonical colour of its own (民航黑 is
mapped to black; 蓝白渐变, 临时, 红, 未确定, 其他 become ``OTHER``) decodes quietly; a code the scheme
does not define at all raises ``plate_colour.unknown_code``, because it almost always means the
device or adapter is configured with the wrong scheme, which must not go unnoticed.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Final

from hj1321.errors import InvalidValueError
from hj1321.plates import PlateColour


class ColourScheme(StrEnum):
    """Numeric plate-colour code schemes met in the field (REGULATION.md §3.1)."""

    #: A: Hikvision SDK ``VCA_PLATE_COLOR`` [C].
    HIKVISION = "hikvision"
    #: B: Henan ``transportControl`` and KaiFeng ``/transport`` platforms [S].
    HENAN = "henan"
    #: C: ETC / toll (JT-style) [C].
    ETC = "etc"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return _SCHEME_LABELS[self]


_SCHEME_LABELS: Final = {
    ColourScheme.HIKVISION: "海康威视 VCA_PLATE_COLOR",
    ColourScheme.HENAN: "河南 transportControl/开封平台",
    ColourScheme.ETC: "ETC/交通行业",
}

# Encoding: canonical colour → the scheme's code. Every colour has a code in every scheme.
_ENCODE: Final[dict[ColourScheme, dict[PlateColour, int]]] = {
    # §3.1 column A [C]; yellow-green 6 is the extension a camera MQTT protocol added for large
    # NEV plates (sdlinka) [S]; Hikvision itself has no yellow-green code.
    ColourScheme.HIKVISION: {
        PlateColour.BLUE: 0,
        PlateColour.YELLOW: 1,
        PlateColour.WHITE: 2,
        PlateColour.BLACK: 3,
        PlateColour.GREEN: 4,
        PlateColour.YELLOW_GREEN: 6,
        PlateColour.OTHER: 0xFF,
    },
    # §3.1 column B [S] (BulkMaterialsForm_v2 GetlicenseColor / GetKaiFenglicenseColor).
    ColourScheme.HENAN: {
        PlateColour.BLUE: 0,
        PlateColour.YELLOW: 1,
        PlateColour.WHITE: 2,
        PlateColour.BLACK: 3,
        PlateColour.GREEN: 4,
        PlateColour.OTHER: 5,
        PlateColour.YELLOW_GREEN: 6,
    },
    # §3.1 column C [C]: black 2 and white 3 are swapped relative to A/B.
    ColourScheme.ETC: {
        PlateColour.BLUE: 0,
        PlateColour.YELLOW: 1,
        PlateColour.BLACK: 2,
        PlateColour.WHITE: 3,
        PlateColour.GREEN: 4,
        PlateColour.YELLOW_GREEN: 5,
        PlateColour.OTHER: 9,
    },
}

# Decoding extras: codes a scheme defines that are not the image of a canonical colour.
_DECODE_EXTRA: Final[dict[ColourScheme, dict[int, PlateColour]]] = {
    ColourScheme.HIKVISION: {5: PlateColour.BLACK},  # 民航黑 (civil-aviation black) [C]
    ColourScheme.HENAN: {},
    # 6 蓝白渐变, 7 临时, 11 绿 (not the NEV gradient), 12 红 [C] (kancloud / showdoc ETC docs).
    ColourScheme.ETC: {6: PlateColour.OTHER, 7: PlateColour.OTHER, 11: PlateColour.OTHER, 12: PlateColour.OTHER},
}

_DECODE: Final[dict[ColourScheme, dict[int, PlateColour]]] = {
    scheme: {**{code: colour for colour, code in table.items()}, **_DECODE_EXTRA[scheme]}
    for scheme, table in _ENCODE.items()
}


def colour_to_scheme(colour: PlateColour | str, scheme: ColourScheme | str) -> int:
    """Return the code of ``colour`` in ``scheme`` (every canonical colour has one).

    Raises:
        InvalidValueError: ``plate_colour.unknown`` / ``plate_colour.scheme`` for an unknown colour or scheme.
    """
    return _ENCODE[_scheme(scheme)][parse_plate_colour(colour)]


def colour_from_scheme(code: int | str, scheme: ColourScheme | str) -> PlateColour:
    """Decode a scheme's colour code (``3`` or ``"3"``) into the canonical colour.

    Codes the scheme defines without a canonical equivalent decode to ``OTHER``; codes the scheme
    does not define raise (see the module docstring).

    Raises:
        InvalidValueError: ``plate_colour.unknown_code`` with a Chinese reason.
    """
    table = _DECODE[_scheme(scheme)]
    number: int | None = None
    if isinstance(code, int) and not isinstance(code, bool):
        number = code
    elif isinstance(code, str):
        text = code.strip()
        if text.isascii() and text.isdigit():
            number = int(text)
    colour = table.get(number) if number is not None else None
    if colour is None:
        raise InvalidValueError(
            "plate_colour.unknown_code",
            f"号牌颜色代码“{code}”不属于{ColourScheme(_scheme(scheme)).label}编码",
            code,
        )
    return colour


def scheme_codes(scheme: ColourScheme | str) -> dict[int, PlateColour]:
    """Every code ``scheme`` defines, with the canonical colour it decodes to (a copy)."""
    return dict(_DECODE[_scheme(scheme)])


def _scheme(scheme: ColourScheme | str) -> ColourScheme:
    try:
        return ColourScheme(scheme)
    except ValueError:
        raise InvalidValueError("plate_colour.scheme", f"未知的号牌颜色编码方案“{scheme}”", scheme) from None


# Names accepted by parse_plate_colour, beyond the canonical value and the label.
_COLOUR_ALIASES: Final[dict[str, PlateColour]] = {
    "蓝": PlateColour.BLUE,
    "蓝牌": PlateColour.BLUE,
    "黄": PlateColour.YELLOW,
    "黄牌": PlateColour.YELLOW,
    "绿": PlateColour.GREEN,
    "绿色": PlateColour.GREEN,
    "渐变绿": PlateColour.GREEN,
    "绿牌": PlateColour.GREEN,
    "黄绿": PlateColour.YELLOW_GREEN,
    "黄绿色": PlateColour.YELLOW_GREEN,
    "黄绿双拼": PlateColour.YELLOW_GREEN,
    "YELLOWGREEN": PlateColour.YELLOW_GREEN,
    "白": PlateColour.WHITE,
    "白牌": PlateColour.WHITE,
    "黑": PlateColour.BLACK,
    "黑牌": PlateColour.BLACK,
    "其它": PlateColour.OTHER,
    "未知": PlateColour.OTHER,
}


def _colour_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


_COLOUR_INDEX: Final[dict[str, PlateColour]] = {
    **{_colour_key(c.label): c for c in PlateColour},
    **{_colour_key(k): v for k, v in _COLOUR_ALIASES.items()},
    **{_colour_key(c.value): c for c in PlateColour},
}


def parse_plate_colour(raw: object) -> PlateColour:
    """Look a canonical colour up by its value (``yellow_green``) or Chinese name (``黄绿``, ``蓝色``).

    Numeric codes are deliberately not accepted here: they need a scheme (:func:`colour_from_scheme`).

    Raises:
        InvalidValueError: ``plate_colour.unknown`` with a Chinese reason.
    """
    if isinstance(raw, PlateColour):
        return raw
    colour = _COLOUR_INDEX.get(_colour_key(raw)) if isinstance(raw, str) else None
    if colour is None:
        raise InvalidValueError("plate_colour.unknown", f"未知的号牌颜色“{raw}”", raw)
    return colour
