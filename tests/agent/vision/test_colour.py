"""Plate colour from grammar and pixels, and the conflict check that sends reads to review."""

from __future__ import annotations

import numpy as np

from agent.synth.plates import PlateSpec, render_plate
from agent.vision.colour import colour_conflict, plate_colour
from hj1321.plates import PlateColour, PlateKind


def _plate(number: str, kind: PlateKind, colour: PlateColour, dark: float = 1.0) -> np.ndarray:
    img = render_plate(PlateSpec(number, kind, colour)).astype(np.float32) * dark
    return img.astype(np.uint8)


def test_ordinary_blue_or_yellow_also_in_low_light() -> None:
    for dark in (1.0, 0.3):
        assert plate_colour("鄂A12345", _plate("鄂A12345", PlateKind.ORDINARY, PlateColour.BLUE, dark)) == "blue"
        assert plate_colour("鄂A12345", _plate("鄂A12345", PlateKind.ORDINARY, PlateColour.YELLOW, dark)) == "yellow"


def test_grammar_decides_fixed_colours() -> None:
    crop = _plate("鄂A12345", PlateKind.ORDINARY, PlateColour.BLUE)
    assert plate_colour("鄂AD12345", crop) == "green"
    assert plate_colour("鄂A12345D", crop) == "yellow_green"
    assert plate_colour("鄂A1234警", crop) == "white"
    assert plate_colour("使123456", crop) == "black"
    assert plate_colour("粤Z1234港", crop) == "black"
    assert plate_colour("鄂A1234挂", crop) == "yellow"


def test_conflict() -> None:
    green = _plate("湘D23064B", PlateKind.NEV_LARGE, PlateColour.YELLOW_GREEN)
    assert colour_conflict(PlateColour.YELLOW, green)  # an NEV plate read without its last character
    assert not colour_conflict(PlateColour.YELLOW_GREEN, green)
    blue = _plate("鄂A12345", PlateKind.ORDINARY, PlateColour.BLUE)
    assert not colour_conflict(PlateColour.BLUE, blue)
    assert colour_conflict(PlateColour.GREEN, blue)
    assert not colour_conflict(PlateColour.BLUE, np.zeros((0, 0, 3), np.uint8))
