"""Emission stages (排放阶段) with the ordering control rules need (REGULATION.md §3.2, §4.4).

One table serves road vehicles (国0…国7) and non-road machinery (国一…国四, GB 20891): the
2020 ledger template codes both with the same ``char(1)`` (``0``…``6``, ``d`` electric, ``x`` no
stage; §1.4.1 [C]), so "国三" is the same member whether it is written on a truck or an excavator.

Ordering: members compare by :attr:`EmissionStage.rank`, never as strings (``"D" > "6"`` would be
wrong). Electric ranks above every combustion stage (it passes any "≥ 国五 or NEV" rule); ``X`` (no
emission stage) ranks below 国0 [I]: a machine without a certified stage is treated as the oldest,
so "≤ 国二" rules catch it. Comparing with anything but another stage raises ``TypeError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from hj1321._table import CodeTable, normalise_token
from hj1321.errors import InvalidValueError


class EmissionStage(CodeTable, table="emission_stage", title="排放阶段"):
    """China emission stage; the value is the platform code (``0``…``7``, ``D``, ``X``)."""

    CN0 = "0", "国0"  # §3.2 [C] template: 国0 = 0
    CN1 = "1", "国一"  # §3.2 [C]; also NRMM 国一 (GB 20891-2007)
    CN2 = "2", "国二"  # §3.2 [C]; also NRMM 国二 (GB 20891-2007)
    CN3 = "3", "国三"  # §3.2 [C]; also NRMM 国三 (GB 20891-2014)
    CN4 = "4", "国四"  # §3.2 [C]; also NRMM 国四 (GB 20891-2014)
    CN5 = "5", "国五"  # §3.2 [C]
    CN6 = "6", "国六"  # §3.2 [C]; 6a/6b folded in [I]
    CN7 = "7", "国七"  # §3.2 [S] placeholder seen in a platform decoder
    ELECTRIC = "D", "电动"  # §3.2 [C] template `d`; [S] platforms `D`
    NONE = "X", "无排放阶段"  # §3.2 [C] template `x`; [S] platforms `X`

    @property
    def rank(self) -> int:
        """Position in the cleanliness order: X = -1 < 国0 = 0 < … < 国7 = 7 < electric = 100."""
        return _RANKS[self]

    @property
    def is_combustion(self) -> bool:
        """True for the numbered stages 国0…国7 (not electric, not "no stage")."""
        return self not in {EmissionStage.ELECTRIC, EmissionStage.NONE}

    @property
    def is_nrmm_stage(self) -> bool:
        """True for the stages GB 20891 defines for non-road machinery, plus electric and none."""
        return self in NRMM_STAGES

    @property
    def template_code(self) -> str:
        """The 2020 ledger template's ``char(1)``: ``0``…``7``, lower-case ``d`` and ``x`` (§1.4.1)."""
        return str(self.value).lower()

    @property
    def platform_code(self) -> str:
        """The code regulator platforms use: ``0``…``7``, upper-case ``D`` and ``X`` (§3.2 [S])."""
        return str(self.value)

    def at_most(self, other: EmissionStage) -> bool:
        """``self ≤ other`` in rank order, e.g. ``stage.at_most(EmissionStage.CN4)`` for "国四及以下"."""
        return self.rank <= other.rank

    def at_least(self, other: EmissionStage) -> bool:
        """``self ≥ other`` in rank order, e.g. "国五及以上" (electric included)."""
        return self.rank >= other.rank

    def __lt__(self, other: str) -> bool:
        return self.rank < _other_rank(self, other)

    def __le__(self, other: str) -> bool:
        return self.rank <= _other_rank(self, other)

    def __gt__(self, other: str) -> bool:
        return self.rank > _other_rank(self, other)

    def __ge__(self, other: str) -> bool:
        return self.rank >= _other_rank(self, other)

    @classmethod
    def _aliases(cls) -> Mapping[str, EmissionStage]:
        return _ALIASES


def _other_rank(stage: EmissionStage, other: object) -> int:
    if not isinstance(other, EmissionStage):
        # A plain str compared with a stage would silently use string order; refuse instead.
        raise TypeError(f"cannot order EmissionStage {stage.value!r} against {other!r}")
    return other.rank


_RANKS: Final = {
    EmissionStage.NONE: -1,
    EmissionStage.CN0: 0,
    EmissionStage.CN1: 1,
    EmissionStage.CN2: 2,
    EmissionStage.CN3: 3,
    EmissionStage.CN4: 4,
    EmissionStage.CN5: 5,
    EmissionStage.CN6: 6,
    EmissionStage.CN7: 7,
    EmissionStage.ELECTRIC: 100,
}

