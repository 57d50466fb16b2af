"""Plate colour: the plate grammar narrows the choice, pixels decide between what is left.

Kinds issue in fixed colours (``hj1321.plates.KIND_COLOURS``): NEV small → green, NEV large →
yellow_green, police → white, embassy/consulate/HK-Macau → black, trailer/coach → yellow. Only
ordinary plates need the pixels: blue or yellow. Blue plates have more blue than red in their
background, yellow ones the reverse; the comparison of channel means is scale-free, so it holds in
low light where hue thresholds fail.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hj1321.plates import KIND_COLOURS, PlateColour, parse_plate

Image8 = npt.NDArray[np.uint8]


def pixel_colour(crop: Image8) -> PlateColour:
    """The dominant plate colour of a BGR crop, among all canonical colours (a rough guess)."""
    if crop.size == 0:
        return PlateColour.OTHER
    pixels = crop.reshape(-1, 3).astype(np.float32)
    b, g, r = pixels.mean(axis=0)
    value = max(b, g, r)
    spread = value - min(b, g, r)
    if spread < 0.18 * max(value, 1.0):
        return PlateColour.WHITE if value > 110 else PlateColour.BLACK
    if b > r and b >= g:
        return PlateColour.BLUE
    if g > r * 1.1 and g > b:
        return PlateColour.GREEN
    return PlateColour.YELLOW


def plate_colour(plate: str, crop: Image8) -> PlateColour:
    """Colour of the plate ``plate`` seen in ``crop`` (BGR, the plate area)."""
    choices = KIND_COLOURS[parse_plate(plate).kind]
    if len(choices) == 1:
        return choices[0]
    if crop.size == 0:
        return choices[0]
    pixels = crop.reshape(-1, 3).astype(np.float32)
    b, _, r = pixels.mean(axis=0)
    guess = PlateColour.BLUE if b > r else PlateColour.YELLOW
    return guess if guess in choices else choices[0]


def colour_conflict(colour: PlateColour, crop: Image8) -> bool:
    """Whether the pixels contradict the colour the grammar gave (e.g. a green NEV plate read as a
    7-character ordinary plate because a character was lost): such reads go to review."""
    if crop.size == 0:
        return False
    b, g, r = crop.reshape(-1, 3).astype(np.float32).mean(axis=0)
    greenish = g > 1.1 * r and g > 1.1 * b
    if colour in {PlateColour.BLUE, PlateColour.YELLOW, PlateColour.WHITE, PlateColour.BLACK}:
        return bool(greenish)
    if colour in {PlateColour.GREEN, PlateColour.YELLOW_GREEN}:
        return bool(b > 1.2 * g)
    return False
