"""Plate-colour mapping on the wire: every canonical colour reaches the platform in its scheme's code.

REGULATION.md §3.1: transportControl speaks scheme B (white 2, black 3), the ETC scheme swaps them.
"""

from __future__ import annotations

import pytest

from cloud.uplink.adapters import Outcome
from hj1321 import ColourScheme, PlateColour, colour_from_scheme, colour_to_scheme
from tests.uplink.test_adapter_transport_control import _adapter, _no_photo, _record

pytestmark = pytest.mark.anyio

#: The table the transportControl profile must put on the wire (§3.1 column B).
SCHEME_B = {
    PlateColour.BLUE: "0",
    PlateColour.YELLOW: "1",
    PlateColour.WHITE: "2",
    PlateColour.BLACK: "3",
    PlateColour.GREEN: "4",
    PlateColour.OTHER: "5",
    PlateColour.YELLOW_GREEN: "6",
}


def test_white_black_swap_between_schemes() -> None:
    assert colour_to_scheme(PlateColour.WHITE, ColourScheme.HENAN) == 2
    assert colour_to_scheme(PlateColour.WHITE, ColourScheme.ETC) == 3
    assert colour_to_scheme(PlateColour.BLACK, ColourScheme.HENAN) == 3
    assert colour_to_scheme(PlateColour.BLACK, ColourScheme.ETC) == 2
    for colour in PlateColour:
        for scheme in ColourScheme:
            assert colour_from_scheme(colour_to_scheme(colour, scheme), scheme) is colour


async def test_every_colour_is_sent_in_scheme_b(regsim) -> None:
    adapter = _adapter(regsim.url)
    try:
        for colour, code in SCHEME_B.items():
            record = _record(plate=f"鄂A1234{len(code) + list(SCHEME_B).index(colour)}", colour=colour.value)
            result = await adapter.send(record, _no_photo)
            assert result.outcome is Outcome.DELIVERED, (colour, result)
            assert regsim.records[record.serial]["cpys"] == code, colour
    finally:
        await adapter.close()
