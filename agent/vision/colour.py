"""Plate colour: the plate grammar narrows the choice, pixels decide between what is left.

Kinds issue in fixed colours (``hj1321.plates.KIND_COLOURS``): NEV small → green, NEV large →
yellow_green, police → white, embassy/consulate/HK-Macau → black, trailer/coach → yellow. Only
ordinary plates need the pixels: blue or yellow. Blue plates have more blue than red in their
background, yellow ones the reverse; the comparison of channel means is scale-free, so it holds in
low light where hue thresholds fail.
"""

from __future__ import annotations

import cv2
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
    guess = PlateColour.BLUE if _blue_not_yellow(crop) else PlateColour.YELLOW
    return guess if guess in choices else choices[0]


def _blue_not_yellow(crop: Image8) -> bool:
    """Blue or yellow background: hue votes of the saturated pixels of the plate's inner part, else
    the mean blue vs red channel (issue 18: on real night photographs the whole-box channel means
    called dark blue plates yellow, 11 of the real set's tune part; the hue vote gets 9 of them)."""
    h, w = crop.shape[:2]
    inner = crop[int(0.15 * h) : max(int(0.85 * h), int(0.15 * h) + 1), int(0.08 * w) : max(int(0.92 * w), 1)]
    if inner.size == 0:
        inner = crop
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    saturated = (sat >= 50) & (val >= 35)
    blue = int(np.count_nonzero(saturated & (hue >= 90) & (hue <= 135)))
    yellow = int(np.count_nonzero(saturated & (hue >= 8) & (hue <= 40)))
    if blue + yellow >= 0.08 * len(hsv):
        return blue >= yellow
    b, _, r = inner.reshape(-1, 3).astype(np.float32).mean(axis=0)
    return bool(b > r)


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
