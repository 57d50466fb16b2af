"""One vocabulary for every page (issue 19 item 2): codes shown by their Chinese names from hj1321's tables.

Templates never print a stored code: ``{{ v|colour }}``, ``{{ v|stage }}``, ``{{ v|fuel }}``,
``{{ codes|anomalies }}``, ``{{ code|code("vehicle_type") }}`` (any table of ``hj1321.CODE_TABLES``).
An unknown code falls back to a neutral Chinese word, never to the raw token (the raw-code scan of the
browser walks, tests/portal/browser_kit.py, fails on any Latin token that reaches a page). The same
functions are Jinja filters and globals of the one portal environment (frontend_api/portal/regulator.py),
so no page carries its own mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from jinja2 import Environment
from markupsafe import Markup

import hj1321
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType

__all__ = ["anomalies", "code", "colour", "fuel", "ident", "install", "stage", "trigger"]

_UNKNOWN: Final = "未知"


def code(value: Any, table: str) -> str:
    """The Chinese name of ``value`` in hj1321's table ``table`` (e.g. ``vehicle_type``); "—" when empty."""
    if value is None or value == "":
        return "—"
    kind = hj1321.CODE_TABLES[table]
    try:
        return str(kind.parse(str(value)).label)
    except (ValueError, KeyError, hj1321.InvalidValueError):
        return _UNKNOWN


def colour(value: Any) -> str:
    """Plate colour code (``yellow``) → 黄色."""
    if not value:
        return "—"
    try:
        return PlateColour(str(value)).label
    except ValueError:
        try:
            return hj1321.parse_plate_colour(str(value)).label
        except (ValueError, hj1321.InvalidValueError):
            return _UNKNOWN


def stage(value: Any) -> str:
    """Emission stage code (``6``, ``D``) → 国六, 电动."""
    if value is None or value == "":
        return "—"
    try:
        return EmissionStage.parse(str(value)).label
    except (ValueError, hj1321.InvalidValueError):
        return _UNKNOWN


def fuel(value: Any) -> str:
    """Fuel type code (``B``) → 柴油."""
    if value is None or value == "":
        return "—"
    try:
        return FuelType.parse(str(value)).label
    except (ValueError, hj1321.InvalidValueError):
        return _UNKNOWN


def anomalies(codes: Iterable[str] | None) -> str:
    """Agent anomaly codes (``weighing_missing``) → their Chinese names, joined by 、; "—" when none."""
    from cloud.compliance.flags import anomaly_label  # noqa: PLC0415 - the portal imports the domain late

    names = [anomaly_label(c) for c in codes or ()]
    return "、".join(_UNKNOWN if n.isascii() else n for n in names) or "—"


def ident(value: Any) -> Markup:
    """An identifier people type or copy (login, enrollment code, agent or lane name), not a word to translate.

    Marked ``translate="no"``: browsers leave it alone and the raw-code scan of the browser walks knows it is a
    code column, not an untranslated code.
    """
    return Markup('<span translate="no">{}</span>').format("—" if value is None or value == "" else value)


#: How a pass was triggered (pass_event.trigger's CHECK): the record page's 触发方式.
_TRIGGERS: Final = {
    "auto": "自动识别",
    "manual_entry": "人工录入车牌",
    "manual_release": "人工放行",
}


def trigger(value: Any) -> str:
    """Pass trigger code (``auto``) → 自动识别."""
    return _TRIGGERS.get(str(value), "其他方式") if value else "—"


def install(env: Environment) -> None:
    """Register the vocabulary as filters and globals of ``env``."""
    for name, function in (
        ("code", code),
        ("colour", colour),
        ("stage", stage),
        ("fuel", fuel),
        ("anomalies", anomalies),
        ("ident", ident),
        ("trigger", trigger),
    ):
        env.filters[name] = function
        env.globals[f"{name}_label"] = function
