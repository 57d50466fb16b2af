"""The key industries HJ 1321-2023 applies to (REGULATION.md §1.1).

The scope text names "~39 key industries" [C]; the exact split and names below follow the 39
industries of the 2020 emergency emission-reduction guide (环办大气函〔2020〕340号) that the
scope text paraphrases [I: check the split — e.g. long- vs short-process steel, molybdenum
separate from lead-zinc — against the official list]. Codes are our own stable slugs; there is no
official numeric code.
"""

from __future__ import annotations

from collections.abc import Mapping

from hj1321._table import CodeTable


class Industry(CodeTable, table="industry", title="重点行业"):
    """A key industry of the performance-grading scheme; ``OTHER`` = not a key industry."""

    STEEL_LONG_PROCESS = "steel_long_process", "长流程联合钢铁"
    STEEL_SHORT_PROCESS = "steel_short_process", "短流程钢铁"
    FERROALLOY = "ferroalloy", "铁合金"
    COKING = "coking", "焦化"
    LIME_KILN = "lime_kiln", "石灰窑"
    FOUNDRY = "foundry", "铸造"
    ALUMINA = "alumina", "氧化铝"
    ELECTROLYTIC_ALUMINIUM = "electrolytic_aluminium", "电解铝"
    CARBON = "carbon", "炭素"
    COPPER_SMELTING = "copper_smelting", "铜冶炼"
    LEAD_ZINC_SMELTING = "lead_zinc_smelting", "铅、锌冶炼"
    MOLYBDENUM_SMELTING = "molybdenum_smelting", "钼冶炼"
    SECONDARY_NONFERROUS = "secondary_nonferrous", "再生铜、铝、铅、锌"
    NONFERROUS_ROLLING = "nonferrous_rolling", "有色金属压延"
    CEMENT = "cement", "水泥"
    BRICK_TILE_KILN = "brick_tile_kiln", "砖瓦窑"
    CERAMICS = "ceramics", "陶瓷"
    REFRACTORIES = "refractories", "耐火材料"
    GLASS = "glass", "玻璃"
    ROCK_WOOL = "rock_wool", "岩矿棉"
    FRP = "frp", "玻璃钢"
    WATERPROOF_MATERIALS = "waterproof_materials", "防水建筑材料"
    REFINING_PETROCHEMICAL = "refining_petrochemical", "炼油与石油化工"
    CARBON_BLACK = "carbon_black", "炭黑制造"
    COAL_NITROGEN_FERTILISER = "coal_nitrogen_fertiliser", "煤制氮肥"
    PHARMACEUTICAL = "pharmaceutical", "制药"
    PESTICIDE = "pesticide", "农药制造"
    COATINGS = "coatings", "涂料制造"
    INKS = "inks", "油墨制造"
    CELLULOSE_ETHER = "cellulose_ether", "纤维素醚"
    PACKAGING_PRINTING = "packaging_printing", "包装印刷"
    WOOD_PANELS = "wood_panels", "人造板制造"
    SYNTHETIC_LEATHER = "synthetic_leather", "塑料人造革与合成革制造"
    RUBBER_PRODUCTS = "rubber_products", "橡胶制品制造"
    SHOES = "shoes", "制鞋"
    FURNITURE = "furniture", "家具制造"
    AUTOMOBILE_MANUFACTURING = "automobile_manufacturing", "汽车整车制造"
    CONSTRUCTION_MACHINERY = "construction_machinery", "工程机械整机制造"
    INDUSTRIAL_COATING = "industrial_coating", "工业涂装"
    OTHER = "other", "其他行业"

    @property
    def is_key_industry(self) -> bool:
        """True for the 39 key industries, False for ``OTHER``."""
        return self is not Industry.OTHER

    @classmethod
    def _aliases(cls) -> Mapping[str, Industry]:
        return {
            "钢铁": cls.STEEL_LONG_PROCESS,
            "长流程钢铁": cls.STEEL_LONG_PROCESS,
            "铅锌冶炼": cls.LEAD_ZINC_SMELTING,
            "再生有色金属": cls.SECONDARY_NONFERROUS,
            "石化": cls.REFINING_PETROCHEMICAL,
            "炼油": cls.REFINING_PETROCHEMICAL,
            "炭黑": cls.CARBON_BLACK,
            "农药": cls.PESTICIDE,
            "涂料": cls.COATINGS,
            "油墨": cls.INKS,
            "人造板": cls.WOOD_PANELS,
            "合成革": cls.SYNTHETIC_LEATHER,
            "橡胶制品": cls.RUBBER_PRODUCTS,
            "家具": cls.FURNITURE,
            "汽车制造": cls.AUTOMOBILE_MANUFACTURING,
            "工程机械制造": cls.CONSTRUCTION_MACHINERY,
            "其他": cls.OTHER,
        }


#: The 39 key industries, in the order of the 2020 guide.
KEY_INDUSTRIES: tuple[Industry, ...] = tuple(i for i in Industry if i.is_key_industry)


def parse_industry(raw: object) -> Industry:
    """Parse an industry from its slug (``cement``) or Chinese name (``水泥``).

    Raises:
        InvalidValueError: ``industry.empty`` / ``industry.unknown``.
    """
    return Industry.parse(raw)
