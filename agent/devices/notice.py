"""What the lane tells the driver at the barrier: the HJ 1321 display content and its voice prompt (issue 23).

HJ 1321's display requirement (REGULATION.md §1.3): the screen at each gate shows the **plate
number, the emission stage, the current control status and whether passage is allowed**.
:class:`GateNotice` carries exactly that; :class:`NoticeTemplates` turns it into LED lines and a
spoken sentence. Every text is a template an installer can change per screen
(``[devices.leds.templates]``); placeholders: ``{plate}``, ``{plate_spoken}``, ``{stage}``,
``{control}``, ``{verdict}``, ``{reason}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec

from agent.devices.types import LedColour, LedLine, LedScreen

Template = Annotated[str, msgspec.Meta(max_length=200)]

_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
#: The lane screen of agent.runtime.pipeline (plate / stage / verdict / reason) and its verdict texts.
LANE_ALLOWED = "欢迎光临 请通行"
LANE_REFUSED = "禁止通行"


_LEVELS = {"yellow": "黄色", "orange": "橙色", "red": "红色"}  # hj1321.grading.WarningLevel


def control_text(emergency_level: str | None) -> str:
    """The control status of a pass event's ``emergency_level`` (``none`` → empty: the template's default)."""
    colour = _LEVELS.get((emergency_level or "none").lower())
    return f"{colour}预警 管控中" if colour else ""


def spoken_plate(plate: str) -> str:
    """A plate as it is read out at a gate: digits one by one (1 as 幺), letters spaced."""
    return " ".join(_DIGITS.get(ch, ch) for ch in plate if not ch.isspace())


@dataclass(frozen=True, slots=True)
class GateNotice:
    """One pass as the gate announces it."""

    plate: str
    emission_stage: str = ""
    #: Current control status (e.g. ``橙色预警 管控中``); empty when the lane does not know it.
    control: str = ""
    allowed: bool = False
    reason: str = ""

    @classmethod
    def from_lane_screen(cls, screen: LedScreen) -> GateNotice | None:
        """The notice behind the lane pipeline's standard screen, or None for any other screen."""
        texts = screen.texts
        if len(texts) < 3 or texts[2] not in {LANE_ALLOWED, LANE_REFUSED}:
            return None
        return cls(
            plate=texts[0],
            emission_stage=texts[1],
            allowed=texts[2] == LANE_ALLOWED,
            reason=texts[3] if len(texts) > 3 else "",
        )


def lane_screen(notice: GateNotice) -> LedScreen:
    """The lane's classic four lines (plate / stage / 欢迎光临 请通行 or 禁止通行 / reason), for screens
    without templates: what agent.runtime.pipeline shows on them."""
    colour = LedColour.GREEN if notice.allowed else LedColour.RED
    return LedScreen(
        (
            LedLine(notice.plate or "未识别", LedColour.YELLOW),
            LedLine(notice.emission_stage or "排放阶段未知", colour),
            LedLine(LANE_ALLOWED if notice.allowed else LANE_REFUSED, colour),
            LedLine(notice.reason, colour),
        )
    )


class NoticeTemplates(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``templates``: the wording of the screen and the voice (defaults in Chinese, per HJ 1321)."""

    lines: Annotated[tuple[Template, ...], msgspec.Meta(min_length=1, max_length=8)] = (
        "{plate}",
        "{stage}",
        "{control}",
        "{verdict}",
    )
    """Screen lines; a line whose placeholders are all empty is left out."""
    allowed: Template = "请通行"
    """``{verdict}`` when the vehicle may pass."""
    refused: Template = "禁止通行"
    """``{verdict}`` when it may not."""
    no_control: Template = "无管控"
    """``{control}`` when no control measure is in force (or the lane does not know it)."""
    no_stage: Template = "排放阶段未知"
    """``{stage}`` when the stage is unknown."""
    voice: Template = "{plate_spoken}，{stage}，{verdict}"
    """The spoken prompt."""

    def __post_init__(self) -> None:
        errors = check_templates(self)
        if errors:
            raise ValueError("；".join(errors))

    def fields(self, notice: GateNotice) -> dict[str, str]:
        """Placeholder values of ``notice``."""
        return {
            "plate": notice.plate or "未识别车辆",
            "plate_spoken": spoken_plate(notice.plate) if notice.plate else "未识别车辆",
            "stage": notice.emission_stage or self.no_stage,
            "control": notice.control or self.no_control,
            "verdict": self.allowed if notice.allowed else self.refused,
            "reason": notice.reason,
        }

    def screen(self, notice: GateNotice) -> LedScreen:
        """The LED lines: plate yellow, the rest green when allowed, red when refused."""
        values = self.fields(notice)
        colour = LedColour.GREEN if notice.allowed else LedColour.RED
        lines = []
        for i, template in enumerate(self.lines):
            text = template.format_map(values).strip()
            if text:
                lines.append(LedLine(text, LedColour.YELLOW if i == 0 else colour))
        return LedScreen(tuple(lines))

    def speech(self, notice: GateNotice) -> str:
        """The spoken sentence."""
        return self.voice.format_map(self.fields(notice)).strip()


def check_templates(templates: NoticeTemplates) -> list[str]:
    """Chinese errors for templates naming unknown placeholders (checked at config load)."""
    errors = []
    sample = dict.fromkeys(("plate", "plate_spoken", "stage", "control", "verdict", "reason"), "")
    for where, template in [(f"lines[{i}]", t) for i, t in enumerate(templates.lines)] + [("voice", templates.voice)]:
        try:
            template.format_map(sample)
        except (KeyError, ValueError, IndexError) as exc:
            errors.append(f"模板 {where}“{template}”无效：{exc}（可用：{'、'.join('{' + k + '}' for k in sample)}）")
    return errors
