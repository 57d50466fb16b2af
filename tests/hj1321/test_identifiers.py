"""VIN, 统一社会信用代码 and HJ 608 codes: known values, generated values, single-character mutations."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hj1321 import (
    InvalidValueError,
    is_valid_pollutant_source_code,
    is_valid_uscc,
    is_valid_vin,
    parse_pollutant_source_code,
    parse_uscc,
    parse_vin,
    uscc_check_char,
    vin_check_digit,
)
from hj1321.identifiers import USCC_ALPHABET, VIN_ALPHABET, vin_value


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


junk = st.one_of(st.text(max_size=30), st.integers(), st.none(), st.binary(max_size=20), st.floats())


# --- VIN --------------------------------------------------------------------------------------


@st.composite
def vins(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17))
    return body[:8] + vin_check_digit(body) + body[9:]


@pytest.mark.parametrize(
    "vin",
    [
        "1M8GDM9AXKP042788",  # ISO 3779 textbook example (check digit X)
        "LSVAM4187C2184847",
        "11111111111111111",
    ],
)
def test_known_vins(vin: str) -> None:
    assert parse_vin(vin) == vin
    assert vin_check_digit(vin) == vin[8]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "vin.empty"),
        ("1M8GDM9AXKP04278", "vin.length"),
        ("1M8GDM9AXKP0427888", "vin.length"),
        ("1M8GDM9AXKP0427O8", "vin.character"),
        ("1M8GDM9AXKP0427I8", "vin.character"),
        ("1M8GDM9AXKQ042788", "vin.character"),
        ("1M8GDM9AXKP04278!", "vin.character"),
        ("1M8GDM9A1KP042788", "vin.check_digit"),
        (17, "vin.type"),
    ],
)
def test_vin_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_vin(raw)
    assert info.value.code == code
    assert info.value.message
    assert not is_valid_vin(raw)


def test_vin_check_digit_needs_seventeen_vin_characters() -> None:
    with pytest.raises(InvalidValueError):
        vin_check_digit("ABC")
    with pytest.raises(InvalidValueError):
        vin_check_digit("1M8GDM9AXKP04278I")


@given(vins(), st.booleans(), st.sampled_from(["", " ", "  "]))
def test_generated_vins_are_accepted_and_canonical(vin: str, lower: bool, pad: str) -> None:
    raw = pad + (vin.lower() if lower else vin) + pad
    assert parse_vin(raw) == vin
    assert parse_vin(parse_vin(raw)) == vin


@given(vins(), st.integers(0, 16), st.sampled_from(VIN_ALPHABET))
def test_single_substitution_is_caught_when_the_algorithm_can(vin: str, pos: int, char: str) -> None:
    assume(vin[pos] != char)
    mutated = vin[:pos] + char + vin[pos + 1 :]
    # Weights are non-zero mod 11 except at the check position, and values are < 11, so a
    # substitution is caught exactly when it changes the transliterated value (or the check digit).
    caught = pos == 8 or vin_value(char) != vin_value(vin[pos])
    assert is_valid_vin(mutated) is not caught


@given(vins(), st.integers(0, 15))
def test_adjacent_transposition_is_caught_when_values_differ(vin: str, pos: int) -> None:
    assume(8 not in {pos, pos + 1})
    a, b = vin[pos], vin[pos + 1]
    mutated = vin[:pos] + b + a + vin[pos + 2 :]
    assert is_valid_vin(mutated) is (vin_value(a) == vin_value(b))


@given(st.text(alphabet="IOQ", min_size=1, max_size=3), vins(), st.integers(0, 16))
def test_forbidden_letters_are_reported(letter: str, vin: str, pos: int) -> None:
    mutated = (vin[:pos] + letter[0] + vin[pos + 1 :])[:17]
    with pytest.raises(InvalidValueError) as info:
        parse_vin(mutated)
    assert info.value.code == "vin.character"
    assert "I、O、Q" in info.value.message


@given(junk)
def test_vin_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        vin = parse_vin(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "vin")
    else:
        assert vin_check_digit(vin) == vin[8]


# --- 统一社会信用代码 ----------------------------------------------------------------------------


@st.composite
def usccs(draw: st.DrawFn) -> str:
    head = draw(st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2))
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    org = draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9))
    body = head + region + org
    return body + uscc_check_char(body)


@pytest.mark.parametrize(
    "code",
    [
        "91130200699229617X",  # HJ 608-2017's example, minus the serial
        "91350100M000100Y43",  # GB 32100 explanatory example
        "91110000600037341L",
    ],
)
def test_known_usccs(code: str) -> None:
    assert parse_uscc(code) == code
    assert uscc_check_char(code) == code[-1]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "uscc.empty"),
        ("91130200699229617", "uscc.length"),
        ("91130200699229617XX", "uscc.length"),
        ("91130200699229617Z", "uscc.character"),
        ("9113020069922961OX", "uscc.character"),
        ("91A30200699229617X", "uscc.region"),
        ("91130200699229617Y", "uscc.check_char"),
        (None, "uscc.type"),
    ],
)
def test_uscc_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_uscc(raw)
    assert info.value.code == code
    assert info.value.message
    assert not is_valid_uscc(raw)


@given(usccs(), st.booleans())
def test_generated_usccs_are_accepted_and_canonical(code: str, lower: bool) -> None:
    raw = f" {code.lower() if lower else code} "
    assert parse_uscc(raw) == code


@given(usccs(), st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_every_single_substitution_of_a_uscc_is_caught(code: str, pos: int, char: str) -> None:
    # 31 is prime and every weight is a power of 3 (non-zero mod 31): no substitution survives.
    assume(code[pos] != char)
    mutated = code[:pos] + char + code[pos + 1 :]
    with pytest.raises(InvalidValueError) as info:
        parse_uscc(mutated)
    assert info.value.code in {"uscc.check_char", "uscc.region"}


@given(usccs(), st.integers(0, 15))
def test_every_adjacent_transposition_in_the_body_is_caught(code: str, pos: int) -> None:
    # Adjacent weights differ by a factor 3, so (a - b)(w_i - w_i+1) is never 0 mod 31.
    assume(code[pos] != code[pos + 1])
    mutated = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
    assert not is_valid_uscc(mutated)


@given(junk)
def test_uscc_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        code = parse_uscc(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "uscc")
    else:
        assert uscc_check_char(code) == code[-1]


# --- HJ 608 -------------------------------------------------------------------------------------


def test_known_pollutant_source_codes() -> None:
    unit = parse_pollutant_source_code("91130200699229617X001P")
    assert (unit.uscc, unit.serial, unit.outlet) == ("91130200699229617X", "001", None)
    assert unit.code == unit.unit_code == "91130200699229617X001P"
    assert unit.outlet_medium is None
    outlet = parse_pollutant_source_code("91130200699229617x001pDW002")
    assert outlet.outlet == "DW002"
    assert outlet.outlet_medium == "废水"
    assert outlet.unit_code == "91130200699229617X001P"
    assert parse_pollutant_source_code("91130200699229617X001PDA001").outlet_medium == "废气"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "source_code.empty"),
        ("91130200699229617X001", "source_code.length"),
        ("91130200699229617X00AP", "source_code.format"),
        ("91130200699229617X001Q", "source_code.format"),
        ("91130200699229617X001PDX001", "source_code.format"),
        ("91130200699229617Y001P", "uscc.check_char"),
        (22, "source_code.type"),
    ],
)
def test_pollutant_source_code_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_pollutant_source_code(raw)
    assert info.value.code == code
    assert not is_valid_pollutant_source_code(raw)


@given(usccs(), st.integers(0, 999), st.none() | st.tuples(st.sampled_from("AW"), st.integers(0, 999)))
def test_generated_source_codes_round_trip(uscc: str, serial: int, outlet: tuple[str, int] | None) -> None:
    text = f"{uscc}{serial:03d}P" + (f"D{outlet[0]}{outlet[1]:03d}" if outlet else "")
    parsed = parse_pollutant_source_code(text.lower())
    assert parsed.code == text
    assert parse_pollutant_source_code(parsed.code) == parsed


@given(junk)
def test_source_code_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        parse_pollutant_source_code(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "source_code", "uscc")
