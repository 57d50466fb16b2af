"""Vehicle code tables: fuel, GA/T 16.4 vehicle type, use nature, plate type, ledger category.

Sources are REGULATION.md §3.3–§3.6 and §1.4; each table's tag ([C]/[S]/[I]) is in its docstring
and the assumptions are listed in docs/hj1321.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from hj1321._table import CodeTable
from hj1321.plates import Plate, PlateColour, PlateKind


class FuelType(CodeTable, table="fuel_type", title="燃料类型"):
    """燃料种类, GA traffic code (REGULATION.md §3.3 [S]).

    Hydrogen is ``P`` in one source and ``X`` in another: both are accepted on input and ``P`` is
    canonical; :func:`fuel_code` emits ``X`` for adapters that want it [I].
    """

    PETROL = "A", "汽油"
    DIESEL = "B", "柴油"
    ELECTRIC = "C", "电"
    MIXED_OIL = "D", "混合油"
    NATURAL_GAS = "E", "天然气"
    LPG = "F", "液化石油气"
    METHANOL = "L", "甲醇"
    ETHANOL = "M", "乙醇"
    SOLAR = "N", "太阳能"
    HYBRID = "O", "混合动力"
    HYDROGEN = "P", "氢"
    BIOFUEL = "Q", "生物燃料"  # one source only [S]
    NONE = "Y", "无"
    OTHER = "Z", "其他"

    @property
    def is_gas(self) -> bool:
        """Gas-fuelled (natural gas, LPG): control rules treat "国五及以下燃气" separately (§3.10)."""
        return self in {FuelType.NATURAL_GAS, FuelType.LPG}

    @property
    def is_new_energy(self) -> bool:
        """Zero tailpipe emission: battery electric, solar, hydrogen [I: hybrids are not counted]."""
        return self in {FuelType.ELECTRIC, FuelType.SOLAR, FuelType.HYDROGEN}

    @classmethod
    def _aliases(cls) -> Mapping[str, FuelType]:
        return _FUEL_ALIASES


_FUEL_ALIASES: Final = {
    "X": FuelType.HYDROGEN,  # the other hydrogen code (§3.3)
    "氢气": FuelType.HYDROGEN,
    "氢燃料": FuelType.HYDROGEN,
    "燃料电池": FuelType.HYDROGEN,
    "纯电": FuelType.ELECTRIC,
    "纯电动": FuelType.ELECTRIC,
    "电动": FuelType.ELECTRIC,
    "CNG": FuelType.NATURAL_GAS,
    "LNG": FuelType.NATURAL_GAS,
    "压缩天然气": FuelType.NATURAL_GAS,
    "液化天然气": FuelType.NATURAL_GAS,
    "燃气": FuelType.NATURAL_GAS,
    "混动": FuelType.HYBRID,
    "油电混合": FuelType.HYBRID,
    "其它": FuelType.OTHER,
}


def parse_fuel_type(raw: object) -> FuelType:
    """Parse a fuel type from its GA code (``B``; ``P`` or ``X`` for hydrogen) or name (``柴油``).

    Raises:
        InvalidValueError: ``fuel_type.empty`` / ``fuel_type.unknown``.
    """
    return FuelType.parse(raw)


def fuel_code(fuel: FuelType, *, hydrogen: Literal["P", "X"] = "P") -> str:
    """The GA code to send to a regulator; ``hydrogen`` picks the code for hydrogen."""
    return hydrogen if fuel is FuelType.HYDROGEN else fuel.code


class VehicleClass(CodeTable, table="vehicle_class", title="车辆类型大类"):
    """First letter of a GA/T 16.4 vehicle-type code (REGULATION.md §3.4 [C])."""

    PASSENGER = "K", "客车"
    TRUCK = "H", "货车"
    TRACTOR_UNIT = "Q", "牵引车"
    SPECIAL_PURPOSE = "Z", "专项作业车"
    TROLLEY = "D", "电车"
    MOTORCYCLE = "M", "摩托车"
    TRICYCLE = "N", "三轮汽车"
    AGRICULTURAL_TRACTOR = "T", "拖拉机"
    WHEELED_MACHINE = "J", "轮式机械"
    FULL_TRAILER = "G", "全挂车"
    SEMI_TRAILER = "B", "半挂车"
    OTHER = "X", "其他"


class VehicleType(CodeTable, table="vehicle_type", title="车辆类型"):
    """机动车车辆类型, GA/T 16.4-2012 three-character code (REGULATION.md §3.4).

    Every code §3.4 lists explicitly is [C]; the K, M, N, T, J, D sub-codes and the trailer
    sub-codes beyond "B11–B3x, G11–G3x" are completed from the published GA/T 16.4 table [I:
    check against the standard text].
    """

    # --- Passenger cars: 客车 ---
    K10 = "K10", "大型客车"
    K11 = "K11", "大型普通客车"
    K12 = "K12", "大型双层客车"
    K13 = "K13", "大型卧铺客车"
    K14 = "K14", "大型铰接客车"
    K15 = "K15", "大型越野客车"
    K16 = "K16", "大型轿车"
    K17 = "K17", "大型专用客车"
    K18 = "K18", "大型专用校车"
    K20 = "K20", "中型客车"
    K21 = "K21", "中型普通客车"
    K22 = "K22", "中型双层客车"
    K23 = "K23", "中型卧铺客车"
    K24 = "K24", "中型铰接客车"
    K25 = "K25", "中型越野客车"
    K26 = "K26", "中型轿车"
    K27 = "K27", "中型专用客车"
    K28 = "K28", "中型专用校车"
    K30 = "K30", "小型客车"
    K31 = "K31", "小型普通客车"
    K32 = "K32", "小型越野客车"
    K33 = "K33", "小型轿车"
    K34 = "K34", "小型专用客车"
    K38 = "K38", "小型专用校车"
    K39 = "K39", "小型面包车"
    K40 = "K40", "微型客车"
    K41 = "K41", "微型普通客车"
    K42 = "K42", "微型越野客车"
    K43 = "K43", "微型轿车"
    K49 = "K49", "微型面包车"
    # --- Trucks: 货车 ---
    H10 = "H10", "重型货车"
    H11 = "H11", "重型普通货车"
    H12 = "H12", "重型厢式货车"
    H13 = "H13", "重型封闭货车"
    H14 = "H14", "重型罐式货车"
    H15 = "H15", "重型平板货车"
    H16 = "H16", "重型集装厢车"
    H17 = "H17", "重型自卸货车"
    H18 = "H18", "重型特殊结构货车"
    H19 = "H19", "重型仓栅式货车"
    H20 = "H20", "中型货车"
    H21 = "H21", "中型普通货车"
    H22 = "H22", "中型厢式货车"
    H23 = "H23", "中型封闭货车"
    H24 = "H24", "中型罐式货车"
    H25 = "H25", "中型平板货车"
    H26 = "H26", "中型集装厢车"
    H27 = "H27", "中型自卸货车"
    H28 = "H28", "中型特殊结构货车"
    H29 = "H29", "中型仓栅式货车"
    H30 = "H30", "轻型货车"
    H31 = "H31", "轻型普通货车"
    H32 = "H32", "轻型厢式货车"
    H33 = "H33", "轻型封闭货车"
    H34 = "H34", "轻型罐式货车"
    H35 = "H35", "轻型平板货车"
    H37 = "H37", "轻型自卸货车"
    H38 = "H38", "轻型特殊结构货车"
    H39 = "H39", "轻型仓栅式货车"
    H40 = "H40", "微型货车"
    H41 = "H41", "微型普通货车"
    H42 = "H42", "微型厢式货车"
    H43 = "H43", "微型封闭货车"
    H44 = "H44", "微型罐式货车"
    H45 = "H45", "微型自卸货车"
    H46 = "H46", "微型特殊结构货车"
    H47 = "H47", "微型仓栅式货车"
    H50 = "H50", "低速货车"
    H51 = "H51", "普通低速货车"
    H52 = "H52", "厢式低速货车"
    H53 = "H53", "罐式低速货车"
    H54 = "H54", "自卸低速货车"
    H55 = "H55", "仓栅式低速货车"
    # --- Tractor units: 牵引车 ---
    Q10 = "Q10", "重型牵引车"
    Q11 = "Q11", "重型半挂牵引车"
    Q12 = "Q12", "重型全挂牵引车"
    Q20 = "Q20", "中型牵引车"
    Q21 = "Q21", "中型半挂牵引车"
    Q22 = "Q22", "中型全挂牵引车"
    Q30 = "Q30", "轻型牵引车"
    Q31 = "Q31", "轻型半挂牵引车"
    Q32 = "Q32", "轻型全挂牵引车"
    # --- Special-purpose vehicles: 专项作业车 ---
    Z11 = "Z11", "大型专项作业车"
    Z21 = "Z21", "中型专项作业车"
    Z31 = "Z31", "小型专项作业车"
    Z41 = "Z41", "微型专项作业车"
    Z51 = "Z51", "重型专项作业车"
    Z71 = "Z71", "轻型专项作业车"
    # --- Trolleys: 电车 ---
    D11 = "D11", "无轨电车"
    D12 = "D12", "有轨电车"
    # --- Motorcycles: 摩托车 ---
    M11 = "M11", "普通正三轮摩托车"
    M12 = "M12", "轻便正三轮摩托车"
    M13 = "M13", "正三轮载客摩托车"
    M14 = "M14", "正三轮载货摩托车"
    M15 = "M15", "侧三轮摩托车"
    M21 = "M21", "普通二轮摩托车"
    M22 = "M22", "轻便二轮摩托车"
    # --- Three-wheeled vehicles: 三轮汽车 ---
    N11 = "N11", "三轮汽车"
    # --- Tractors: 拖拉机 ---
    T11 = "T11", "大型轮式拖拉机"
    T21 = "T21", "小型轮式拖拉机"
    T22 = "T22", "手扶拖拉机"
    T23 = "T23", "手扶变形运输机"
    # --- Wheeled machinery: 轮式机械 ---
    J11 = "J11", "轮式装载机械"
    J12 = "J12", "轮式挖掘机械"
    J13 = "J13", "轮式平地机械"
    # --- Full trailers: 全挂车 ---
    G10 = "G10", "重型全挂车"
    G11 = "G11", "重型普通全挂车"
    G12 = "G12", "重型厢式全挂车"
    G13 = "G13", "重型罐式全挂车"
    G14 = "G14", "重型平板全挂车"
    G15 = "G15", "重型集装箱全挂车"
    G16 = "G16", "重型自卸全挂车"
    G17 = "G17", "重型仓栅式全挂车"
    G18 = "G18", "重型旅居全挂车"
    G19 = "G19", "重型专项作业全挂车"
    G20 = "G20", "中型全挂车"
    G21 = "G21", "中型普通全挂车"
    G22 = "G22", "中型厢式全挂车"
    G23 = "G23", "中型罐式全挂车"
    G24 = "G24", "中型平板全挂车"
    G25 = "G25", "中型集装箱全挂车"
    G26 = "G26", "中型自卸全挂车"
    G27 = "G27", "中型仓栅式全挂车"
    G28 = "G28", "中型旅居全挂车"
    G29 = "G29", "中型专项作业全挂车"
    G30 = "G30", "轻型全挂车"
    G31 = "G31", "轻型普通全挂车"
    G32 = "G32", "轻型厢式全挂车"
    G33 = "G33", "轻型罐式全挂车"
    G34 = "G34", "轻型平板全挂车"
    G35 = "G35", "轻型自卸全挂车"
    G36 = "G36", "轻型仓栅式全挂车"
    G37 = "G37", "轻型旅居全挂车"
    G38 = "G38", "轻型专项作业全挂车"
    # --- Semi-trailers: 半挂车 ---
    B10 = "B10", "重型半挂车"
    B11 = "B11", "重型普通半挂车"
    B12 = "B12", "重型厢式半挂车"
    B13 = "B13", "重型罐式半挂车"
    B14 = "B14", "重型平板半挂车"
    B15 = "B15", "重型集装箱半挂车"
    B16 = "B16", "重型自卸半挂车"
    B17 = "B17", "重型特殊结构半挂车"
    B18 = "B18", "重型仓栅式半挂车"
    B19 = "B19", "重型旅居半挂车"
    B1A = "B1A", "重型专项作业半挂车"
    B1B = "B1B", "重型低平板半挂车"
    B20 = "B20", "中型半挂车"
    B21 = "B21", "中型普通半挂车"
    B22 = "B22", "中型厢式半挂车"
    B23 = "B23", "中型罐式半挂车"
    B24 = "B24", "中型平板半挂车"
    B25 = "B25", "中型集装箱半挂车"
    B26 = "B26", "中型自卸半挂车"
    B27 = "B27", "中型特殊结构半挂车"
    B28 = "B28", "中型仓栅式半挂车"
    B29 = "B29", "中型旅居半挂车"
    B2A = "B2A", "中型专项作业半挂车"
    B2B = "B2B", "中型低平板半挂车"
    B30 = "B30", "轻型半挂车"
    B31 = "B31", "轻型普通半挂车"
    B32 = "B32", "轻型厢式半挂车"
    B33 = "B33", "轻型罐式半挂车"
    B34 = "B34", "轻型平板半挂车"
    B35 = "B35", "轻型自卸半挂车"
    B36 = "B36", "轻型仓栅式半挂车"
    B37 = "B37", "轻型旅居半挂车"
    B38 = "B38", "轻型专项作业半挂车"
    B39 = "B39", "轻型低平板半挂车"
    # Other
    X99 = "X99", "其他"

    @property
    def vehicle_class(self) -> VehicleClass:
        """The class named by the first letter (K, H, Q, …)."""
        return VehicleClass(self.code[0])


def parse_vehicle_type(raw: object) -> VehicleType:
    """Parse a GA/T 16.4 vehicle type from its code (``H11``) or name (``重型普通货车``).

    Raises:
        InvalidValueError: ``vehicle_type.empty`` / ``vehicle_type.unknown``.
    """
    return VehicleType.parse(raw)


#: Gross-mass threshold of a heavy truck (REGULATION.md §4.4 [I]).
HEAVY_TRUCK_MIN_MASS_KG: Final = 12_000
#: Types that are heavy trucks whatever their mass: H1x, Q1x, Z11, Z51 (§3.4, §4.4 [I]).
HEAVY_TRUCK_TYPES: Final = frozenset(
    t for t in VehicleType if t.code[:2] in {"H1", "Q1"} or t in {VehicleType.Z11, VehicleType.Z51}
)
#: Classes whose members count as heavy trucks by mass alone (goods, towing, special-purpose and
#: "other"); buses, trailers, tractors and motorcycles never do [I].
_MASS_RULE_CLASSES: Final = frozenset(
    {VehicleClass.TRUCK, VehicleClass.TRACTOR_UNIT, VehicleClass.SPECIAL_PURPOSE, VehicleClass.OTHER}
)


def is_heavy_truck(code: VehicleType | str | None, total_mass_kg: float | None = None) -> bool:
    """Tell whether a vehicle is a "heavy truck" for the control rules (REGULATION.md §4.4 [I]).

    Heavy = type H1x, Q1x, Z11 or Z51, **or** total mass ≥ 12,000 kg for a goods, tractor-unit,
    special-purpose or other vehicle (or when the type is unknown, ``code=None``). A bus of 15 t
    is not a truck, and a trailer is not a motor vehicle, so mass alone does not make them heavy.

    Raises:
        InvalidValueError: ``vehicle_type.unknown`` for a code that is not in GA/T 16.4.
    """
    vehicle_type = None if code is None else VehicleType.parse(code)
    if vehicle_type in HEAVY_TRUCK_TYPES:
        return True
    if total_mass_kg is None or total_mass_kg < HEAVY_TRUCK_MIN_MASS_KG:
        return False
    return vehicle_type is None or vehicle_type.vehicle_class in _MASS_RULE_CLASSES


class UseNature(CodeTable, table="use_nature", title="使用性质"):
    """使用性质 (REGULATION.md §3.5 [S]; the 19-entry list, not the drifting P–S variant)."""

    NON_OPERATING = "A", "非营运"
    HIGHWAY_PASSENGER = "B", "公路客运"
    BUS_PASSENGER = "C", "公交客运"
    TAXI = "D", "出租客运"
    TOURISM = "E", "旅游客运"
    FREIGHT = "F", "货运"
    RENTAL = "G", "租赁"
    POLICE = "H", "警用"
    FIRE = "I", "消防"
    AMBULANCE = "J", "救护"
    ENGINEERING_RESCUE = "K", "工程抢险"
    OPERATING_TO_NON = "L", "营转非"
    TAXI_TO_NON = "M", "出租转非"
    COACH = "N", "教练"
    KINDERGARTEN_BUS = "O", "幼儿校车"
    PRIMARY_SCHOOL_BUS = "P", "小学校车"
    OTHER_SCHOOL_BUS = "Q", "其他校车"
    DANGEROUS_GOODS = "R", "危险品运输"
    OTHER = "Z", "其他"

    @property
    def is_exempt_service(self) -> bool:
        """Emergency services usually exempted from control measures (§4.4 [I]): police, fire, ambulance, rescue."""
        return self in {UseNature.POLICE, UseNature.FIRE, UseNature.AMBULANCE, UseNature.ENGINEERING_RESCUE}


def parse_use_nature(raw: object) -> UseNature:
    """Parse a use nature from its code (``F``) or name (``货运``).

    Raises:
        InvalidValueError: ``use_nature.empty`` / ``use_nature.unknown``.
    """
    return UseNature.parse(raw)


class PlateType(CodeTable, table="plate_type", title="号牌种类"):
    """号牌种类 (REGULATION.md §3.6 [S]); 26/27 (HK/Macau) and 51/52 (NEV) are [I: verify]."""

    LARGE_VEHICLE = "01", "大型汽车"
    SMALL_VEHICLE = "02", "小型汽车"
    EMBASSY_VEHICLE = "03", "使馆汽车"
    CONSULATE_VEHICLE = "04", "领馆汽车"
    OVERSEAS_VEHICLE = "05", "境外汽车"
    FOREIGN_VEHICLE = "06", "外籍汽车"
    MOTORCYCLE = "07", "两、三轮摩托车"
    MOPED = "08", "轻便摩托车"
    EMBASSY_MOTORCYCLE = "09", "使馆摩托车"
    CONSULATE_MOTORCYCLE = "10", "领馆摩托车"
    OVERSEAS_MOTORCYCLE = "11", "境外摩托车"
    FOREIGN_MOTORCYCLE = "12", "外籍摩托车"
    FARM_TRANSPORT = "13", "农用运输车"
    TRACTOR = "14", "拖拉机"
    TRAILER = "15", "挂车"
    COACH_VEHICLE = "16", "教练汽车"
    COACH_MOTORCYCLE = "17", "教练摩托车"
    TEST_VEHICLE = "18", "试验汽车"
    TEST_MOTORCYCLE = "19", "试验摩托车"
    TEMPORARY_ENTRY_VEHICLE = "20", "临时入境汽车"
    TEMPORARY_ENTRY_MOTORCYCLE = "21", "临时入境摩托车"
    TEMPORARY = "22", "临时行驶车"
    POLICE_VEHICLE = "23", "警用汽车"
    POLICE_MOTORCYCLE = "24", "警用摩托"
    HONG_KONG = "26", "香港入出境车"
    MACAU = "27", "澳门入出境车"
    LARGE_NEV = "51", "大型新能源汽车"
    SMALL_NEV = "52", "小型新能源汽车"
    OTHER = "99", "其他"

    @classmethod
    def _aliases(cls) -> Mapping[str, PlateType]:
        # Codes arrive as integers too: 1 → "01".
        return {str(int(t.code)): t for t in cls}


def parse_plate_type(raw: object) -> PlateType:
    """Parse a plate type from its code (``01``, ``1``) or name (``大型汽车``).

    Raises:
        InvalidValueError: ``plate_type.empty`` / ``plate_type.unknown``.
    """
    return PlateType.parse(raw)


def plate_type_for(plate: Plate, colour: PlateColour | None = None) -> PlateType:
    """The usual 号牌种类 of a parsed plate (yellow ordinary → 01 大型汽车, blue → 02 小型汽车) [I]."""
    if plate.kind is PlateKind.ORDINARY:
        return PlateType.LARGE_VEHICLE if colour is PlateColour.YELLOW else PlateType.SMALL_VEHICLE
    if plate.kind is PlateKind.HK_MACAU:
        return PlateType.HONG_KONG if plate.number.endswith("港") else PlateType.MACAU
    return _KIND_PLATE_TYPES[plate.kind]


_KIND_PLATE_TYPES: Final = {
    PlateKind.NEV_SMALL: PlateType.SMALL_NEV,
    PlateKind.NEV_LARGE: PlateType.LARGE_NEV,
    PlateKind.TRAILER: PlateType.TRAILER,
    PlateKind.COACH: PlateType.COACH_VEHICLE,
    PlateKind.POLICE: PlateType.POLICE_VEHICLE,
    PlateKind.EMBASSY: PlateType.EMBASSY_VEHICLE,
    PlateKind.CONSULATE: PlateType.CONSULATE_VEHICLE,
    PlateKind.EMERGENCY: PlateType.OTHER,  # 应急救援专用号牌 has no code of its own in the table [I]
}


class VehicleCategory(CodeTable, table="vehicle_category", title="台账车辆类别"):
    """The three ledgers a plant keeps (REGULATION.md §1.2 [C], §1.4 tables 3/4/5)."""

    TRANSPORT = "transport", "进出厂运输车辆"
    IN_PLANT = "in_plant", "厂内运输车辆"
    NRMM = "nrmm", "非道路移动机械"

    @property
    def template_table(self) -> int:
        """Number of the table in the 2020 ledger template (3, 4 or 5; §1.4.1)."""
        return {VehicleCategory.TRANSPORT: 3, VehicleCategory.IN_PLANT: 4, VehicleCategory.NRMM: 5}[self]

    @classmethod
    def _aliases(cls) -> Mapping[str, VehicleCategory]:
        return {
            "运输车辆": cls.TRANSPORT,
            "场内运输车辆": cls.IN_PLANT,
            "场内车辆": cls.IN_PLANT,
            "厂内车辆": cls.IN_PLANT,
            "非道路机械": cls.NRMM,
        }


def parse_vehicle_category(raw: object) -> VehicleCategory:
    """Parse a ledger category (``transport``, ``厂内运输车辆``, ``非道路移动机械``).

    Raises:
        InvalidValueError: ``vehicle_category.empty`` / ``vehicle_category.unknown``.
    """
    return VehicleCategory.parse(raw)
