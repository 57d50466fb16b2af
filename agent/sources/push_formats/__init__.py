"""Camera push families behind :class:`agent.sources.camera_push.PushFormat` (issue 23).

``FAMILIES`` names every family; a camera's config key ``push_format`` picks one (``formats_for``),
no key accepts any of them (each ``matches`` its own body).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

from agent.sources.camera_push import CameraPushReceiver, HikvisionIsapiFormat, PushFormat, ReadHandler
from agent.sources.push_formats.common import ClockCheck, to_lane_read
from agent.sources.push_formats.dahua import DahuaItcFormat
from agent.sources.push_formats.generic import GenericJsonFormat
from agent.sources.push_formats.vzenith import VzenithFormat

PushFamily = Literal["hikvision-isapi", "dahua-itc", "vzenith-vz", "generic-json"]
FAMILIES: Final[dict[str, Callable[[], PushFormat]]] = {
    "hikvision-isapi": HikvisionIsapiFormat,
    "dahua-itc": DahuaItcFormat,
    "vzenith-vz": VzenithFormat,
    "generic-json": GenericJsonFormat,
}

__all__ = [
    "FAMILIES",
    "ClockCheck",
    "DahuaItcFormat",
    "GenericJsonFormat",
    "PushFamily",
    "VzenithFormat",
    "camera_receiver",
    "formats_for",
    "to_lane_read",
]


def formats_for(family: str | None = None) -> list[PushFormat]:
    """The formats a receiver accepts: the one family named, or all of them."""
    if family is None:
        return [make() for make in FAMILIES.values()]
    try:
        return [FAMILIES[family]()]
    except KeyError:
        raise ValueError(f"未知的摄像机推送格式“{family}”（可选：{'、'.join(FAMILIES)}）") from None


def camera_receiver(
    camera_id: str, on_read: ReadHandler, *, push_format: str | None = None, clock_skew_s: float = 120.0
) -> tuple[CameraPushReceiver, ClockCheck]:
    """A receiver for one configured camera (``[[cameras]]`` ``push_format``, ``clock_skew_s``) and its
    clock check, whose ``health`` reports ``clock_skew`` like any device health."""
    clock = ClockCheck(camera_id, threshold_s=clock_skew_s)
    return CameraPushReceiver(on_read, formats_for(push_format), checks=[clock.check]), clock
