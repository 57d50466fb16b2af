"""Code tables: the uniform lookup API, and each table's content against REGULATION.md."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hj1321 import (
    CODE_TABLES,
    KEY_INDUSTRIES,
    ControlStrategy,
    FuelType,
    Industry,
    InvalidValueError,
    MachineKind,
    PerformanceGrade,
    PlateColour,
    PlateKind,
    PlateType,
    ResponseLevel,
    UseNature,
    VehicleCategory,
    VehicleClass,
    VehicleType,
    WarningLevel,
    fuel_code,
    is_heavy_truck,
    parse_fuel_type,
    parse_industry,
    parse_performance_grade,
    parse_plate,
    parse_plate_type,
    parse_use_nature,
    parse_vehicle_type,
    parse_warning_level,
    plate_type_for,
)
from hj1321._table import CodeTable
from hj1321.emission import EmissionStage


def assert_reason(exc: InvalidValueError, *prefixes: str) -> None:
    """The error carries a machine code from one of ``prefixes`` and a Chinese message."""
    assert exc.code.split(".")[0] in prefixes, exc.code
    assert re.search(r"[\u4e00-\u9fff]", exc.message), exc.message


TABLES: list[type[CodeTable]] = [
    EmissionStage,
    FuelType,
    VehicleClass,
    VehicleType,
    UseNature,
    PlateType,
    VehicleCategory,
    MachineKind,
    Industry,
    PerformanceGrade,
    WarningLevel,
    ResponseLevel,
    ControlStrategy,
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_registry_lists_every_table() -> None:
    assert list(CODE_TABLES.values()) == TABLES
    assert all(name == table.TABLE for name, table in CODE_TABLES.items())


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__name__)
def test_every_member_has_a_unique_chinese_label_and_parses_back(table: type[CodeTable]) -> None:
    labels = [m.label for m in table]
    assert len(set(labels)) == len(labels), "labels must be unique within a table"
    assert len({m.value for m in table}) == len(table)
    for member in table:
        assert CJK.search(member.label), member
        assert table.parse(member.code) is member
        assert table.parse(member.label) is member
        assert table.parse(f"  {member.code.lower()} ") is member
        assert table.parse(member) is member
        assert table.is_valid(member.code)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__name__)
def test_unknown_codes_raise_with_the_table_prefix(table: type[CodeTable]) -> None:
    for raw, suffix in [("没有这个代码", "unknown"), ("", "empty"), (None, "type"), (True, "type")]:
        with pytest.raises(InvalidValueError) as info:
            table.parse(raw)
        assert info.value.code == f"{table.TABLE}.{suffix}"
        assert CJK.search(info.value.message)
        assert info.value.value == raw
        assert not table.is_valid(raw)


@given(st.sampled_from(TABLES), st.one_of(st.text(max_size=6), st.integers(), st.floats(), st.binary(max_size=3)))
def test_lookup_of_junk_only_raises_invalid_value_error(table: type[CodeTable], raw: object) -> None:
    try:
        member = table.parse(raw)
    except InvalidValueError as exc:
        assert_reason(exc, table.TABLE)
    else:
        assert isinstance(member, table)


# --- fuel -------------------------------------------------------------------------------------


def test_fuel_codes_and_hydrogen() -> None:
    assert [f.code for f in FuelType] == list("ABCDEFLMNOPQYZ")
    assert parse_fuel_type("P") is FuelType.HYDROGEN
    assert parse_fuel_type("X") is FuelType.HYDROGEN
    assert parse_fuel_type("柴油") is FuelType.DIESEL
    assert fuel_code(FuelType.HYDROGEN) == "P"
    assert fuel_code(FuelType.HYDROGEN, hydrogen="X") == "X"
    assert fuel_code(FuelType.DIESEL, hydrogen="X") == "B"
    assert FuelType.NATURAL_GAS.is_gas
    assert not FuelType.DIESEL.is_gas
    assert FuelType.ELECTRIC.is_new_energy
    assert not FuelType.HYBRID.is_new_energy


# --- vehicle types ----------------------------------------------------------------------------

# Every code REGULATION.md §3.4 lists by name or range.
REGULATION_VEHICLE_CODES = (
    [f"H{n}" for n in range(10, 40) if n != 36]
    + [f"H4{n}" for n in range(8)]
    + [f"H5{n}" for n in range(6)]
    + ["Q10", "Q11", "Q12", "Q20", "Q21", "Q22", "Q30", "Q31", "Q32"]
    + ["Z11", "Z21", "Z31", "Z41", "Z51", "Z71", "K33", "X99"]
    + [f"K{n}" for n in (10, 11, 20, 21, 30, 31, 40, 41, 42, 43)]
    + [f"B{n}" for n in (11, 21, 31)]
    + [f"G{n}" for n in (11, 21, 31)]
)


@pytest.mark.parametrize("code", REGULATION_VEHICLE_CODES)
def test_vehicle_type_has_every_code_of_the_regulation(code: str) -> None:
    assert parse_vehicle_type(code).code == code


def test_vehicle_type_names_and_classes() -> None:
    assert VehicleType.H11.label == "重型普通货车"
    assert VehicleType.H16.label == "重型集装厢车"
    assert VehicleType.Q11.label == "重型半挂牵引车"
    assert VehicleType.Z51.label == "重型专项作业车"
    assert parse_vehicle_type("重型自卸货车") is VehicleType.H17
    for vehicle_type in VehicleType:
        assert re.fullmatch(r"[KHQZDMNTJGBX][0-9][0-9A-B]", vehicle_type.code)
        assert vehicle_type.vehicle_class.code == vehicle_type.code[0]
    assert {t.vehicle_class for t in VehicleType} == set(VehicleClass)


@pytest.mark.parametrize(
    ("code", "mass", "heavy"),
    [
        ("H11", None, True),
        ("H19", None, True),
        ("h17", 8000, True),  # type decides, whatever the declared mass
        ("Q11", None, True),
        ("Q12", None, True),
        ("Z11", None, True),
        ("Z51", None, True),
        ("H21", None, False),
        ("H21", 12_000, True),  # ≥ 12 t
        ("H21", 11_999.9, False),
        ("Q21", 13_000, True),
        ("Z21", 12_500, True),
        ("X99", 20_000, True),
        ("K11", 18_000, False),  # a bus is not a truck
        ("B11", 40_000, False),  # nor is a trailer
        (None, 12_000, True),  # unknown type: mass decides
        (None, None, False),
        (VehicleType.H31, None, False),
    ],
)
def test_is_heavy_truck(code: str | VehicleType | None, mass: float | None, heavy: bool) -> None:
    assert is_heavy_truck(code, mass) is heavy


def test_is_heavy_truck_refuses_unknown_types() -> None:
    with pytest.raises(InvalidValueError) as info:
        is_heavy_truck("H99", 20_000)
    assert info.value.code == "vehicle_type.unknown"


# --- use nature, plate type, categories ------------------------------------------------------


def test_use_nature_codes() -> None:
    assert [u.code for u in UseNature] == list("ABCDEFGHIJKLMNOPQRZ")
    assert parse_use_nature("F") is UseNature.FREIGHT
    assert parse_use_nature("危险品运输") is UseNature.DANGEROUS_GOODS
    assert UseNature.FIRE.is_exempt_service
    assert not UseNature.FREIGHT.is_exempt_service


def test_plate_type_codes() -> None:
    assert [p.code for p in PlateType][:24] == [f"{n:02d}" for n in range(1, 25)]
    assert parse_plate_type(1) is PlateType.LARGE_VEHICLE
    assert parse_plate_type("01") is PlateType.LARGE_VEHICLE
    assert parse_plate_type("52") is PlateType.SMALL_NEV
    assert parse_plate_type("99") is PlateType.OTHER


@pytest.mark.parametrize(
    ("number", "colour", "plate_type"),
    [
        ("鄂A12345", PlateColour.BLUE, PlateType.SMALL_VEHICLE),
        ("鄂A12345", PlateColour.YELLOW, PlateType.LARGE_VEHICLE),
        ("粤BD12345", None, PlateType.SMALL_NEV),
        ("粤B12345D", None, PlateType.LARGE_NEV),
        ("鲁A1234挂", None, PlateType.TRAILER),
        ("京A1234学", None, PlateType.COACH_VEHICLE),
        ("京A0001警", None, PlateType.POLICE_VEHICLE),
        ("使014578", None, PlateType.EMBASSY_VEHICLE),
        ("沪A1234领", None, PlateType.CONSULATE_VEHICLE),
        ("粤Z1234港", None, PlateType.HONG_KONG),
        ("粤Z1234澳", None, PlateType.MACAU),
    ],
)
def test_plate_type_for_each_plate_kind(number: str, colour: PlateColour | None, plate_type: PlateType) -> None:
    assert plate_type_for(parse_plate(number), colour) is plate_type


def test_plate_type_for_covers_every_kind() -> None:
    examples = {parse_plate(n).kind for n in ["鄂A12345", "粤BD12345", "粤B12345D", "鲁A1234挂", "京A1234学"]}
    examples |= {parse_plate(n).kind for n in ["京A0001警", "使014578", "沪A1234领", "粤Z1234港", "京X2345应急"]}
    assert examples == set(PlateKind)


def test_vehicle_categories() -> None:
    assert [c.label for c in VehicleCategory] == ["进出厂运输车辆", "厂内运输车辆", "非道路移动机械"]
    assert [c.template_table for c in VehicleCategory] == [3, 4, 5]
    assert VehicleCategory.parse("场内运输车辆") is VehicleCategory.IN_PLANT


def test_machine_kinds() -> None:
    names = {k.label for k in MachineKind}
    assert {"挖掘机", "起重机", "推土机", "装载机", "压路机", "摊铺机", "平地机", "叉车", "桩工机械"} <= names
    assert {"堆高机", "牵引车", "摆渡车", "场内车辆"} <= names
    assert MachineKind.parse("铲车") is MachineKind.LOADER


# --- industries, grades, emergency ------------------------------------------------------------


def test_industries() -> None:
    assert len(KEY_INDUSTRIES) == 39
    assert Industry.OTHER not in KEY_INDUSTRIES
    assert parse_industry("水泥") is Industry.CEMENT
    assert parse_industry("焦化") is Industry.COKING
    assert parse_industry("钢铁") is Industry.STEEL_LONG_PROCESS
    assert all(re.fullmatch(r"[a-z_]+", i.code) for i in Industry)


def test_performance_grades() -> None:
    order = ["D", "C", "B-", "B", "A", "leading"]
    assert [g.code for g in sorted(PerformanceGrade)] == order
    assert parse_performance_grade("引领性") is PerformanceGrade.LEADING
    assert parse_performance_grade("b-级") is PerformanceGrade.B_MINUS
    assert parse_performance_grade("A级") is PerformanceGrade.A
    assert PerformanceGrade.A > PerformanceGrade.B_MINUS
    assert {g for g in PerformanceGrade if g.requires_hj1321} == {
        PerformanceGrade.A,
        PerformanceGrade.B,
        PerformanceGrade.B_MINUS,
        PerformanceGrade.LEADING,
    }
    with pytest.raises(TypeError):
        _ = PerformanceGrade.A > "B"


@pytest.mark.parametrize(
    ("raw", "level", "colour", "response", "platform"),
    [
        ("none", WarningLevel.NONE, "无", None, None),
        ("黄", WarningLevel.YELLOW, "黄", ResponseLevel.LEVEL_III, 1),
        ("橙色预警", WarningLevel.ORANGE, "橙", ResponseLevel.LEVEL_II, 2),
        ("red", WarningLevel.RED, "红", ResponseLevel.LEVEL_I, 3),
        (3, WarningLevel.RED, "红", ResponseLevel.LEVEL_I, 3),
    ],
)
def test_warning_levels(
    raw: object, level: WarningLevel, colour: str, response: ResponseLevel | None, platform: int | None
) -> None:
    parsed = parse_warning_level(raw)
    assert parsed is level
    assert parsed.colour_label == colour
    assert parsed.response_level is response
    assert parsed.platform_code == platform
    if response is not None:
        assert WarningLevel.from_response_level(response) is level


def test_warning_and_response_order() -> None:
    assert WarningLevel.NONE < WarningLevel.YELLOW < WarningLevel.ORANGE < WarningLevel.RED
    assert ResponseLevel.LEVEL_III < ResponseLevel.LEVEL_II < ResponseLevel.LEVEL_I
    assert [r.label for r in ResponseLevel] == ["Ⅲ级", "Ⅱ级", "Ⅰ级"]
    assert ResponseLevel.parse("Ⅰ") is ResponseLevel.LEVEL_I
    assert ResponseLevel.parse("二级") is ResponseLevel.LEVEL_II
    assert [r.platform_code for r in ResponseLevel] == [3, 2, 1]
    with pytest.raises(TypeError):
        _ = WarningLevel.RED > ResponseLevel.LEVEL_I


def test_control_strategies() -> None:
    assert [c.code for c in ControlStrategy] == ["1", "2", "3", "4"]
    assert ControlStrategy.parse(4) is ControlStrategy.STOP_ROAD_TRANSPORT
