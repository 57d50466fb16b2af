"""Emission stages: parsing (names, codes, 6a/6b folding), ordering for control rules, template codes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hj1321 import (
    NRMM_STAGES,
    EmissionStage,
    InvalidValueError,
    parse_emission_stage,
    parse_nrmm_stage,
    stage_from_template_code,
)


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


E = EmissionStage
stages = st.sampled_from(list(EmissionStage))


@pytest.mark.parametrize(
    ("raw", "stage"),
    [
        ("0", E.CN0),
        ("国0", E.CN0),
        ("国一", E.CN1),
        ("国Ⅱ", E.CN2),
        ("国III", E.CN3),
        ("国四", E.CN4),
        ("国五", E.CN5),
        ("国V", E.CN5),
        ("China V", E.CN5),
        (5, E.CN5),
        ("国六", E.CN6),
        ("国六a", E.CN6),
        ("国六b", E.CN6),
        ("6b", E.CN6),
        ("VIb", E.CN6),
        ("国6(b)", E.CN6),
        ("7", E.CN7),
        ("d", E.ELECTRIC),
        ("D", E.ELECTRIC),
        ("电动", E.ELECTRIC),
        ("x", E.NONE),
        ("无", E.NONE),
        ("国四标准", E.CN4),
    ],
)
def test_parse_emission_stage(raw: object, stage: EmissionStage) -> None:
    assert parse_emission_stage(raw) is stage


@pytest.mark.parametrize("raw", ["", "8", "国八", "5b", "国五b", "b", "A", None, 3.5])
def test_parse_emission_stage_refuses(raw: object) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_emission_stage(raw)
    assert info.value.code.startswith("emission_stage.")
    assert info.value.message


def test_order_for_control_rules() -> None:
    assert [s.rank for s in sorted(EmissionStage)] == sorted(s.rank for s in EmissionStage)
    assert min(EmissionStage) is E.NONE
    assert max(EmissionStage) is E.ELECTRIC
    assert E.CN4 <= E.CN4
    assert E.CN3 < E.CN4 < E.CN5
    assert E.ELECTRIC > E.CN7
    assert E.ELECTRIC.at_least(E.CN5)
    assert not E.ELECTRIC.at_most(E.CN4)
    assert E.NONE.at_most(E.CN2)  # a machine without a stage counts as the oldest


def test_order_refuses_plain_strings() -> None:
    # "D" > "6" as strings; the enum must not fall back to string order.
    with pytest.raises(TypeError):
        _ = E.CN5 < "6"
    with pytest.raises(TypeError):
        _ = E.CN5 >= "4"


@given(stages, stages)
def test_order_is_total_and_agrees_with_rank(a: EmissionStage, b: EmissionStage) -> None:
    assert (a < b) == (a.rank < b.rank)
    assert (a <= b) == a.at_most(b)
    assert (a >= b) == a.at_least(b)
    assert (a < b) or (a == b) or (a > b)


@given(stages)
def test_codes_round_trip(stage: EmissionStage) -> None:
    assert stage_from_template_code(stage.template_code) is stage
    assert parse_emission_stage(stage.platform_code) is stage
    assert parse_emission_stage(stage.label) is stage
    assert len(stage.template_code) == 1
    assert stage.template_code == stage.template_code.lower()


def test_template_codes_are_the_2020_template() -> None:
    assert [s.template_code for s in EmissionStage] == ["0", "1", "2", "3", "4", "5", "6", "7", "d", "x"]
    with pytest.raises(InvalidValueError) as info:
        stage_from_template_code("国五")
    assert info.value.code == "emission_stage.template_code"


def test_nrmm_stages() -> None:
    assert {s.label for s in NRMM_STAGES if s.is_combustion} == {"国一", "国二", "国三", "国四"}
    assert parse_nrmm_stage("国三") is E.CN3
    assert parse_nrmm_stage("d") is E.ELECTRIC
    with pytest.raises(InvalidValueError) as info:
        parse_nrmm_stage("国五")
    assert info.value.code == "emission_stage.nrmm"


@given(st.one_of(st.text(max_size=8), st.integers(), st.none(), st.floats()))
def test_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        stage = parse_emission_stage(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "emission_stage")
    else:
        assert isinstance(stage, EmissionStage)
