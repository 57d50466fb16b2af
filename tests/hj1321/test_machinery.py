"""NRMM: 环保登记编码 and 信息公开编号 validators."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hj1321 import (
    EmissionStage,
    InvalidValueError,
    is_valid_env_code,
    is_valid_info_disclosure_number,
    parse_env_code,
    parse_info_disclosure_number,
)
from hj1321.plates import PROVINCES


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


junk = st.one_of(st.text(max_size=40), st.integers(), st.none(), st.binary(max_size=8))
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# --- 环保登记编码 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("津E00123", "津E00123"),
        (" 京aa1234 ", "京AA1234"),
        ("C2021110000001", "C2021110000001"),
        ("NB-2021_0001", "NB-2021_0001"),
        ("ＡＢ１２", "AB12"),  # full width
    ],
)
def test_env_code_accepted(raw: str, canonical: str) -> None:
    assert parse_env_code(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "env_code.empty"),
        ("   ", "env_code.empty"),
        ("A" * 33, "env_code.length"),
        ("AB 12", "env_code.character"),
        ("AB/12", "env_code.character"),
        ("AB\x0012", "env_code.character"),
        ("AB😀", "env_code.character"),
        (12, "env_code.type"),
    ],
)
def test_env_code_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_env_code(raw)
    assert info.value.code == code
    assert info.value.message
    assert not is_valid_env_code(raw)


@given(st.text(alphabet=PROVINCES + UPPER_ALNUM + "-_", min_size=1, max_size=32))
def test_generated_env_codes_round_trip(code: str) -> None:
    assert parse_env_code(code) == code
    assert parse_env_code(code.lower()) == code


@given(junk)
def test_env_code_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        code = parse_env_code(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "env_code")
    else:
        assert 1 <= len(code) <= 32
        assert parse_env_code(code) == code


# --- 信息公开编号 --------------------------------------------------------------------------------


def test_info_number_parts() -> None:
    number = parse_info_disclosure_number("cnfj g3 00 a1b2 000001 000002")
    assert number.number == "CNFJG300A1B2000001000002"
    assert number.type_code == "FJ"
    assert number.stage_code == "G3"
    assert number.noise_code == "00"
    assert number.enterprise_code == "A1B2"
    assert number.model_serial == "000001"
    assert number.serial == "000002"
    assert number.emission_stage is EmissionStage.CN3
    assert parse_info_disclosure_number("CNFJZ300A1B2000001000002").emission_stage is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "info_number.empty"),
        ("CNFJG300A1B200000100000", "info_number.length"),
        ("CNFJG300A1B2000001000002X", "info_number.length"),
        ("CNFJG300A1B2-00001000002", "info_number.character"),
        ("CNFJG300A1B2中00001000002", "info_number.character"),
        ("XXFJG300A1B2000001000002", "info_number.prefix"),
        ("CN1JG300A1B2000001000002", "info_number.type_code"),
        (None, "info_number.type"),
    ],
)
def test_info_number_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_info_disclosure_number(raw)
    assert info.value.code == code
    assert info.value.message
    assert not is_valid_info_disclosure_number(raw)


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    st.text(alphabet=UPPER_ALNUM, min_size=20, max_size=20),
)
def test_generated_info_numbers_round_trip(type_code: str, rest: str) -> None:
    text = "CN" + type_code + rest
    parsed = parse_info_disclosure_number(text.lower())
    assert parsed.number == text
    assert parsed.type_code + parsed.stage_code + parsed.noise_code == text[2:8]


@given(junk)
def test_info_number_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        parse_info_disclosure_number(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "info_number")
