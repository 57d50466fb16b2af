"""Plate grammar: every plate kind parses, canonical forms round-trip, junk is refused with a reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hj1321 import InvalidValueError, PlateColour, PlateKind, canonical_plate, is_valid_plate, parse_plate
from hj1321.plates import (
    AUTHORITY_LETTERS,
    DIGITS,
    EMERGENCY_TEAMS,
    KIND_COLOURS,
    LETTERS,
    NEV_ENERGY_LETTERS,
    PLATE_ALPHABET,
    PROVINCES,
)


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


province = st.sampled_from(PROVINCES)
letter = st.sampled_from(AUTHORITY_LETTERS)  # the issuing-authority letter: O too (public security)
alnum = st.sampled_from(LETTERS + DIGITS)
digit = st.sampled_from(DIGITS)
energy = st.sampled_from(NEV_ENERGY_LETTERS)


def _join(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


def _many(s: st.SearchStrategy[str], n: int) -> st.SearchStrategy[str]:
    return st.lists(s, min_size=n, max_size=n).map("".join)


PLATES_BY_KIND: dict[PlateKind, st.SearchStrategy[str]] = {
    PlateKind.ORDINARY: _join(province, letter, _many(alnum, 5)),
    PlateKind.NEV_SMALL: _join(province, letter, energy, alnum, _many(digit, 4)),
    PlateKind.NEV_LARGE: _join(province, letter, _many(digit, 5), energy),
    PlateKind.TRAILER: _join(province, letter, _many(alnum, 4), st.just("挂")),
    PlateKind.COACH: _join(province, letter, _many(alnum, 4), st.just("学")),
    PlateKind.POLICE: _join(province, letter, _many(alnum, 4), st.just("警")),
    PlateKind.CONSULATE: _join(province, letter, _many(alnum, 4), st.just("领")),
    PlateKind.HK_MACAU: _join(st.just("粤Z"), _many(alnum, 4), st.sampled_from("港澳")),
    PlateKind.EMBASSY: _join(st.just("使"), _many(digit, 6)),
    PlateKind.EMERGENCY: st.one_of(
        _join(province, st.sampled_from(EMERGENCY_TEAMS), _many(alnum, 4), st.just("应急")),
        _join(province, _many(alnum, 5), st.just("应急")),
        _join(st.just("应急"), province, _many(alnum, 3), st.sampled_from(EMERGENCY_TEAMS)),
    ),
}
kind_and_plate = st.sampled_from(list(PlateKind)).flatmap(lambda k: st.tuples(st.just(k), PLATES_BY_KIND[k]))


def test_every_kind_has_a_generator_and_colours() -> None:
    assert set(PLATES_BY_KIND) == set(PlateKind)
    assert set(KIND_COLOURS) == set(PlateKind)


@pytest.mark.parametrize(
    ("raw", "number", "kind"),
    [
        ("鄂A12345", "鄂A12345", PlateKind.ORDINARY),
        ("鄂a·12345", "鄂A12345", PlateKind.ORDINARY),
        ("粤BD12345", "粤BD12345", PlateKind.NEV_SMALL),
        ("粤B DF1234", "粤BDF1234", PlateKind.NEV_SMALL),
        ("粤B12345D", "粤B12345D", PlateKind.NEV_LARGE),
        ("鲁A1234挂", "鲁A1234挂", PlateKind.TRAILER),
        ("京A1234学", "京A1234学", PlateKind.COACH),
        ("京A0001警", "京A0001警", PlateKind.POLICE),
        ("使014578", "使014578", PlateKind.EMBASSY),
        ("沪A1234领", "沪A1234领", PlateKind.CONSULATE),
        ("粤Z1234港", "粤Z1234港", PlateKind.HK_MACAU),
        ("粤ZP560澳", "粤ZP560澳", PlateKind.HK_MACAU),
        ("粤Ｂ１２３４５", "粤B12345", PlateKind.ORDINARY),  # full-width digits from OCR
        # Every kind and variant of GA 36-2018 (hj1321/plates.py docstring), real examples where known:
        ("粤O·A2160", "粤OA2160", PlateKind.ORDINARY),  # public-security authority letter O (real photo)
        ("鲁L·88888", "鲁L88888", PlateKind.ORDINARY),  # old black plate, same layout
        ("沪A·N9241", "沪AN9241", PlateKind.ORDINARY),  # double-row motorcycle plate
        ("京E·A5331", "京EA5331", PlateKind.ORDINARY),  # double-row yellow truck plate
        ("皖A·D11166", "皖AD11166", PlateKind.NEV_SMALL),  # D: pure electric
        ("沪A·F71017", "沪AF71017", PlateKind.NEV_SMALL),  # F: other new energy
        ("京A·A12345", "京AA12345", PlateKind.NEV_SMALL),  # A-K since 2021
        ("京A·KA2345", "京AKA2345", PlateKind.NEV_SMALL),  # letter in the second sequence position
        ("粤B·12345F", "粤B12345F", PlateKind.NEV_LARGE),
        ("粤B·12345K", "粤B12345K", PlateKind.NEV_LARGE),
        ("鄂F·8888警", "鄂F8888警", PlateKind.POLICE),
        ("琼A·6716学", "琼A6716学", PlateKind.COACH),
        ("渝D·0079挂", "渝D0079挂", PlateKind.TRAILER),
        ("使224·424", "使224424", PlateKind.EMBASSY),
        ("粤Z·J541澳", "粤ZJ541澳", PlateKind.HK_MACAU),
        ("京·X2345应急", "京X2345应急", PlateKind.EMERGENCY),  # provincial fire and rescue
        ("京·S2345应急", "京S2345应急", PlateKind.EMERGENCY),  # forest fire brigade
        ("京·12345应急", "京12345应急", PlateKind.EMERGENCY),  # the ministry's own
        ("应急京123X", "应急京123X", PlateKind.EMERGENCY),  # motorcycle
    ],
)
def test_parse_plate_known_examples(raw: str, number: str, kind: PlateKind) -> None:
    plate = parse_plate(raw)
    assert (plate.number, plate.kind) == (number, kind)
    assert plate.colours == KIND_COLOURS[kind]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "plate.empty"),
        ("  ", "plate.empty"),
        ("鄂A123456789", "plate.length"),
        ("鄂A1234O", "plate.character"),  # letter O is used only as the authority letter
        ("鄂AO1234", "plate.character"),
        ("京A1234应", "plate.grammar"),  # half the emergency mark
        ("京X234应急", "plate.grammar"),  # four sequence characters after the team code
        ("京AI12345", "plate.character"),  # never I
        ("京AD1234X", "plate.grammar"),  # a small NEV plate ends in four digits
        ("京A12345Z", "plate.grammar"),  # energy letters are A-K
        ("AA12345", "plate.province"),
        ("鄂A1234", "plate.grammar"),
        ("鄂112345", "plate.grammar"),
        ("京AZ1234港", "plate.grammar"),  # HK/Macau plates are 粤Z only
        (None, "plate.type"),
    ],
)
def test_parse_plate_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_plate(raw)
    assert info.value.code == code
    assert info.value.message
    assert not is_valid_plate(raw)


@given(kind_and_plate)
def test_generated_plates_parse_to_their_kind(kp: tuple[PlateKind, str]) -> None:
    kind, number = kp
    plate = parse_plate(number)
    assert plate.kind is kind
    assert plate.number == number
    assert plate.is_new_energy == (kind in {PlateKind.NEV_SMALL, PlateKind.NEV_LARGE})
    assert (plate.province is None) == (kind is PlateKind.EMBASSY)
    assert plate.province is None or plate.province in PROVINCES


@given(kind_and_plate)
def test_a_valid_plate_is_never_rejected(kp: tuple[PlateKind, str]) -> None:
    """GA 36-2018: every plate the standard allows parses, in every spelling a camera sends it."""
    _, number = kp
    assert is_valid_plate(number)
    assert is_valid_plate(" " + number[:3] + "·" + number[3:] + " ")
    assert is_valid_plate(number.lower())


@given(kind_and_plate, st.sampled_from([" ", "·", "•", ".", "-", " · "]), st.booleans())
def test_plate_spellings_round_trip_to_canonical(kp: tuple[PlateKind, str], sep: str, lower: bool) -> None:
    _, number = kp
    spelled = number[:2] + sep + number[2:]
    spelled = spelled.lower() if lower else spelled
    assert parse_plate(spelled).number == number
    assert canonical_plate(spelled) == number
    assert parse_plate(parse_plate(spelled).number) == parse_plate(number)


@given(st.one_of(st.text(max_size=12), st.text(alphabet=PLATE_ALPHABET + "IO·", max_size=10)))
def test_junk_is_refused_with_a_reason_or_parses_canonically(raw: str) -> None:
    try:
        plate = parse_plate(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "plate")
        return
    assert canonical_plate(plate.number) == plate.number
    assert parse_plate(plate.number) == plate


def test_plate_colour_labels_are_chinese() -> None:
    for colour in PlateColour:
        assert colour.label
    for kind in PlateKind:
        assert kind.label.endswith("号牌")
