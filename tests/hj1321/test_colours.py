"""Plate-colour code schemes (REGULATION.md §3.1): per-scheme mappings and the white/black swap."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hj1321 import ColourScheme, InvalidValueError, PlateColour, colour_from_scheme, colour_to_scheme, scheme_codes
from hj1321.colours import parse_plate_colour


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


# (colour, hikvision A, henan B, etc C) straight from the §3.1 table.
TABLE = [
    (PlateColour.BLUE, 0, 0, 0),
    (PlateColour.YELLOW, 1, 1, 1),
    (PlateColour.WHITE, 2, 2, 3),
    (PlateColour.BLACK, 3, 3, 2),
    (PlateColour.GREEN, 4, 4, 4),
    (PlateColour.YELLOW_GREEN, 6, 6, 5),
    (PlateColour.OTHER, 0xFF, 5, 9),
]


@pytest.mark.parametrize(("colour", "a", "b", "c"), TABLE)
def test_colour_codes_match_the_regulation_table(colour: PlateColour, a: int, b: int, c: int) -> None:
    assert colour_to_scheme(colour, ColourScheme.HIKVISION) == a
    assert colour_to_scheme(colour, ColourScheme.HENAN) == b
    assert colour_to_scheme(colour, ColourScheme.ETC) == c
    assert colour_from_scheme(a, "hikvision") is colour
    assert colour_from_scheme(str(b), "henan") is colour
    assert colour_from_scheme(c, ColourScheme.ETC) is colour


def test_white_and_black_swap_between_schemes() -> None:
    # A white police plate read by a Hikvision camera (2) must reach an ETC-coded platform as 3.
    assert colour_to_scheme(colour_from_scheme(2, "hikvision"), "etc") == 3
    assert colour_to_scheme(colour_from_scheme(3, "henan"), "etc") == 2
    assert colour_from_scheme(2, "etc") is PlateColour.BLACK
    assert colour_from_scheme(2, "hikvision") is PlateColour.WHITE


@pytest.mark.parametrize(
    ("scheme", "code", "colour"),
    [
        (ColourScheme.HIKVISION, 5, PlateColour.BLACK),  # 民航黑
        (ColourScheme.ETC, 6, PlateColour.OTHER),  # 蓝白渐变
        (ColourScheme.ETC, 7, PlateColour.OTHER),  # 临时
        (ColourScheme.ETC, 11, PlateColour.OTHER),  # 绿 (not the NEV gradient)
        (ColourScheme.ETC, 12, PlateColour.OTHER),  # 红
    ],
)
def test_scheme_specific_codes_decode(scheme: ColourScheme, code: int, colour: PlateColour) -> None:
    assert colour_from_scheme(code, scheme) is colour


@given(st.sampled_from(list(ColourScheme)), st.sampled_from(list(PlateColour)))
def test_every_colour_round_trips_through_every_scheme(scheme: ColourScheme, colour: PlateColour) -> None:
    assert colour_from_scheme(colour_to_scheme(colour, scheme), scheme) is colour


@given(st.sampled_from(list(ColourScheme)), st.one_of(st.integers(), st.text(max_size=4)))
def test_codes_outside_the_scheme_raise(scheme: ColourScheme, code: int | str) -> None:
    known = scheme_codes(scheme)
    try:
        colour = colour_from_scheme(code, scheme)
    except InvalidValueError as exc:
        assert_reason(exc, "plate_colour")
    else:
        assert int(str(code).strip()) in known
        assert colour is known[int(str(code).strip())]


def test_unknown_scheme_and_colour_raise() -> None:
    with pytest.raises(InvalidValueError) as info:
        colour_to_scheme(PlateColour.BLUE, "dahua")
    assert info.value.code == "plate_colour.scheme"
    with pytest.raises(InvalidValueError) as info:
        colour_to_scheme("purple", ColourScheme.ETC)
    assert info.value.code == "plate_colour.unknown"


@pytest.mark.parametrize(
    ("raw", "colour"),
    [
        ("blue", PlateColour.BLUE),
        ("蓝", PlateColour.BLUE),
        ("黄色", PlateColour.YELLOW),
        ("渐变绿", PlateColour.GREEN),
        ("黄绿双拼", PlateColour.YELLOW_GREEN),
        ("YELLOW_GREEN", PlateColour.YELLOW_GREEN),
        (" 白 ", PlateColour.WHITE),
        ("黑色", PlateColour.BLACK),
        ("其他", PlateColour.OTHER),
    ],
)
def test_parse_plate_colour_by_name(raw: str, colour: PlateColour) -> None:
    assert parse_plate_colour(raw) is colour


@pytest.mark.parametrize("raw", ["1", 1, "", "紫", None])
def test_parse_plate_colour_refuses_codes_and_junk(raw: object) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_plate_colour(raw)
    assert info.value.code == "plate_colour.unknown"
