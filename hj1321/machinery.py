"""Non-road mobile machinery: machine kinds, 环保登记编码 and 信息公开编号 (REGULATION.md §3.7).

* Machine kinds come from registration notices [C for the list], codes are our slugs [I].
* The 环保登记编码 (env registration code, also used for in-plant vehicles' 登记编码或内部管理号牌)
  has no national format: free text of at most 32 characters (template ``char(32)``, §1.4.1)
  over a sane alphabet [I].
* The 信息公开编号 is 24 characters [C for engines/NRMM]: ``CN`` + type (2 letters) + emission
  stage (2) + noise stage (2) + enterprise code (4) + model serial (6) + serial (6).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hj1321._table import CodeTable
from hj1321.emission import EmissionStage
from hj1321.errors import InvalidValueError


class MachineKind(CodeTable, table="machine_kind", title="机械种类"):
    """机械种类 of non-road mobile machinery (REGULATION.md §3.7)."""

    EXCAVATOR = "excavator", "挖掘机"
    CRANE = "crane", "起重机"
    BULLDOZER = "bulldozer", "推土机"
    LOADER = "loader", "装载机"
    ROLLER = "roller", "压路机"
    PAVER = "paver", "摊铺机"
    GRADER = "grader", "平地机"
    FORKLIFT = "forklift", "叉车"
    PILING = "piling", "桩工机械"
    STACKER = "stacker", "堆高机"
    TRACTOR = "tractor", "牵引车"
    SHUTTLE = "shuttle", "摆渡车"
    IN_PLANT_VEHICLE = "in_plant_vehicle", "场内车辆"
    OTHER = "other", "其他"

    @classmethod
    def _aliases(cls) -> Mapping[str, MachineKind]:
        return {
            "挖机": cls.EXCAVATOR,
            "吊车": cls.CRANE,
            "铲车": cls.LOADER,
            "压路机械": cls.ROLLER,
            "桩机": cls.PILING,
            "厂内车辆": cls.IN_PLANT_VEHICLE,
            "其它": cls.OTHER,
        }


def parse_machine_kind(raw: object) -> MachineKind:
    """Parse a machine kind from its slug (``loader``) or Chinese name (``装载机``, ``铲车``).

    Raises:
        InvalidValueError: ``machine_kind.empty`` / ``machine_kind.unknown``.
    """
    return MachineKind.parse(raw)


# --- 环保登记编码 ---------------------------------------------------------------------------

#: Longest registration code (template char(32)).
ENV_CODE_MAX_LENGTH: Final = 32
_ENV_CODE_EXTRA: Final = "-_"


def _is_env_code_char(char: str) -> bool:
    if char.isascii():
        return char.isdigit() or "A" <= char <= "Z" or char in _ENV_CODE_EXTRA
    # CJK unified ideographs: province abbreviations and words like 临 in local codes.
    return "\u4e00" <= char <= "\u9fff"


def parse_env_code(raw: object) -> str:
    """Validate a 环保登记编码 / NRMM env code and return it canonical (NFKC, upper case, trimmed).

    Accepted: 1–32 characters of A–Z, 0–9, ``-``, ``_`` and Chinese characters (province
    abbreviations appear in local codes); inner whitespace is not allowed.

    Raises:
        InvalidValueError: ``env_code.type``, ``env_code.empty``, ``env_code.length`` or ``env_code.character``.
    """
    if not isinstance(raw, str):
        raise InvalidValueError("env_code.type", "环保登记编码应为文本", raw)
    text = unicodedata.normalize("NFKC", raw).strip().upper()
    if not text:
        raise InvalidValueError("env_code.empty", "环保登记编码为空", raw)
    if len(text) > ENV_CODE_MAX_LENGTH:
        raise InvalidValueError("env_code.length", f"环保登记编码过长（{len(text)} 位，最多 32 位）", raw)
    for char in text:
        if not _is_env_code_char(char):
            shown = "空格" if char.isspace() else f"“{char}”"
            raise InvalidValueError("env_code.character", f"环保登记编码含有非法字符{shown}", raw)
    return text


def is_valid_env_code(raw: object) -> bool:
    """Tell whether :func:`parse_env_code` accepts ``raw``."""
    try:
        parse_env_code(raw)
    except InvalidValueError:
        return False
    return True


# --- 信息公开编号 --------------------------------------------------------------------------

INFO_NUMBER_LENGTH: Final = 24
_ALNUM: Final = re.compile(r"[0-9A-Z]+")
_STAGE_CODE: Final = re.compile(r"G([0-7])")


@dataclass(frozen=True, slots=True)
class InfoDisclosureNumber:
    """A parsed 环保信息公开编号 (REGULATION.md §3.7 [C] for the layout)."""

    number: str

    @property
    def type_code(self) -> str:
        """Positions 3–4: product type, e.g. ``FJ`` = compression-ignition NRMM."""
        return self.number[2:4]

    @property
    def stage_code(self) -> str:
        """Positions 5–6: emission stage, e.g. ``G3``."""
        return self.number[4:6]

    @property
    def noise_code(self) -> str:
        """Positions 7–8: noise stage (``00`` for engines and NRMM)."""
        return self.number[6:8]

    @property
    def enterprise_code(self) -> str:
        """Positions 9–12: the manufacturer's system-assigned code."""
        return self.number[8:12]

    @property
    def model_serial(self) -> str:
        """Positions 13–18: model serial."""
        return self.number[12:18]

    @property
    def serial(self) -> str:
        """Positions 19–24: further serial."""
        return self.number[18:24]

    @property
    def emission_stage(self) -> EmissionStage | None:
        """The stage named by ``G<n>`` in positions 5–6, or None when coded otherwise [I]."""
        match = _STAGE_CODE.fullmatch(self.stage_code)
        return EmissionStage(match[1]) if match else None


def parse_info_disclosure_number(raw: object) -> InfoDisclosureNumber:
    """Validate a 24-character 信息公开编号 (``CN`` + type letters + 20 letters/digits).

    Raises:
        InvalidValueError: ``info_number.type``, ``.empty``, ``.length``, ``.character``,
            ``.prefix`` or ``.type_code``, each with a Chinese reason.
    """
    if not isinstance(raw, str):
        raise InvalidValueError("info_number.type", "信息公开编号应为文本", raw)
    text = "".join(unicodedata.normalize("NFKC", raw).split()).upper()
    if not text:
        raise InvalidValueError("info_number.empty", "信息公开编号为空", raw)
    if len(text) != INFO_NUMBER_LENGTH:
        raise InvalidValueError("info_number.length", f"信息公开编号应为 24 位，实际 {len(text)} 位", raw)
    if not (text.isascii() and _ALNUM.fullmatch(text)):
        bad = next(c for c in text if not (c.isascii() and _ALNUM.fullmatch(c)))
        raise InvalidValueError("info_number.character", f"信息公开编号只能含字母和数字，发现“{bad}”", raw)
    if not text.startswith("CN"):
        raise InvalidValueError("info_number.prefix", "信息公开编号应以“CN”开头", raw)
    if not text[2:4].isalpha():
        raise InvalidValueError("info_number.type_code", "信息公开编号第 3–4 位应为类别字母（如 FJ）", raw)
    return InfoDisclosureNumber(text)


def is_valid_info_disclosure_number(raw: object) -> bool:
    """Tell whether :func:`parse_info_disclosure_number` accepts ``raw``."""
    try:
        parse_info_disclosure_number(raw)
    except InvalidValueError:
        return False
    return True
