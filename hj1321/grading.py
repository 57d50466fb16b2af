"""Performance grades (绩效分级) and heavy-pollution emergency levels (REGULATION.md §3.10, §4).

Both are ordered: grades from 引领性 (best) down to D, warning levels from none up to red. Members
compare by ``rank`` (comparing with anything but a member of the same table raises ``TypeError``),
so rules can say ``level >= WarningLevel.ORANGE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hj1321._table import CodeTable


class _Ranked(CodeTable):
    """A code table whose members are ordered by ``rank`` instead of by string value."""

    @property
    def rank(self) -> int:
        """Position in the table's order (higher = better grade / more severe level)."""
        return list(type(self)).index(self)

    def _other_rank(self, other: object) -> int:
        if type(other) is not type(self):
            raise TypeError(f"cannot order {type(self).__name__} {self.value!r} against {other!r}")
        assert isinstance(other, _Ranked)
        return other.rank

    def __lt__(self, other: str) -> bool:
        return self.rank < self._other_rank(other)

    def __le__(self, other: str) -> bool:
        return self.rank <= self._other_rank(other)

    def __gt__(self, other: str) -> bool:
        return self.rank > self._other_rank(other)

    def __ge__(self, other: str) -> bool:
        return self.rank >= self._other_rank(other)


class PerformanceGrade(_Ranked, table="performance_grade", title="绩效分级"):
    """Enterprise performance grade (REGULATION.md §1.1 [C], §4.2; order [I]).

    Declared worst to best, so ``rank`` grows with the grade: D < C < B- < B < A < 引领性.
    """

    D = "D", "D级"
    C = "C", "C级"
    B_MINUS = "B-", "B-级"
    B = "B", "B级"
    A = "A", "A级"
    LEADING = "leading", "引领性"

    @property
    def requires_hj1321(self) -> bool:
        """Applicants for A, B, B- and 引领性 must meet HJ 1321-2023 (§1.1 [C])."""
        return self in {PerformanceGrade.A, PerformanceGrade.B, PerformanceGrade.B_MINUS, PerformanceGrade.LEADING}

    @classmethod
    def _aliases(cls) -> Mapping[str, PerformanceGrade]:
        return {
            "引领": cls.LEADING,
            "引领性企业": cls.LEADING,
            "L": cls.LEADING,
            "B−": cls.B_MINUS,  # U+2212 minus sign
            "B_MINUS": cls.B_MINUS,
            "BMINUS": cls.B_MINUS,
        }


def parse_performance_grade(raw: object) -> PerformanceGrade:
    """Parse a grade: ``A``, ``B``, ``B-``, ``C``, ``D``, ``引领性`` (also ``A级``, ``leading``).

    Raises:
        InvalidValueError: ``performance_grade.empty`` / ``performance_grade.unknown``.
    """
    return PerformanceGrade.parse(raw)


class ResponseLevel(_Ranked, table="response_level", title="应急响应级别"):
    """Emergency response level; Ⅲ is the lowest, Ⅰ the highest (REGULATION.md §3.10, §4.3 [C])."""

    LEVEL_III = "III", "Ⅲ级"
    LEVEL_II = "II", "Ⅱ级"
    LEVEL_I = "I", "Ⅰ级"

    @property
    def platform_code(self) -> int:
        """Code used by platforms (§3.10 [S]): 1 = Ⅰ级, 2 = Ⅱ级, 3 = Ⅲ级."""
        return {ResponseLevel.LEVEL_I: 1, ResponseLevel.LEVEL_II: 2, ResponseLevel.LEVEL_III: 3}[self]

    @classmethod
    def _aliases(cls) -> Mapping[str, ResponseLevel]:
        return {
            "Ⅲ": cls.LEVEL_III,
            "三级": cls.LEVEL_III,
            "3": cls.LEVEL_III,
            "Ⅱ": cls.LEVEL_II,
            "二级": cls.LEVEL_II,
            "2": cls.LEVEL_II,
            "Ⅰ": cls.LEVEL_I,
            "一级": cls.LEVEL_I,
            "1": cls.LEVEL_I,
        }