#: Stages a non-road machine can have: GB 20891-2007 (国一, 国二) and GB 20891-2014 (国三, 国四),
#: plus electric and none (§3.2 [C]). Kept as data: a future NRMM 国五 is added here.
NRMM_STAGES: Final = frozenset(
    {
        EmissionStage.CN1,
        EmissionStage.CN2,
        EmissionStage.CN3,
        EmissionStage.CN4,
        EmissionStage.ELECTRIC,
        EmissionStage.NONE,
    }
)

_NUMERALS: Final = (
    ("0", "零", "〇", "O"),  # "国O" is a common OCR/typing slip for 国0
    ("1", "一", "Ⅰ", "I"),
    ("2", "二", "Ⅱ", "II"),
    ("3", "三", "Ⅲ", "III"),
    ("4", "四", "Ⅳ", "IV"),
    ("5", "五", "Ⅴ", "V"),
    ("6", "六", "Ⅵ", "VI"),
    ("7", "七", "Ⅶ", "VII"),
)


def _build_aliases() -> dict[str, EmissionStage]:
    aliases: dict[str, EmissionStage] = {}
    for number, *spellings in _NUMERALS:
        stage = EmissionStage(number)
        for spelling in (number, *spellings):
            for prefix in ("国", "CN", "CHINA", "CHINA-", "GB", ""):
                if prefix == "" and not spelling.isdigit() and spelling not in {"Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "Ⅵ", "Ⅶ"}:
                    continue  # a bare "I" or "V" is too ambiguous
                for suffix in ("", "阶段", "标准", "排放"):
                    aliases[normalise_token(f"{prefix}{spelling}{suffix}")] = stage
    for spelling in ("电", "电动", "纯电", "纯电动", "新能源", "ELECTRIC", "EV", "BEV"):
        aliases[normalise_token(spelling)] = EmissionStage.ELECTRIC
    for spelling in ("无", "无排放阶段", "无阶段", "NONE", "N/A"):
        aliases[normalise_token(spelling)] = EmissionStage.NONE
    return aliases


_ALIASES: Final = _build_aliases()

# China VI sub-stages (GB 17691-2018 / GB 18352.6-2016): 6a/6b, VIa/VIb, 国六a/国六b → 国六 [I].
_SUB_STAGE: Final = re.compile(r"^(.*?)(?:[AB]|-[AB]|\([AB]\))$")


def parse_emission_stage(raw: object) -> EmissionStage:
    """Parse a stage from a code (``5``, ``d``, ``X``) or a name (``国五``, ``国Ⅴ``, ``国六b``, ``电动``).

    China VI sub-stages (6a, 6b, 国六b, VIb) fold into :attr:`EmissionStage.CN6`.

    Raises:
        InvalidValueError: ``emission_stage.empty`` / ``emission_stage.unknown``.
    """
    try:
        return EmissionStage.parse(raw)
    except InvalidValueError:
        if isinstance(raw, str):
            match = _SUB_STAGE.match(normalise_token(raw))
            if match and match.group(1):
                folded = EmissionStage.parse(match.group(1)) if EmissionStage.is_valid(match.group(1)) else None
                if folded is EmissionStage.CN6:
                    return folded
        raise


def parse_nrmm_stage(raw: object) -> EmissionStage:
    """Parse a non-road machinery stage: 国一…国四, electric or none.

    Raises:
        InvalidValueError: as :func:`parse_emission_stage`, or ``emission_stage.nrmm`` for a
            stage GB 20891 does not define for machinery (e.g. 国五).
    """
    stage = parse_emission_stage(raw)
    if stage not in NRMM_STAGES:
        raise InvalidValueError(
            "emission_stage.nrmm",
            f"非道路移动机械的排放阶段只能是国一至国四、电动或无排放阶段，不能是{stage.label}",
            raw,
        )
    return stage


def stage_from_template_code(code: str) -> EmissionStage:
    """Decode the 2020 template's ``char(1)`` (``0``…``6``, ``d``, ``x``; ``7`` tolerated).

    Raises:
        InvalidValueError: ``emission_stage.template_code`` for anything else.
    """
    text = code.strip().upper() if isinstance(code, str) else ""
    if len(text) != 1 or text not in EmissionStage._value2member_map_:
        raise InvalidValueError("emission_stage.template_code", f"排放阶段代码“{code}”不是 0–7、d 或 x", code)
    return EmissionStage(text)


def is_valid_emission_stage(raw: object) -> bool:
    """Tell whether :func:`parse_emission_stage` accepts ``raw``."""
    try:
        parse_emission_stage(raw)
    except InvalidValueError:
        return False
    return True