class WarningLevel(_Ranked, table="warning_level", title="预警级别"):
    """Heavy-pollution warning level (REGULATION.md §3.10 [S], §4.3 [C]); ``NONE`` = no warning."""

    NONE = "none", "无预警"
    YELLOW = "yellow", "黄色预警"
    ORANGE = "orange", "橙色预警"
    RED = "red", "红色预警"

    @property
    def colour_label(self) -> str:
        """The one-character colour shown on screens: 黄, 橙, 红 ('无' for none)."""
        return {WarningLevel.NONE: "无", WarningLevel.YELLOW: "黄", WarningLevel.ORANGE: "橙", WarningLevel.RED: "红"}[
            self
        ]

    @property
    def response_level(self) -> ResponseLevel | None:
        """The response a warning triggers: yellow → Ⅲ, orange → Ⅱ, red → Ⅰ (§4.3 [C])."""
        return _RESPONSE.get(self)

    @property
    def platform_code(self) -> int | None:
        """Code used by platforms (§3.10 [S]): 1 黄色, 2 橙色, 3 红色; none has no code."""
        return {WarningLevel.YELLOW: 1, WarningLevel.ORANGE: 2, WarningLevel.RED: 3}.get(self)

    @classmethod
    def from_response_level(cls, level: ResponseLevel) -> WarningLevel:
        """The warning colour that triggers ``level``."""
        return {r: w for w, r in _RESPONSE.items()}[level]

    @classmethod
    def _aliases(cls) -> Mapping[str, WarningLevel]:
        return {
            "无": cls.NONE,
            "0": cls.NONE,
            "黄": cls.YELLOW,
            "黄色": cls.YELLOW,
            "1": cls.YELLOW,
            "橙": cls.ORANGE,
            "橙色": cls.ORANGE,
            "2": cls.ORANGE,
            "红": cls.RED,
            "红色": cls.RED,
            "3": cls.RED,
        }


_RESPONSE: Final = {
    WarningLevel.YELLOW: ResponseLevel.LEVEL_III,
    WarningLevel.ORANGE: ResponseLevel.LEVEL_II,
    WarningLevel.RED: ResponseLevel.LEVEL_I,
}


def parse_warning_level(raw: object) -> WarningLevel:
    """Parse a warning level: ``yellow``, ``黄``, ``橙色预警``, platform code ``1``–``3``; ``none``/``无``.

    Raises:
        InvalidValueError: ``warning_level.empty`` / ``warning_level.unknown``.
    """
    return WarningLevel.parse(raw)


def parse_response_level(raw: object) -> ResponseLevel:
    """Parse a response level: ``Ⅰ``/``I``/``一级``/``1`` … ``Ⅲ``.

    Raises:
        InvalidValueError: ``response_level.empty`` / ``response_level.unknown``.
    """
    return ResponseLevel.parse(raw)


class ControlStrategy(CodeTable, table="control_strategy", title="管控策略"):
    """Platform control-strategy codes (REGULATION.md §3.10 [S]); the escalation ladder of §4.3."""

    BAN_CN3_HEAVY_DIESEL_GAS = "1", "禁行国三及以下重型柴油(燃气)车"
    BAN_CN4_HEAVY_DIESEL_GAS = "2", "禁行国四及以下重型柴油(燃气)车"
    BAN_CN4_DIESEL_CN5_GAS = "3", "禁行国四及以下重型柴油与国五及以下燃气车"
    STOP_ROAD_TRANSPORT = "4", "停止公路运输"


def parse_control_strategy(raw: object) -> ControlStrategy:
    """Parse a platform control-strategy code (``1``–``4``) or its Chinese text.

    Raises:
        InvalidValueError: ``control_strategy.empty`` / ``control_strategy.unknown``.
    """
    return ControlStrategy.parse(raw)
