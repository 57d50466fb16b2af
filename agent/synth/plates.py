"""Render Chinese licence plates (GA 36-style layouts) as images, one pixel per millimetre.

Every kind of :mod:`hj1321.plates` is covered: blue and yellow ordinary plates (yellow also
double-row, as on trucks), trailer (挂, double-row), coach (学), police (警, white), embassy (使),
consulate (领) and Hong Kong/Macau (港/澳) plates (black), small NEV (white-to-green gradient) and
large NEV (yellow-green) plates.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from agent.synth.fonts import cjk_font
from hj1321.plates import (
    DIGITS,
    LETTERS,
    NEV_ENERGY_LETTERS,
    PROVINCES,
    PlateColour,
    PlateKind,
    is_valid_plate,
)

Image8 = npt.NDArray[np.uint8]

# RGB colours of plate backgrounds and characters.
_BLUE = (0, 62, 170)
_YELLOW = (245, 190, 25)
_WHITE = (236, 238, 236)
_BLACK = (22, 22, 24)
_GREEN = (60, 185, 95)
_GREEN_TOP = (236, 246, 238)
_RED = (228, 36, 36)
_INK_DARK = (18, 18, 18)
_INK_LIGHT = (245, 245, 245)


@dataclass(frozen=True, slots=True)
class PlateSpec:
    """What to render: the canonical number, its kind and colour, and single or double row."""

    number: str
    kind: PlateKind
    colour: PlateColour
    double_row: bool = False

    @property
    def category(self) -> str:
        """Bench category: the colour, with ``_double`` for double-row plates."""
        return f"{self.colour}_double" if self.double_row else str(self.colour)


def _alnum(rng: random.Random, n: int, max_letters: int = 2) -> str:
    chars: list[str] = []
    letters = 0
    for _ in range(n):
        if letters < max_letters and rng.random() < 0.22:
            chars.append(rng.choice(LETTERS))
            letters += 1
        else:
            chars.append(rng.choice(DIGITS))
    return "".join(chars)


def random_number(rng: random.Random, kind: PlateKind) -> str:
    """A random plate number of ``kind`` that follows the grammar."""
    prov = rng.choice(PROVINCES)
    letter = rng.choice(LETTERS)
    if kind is PlateKind.ORDINARY:
        number = prov + letter + _alnum(rng, 5)
    elif kind is PlateKind.NEV_SMALL:
        number = prov + letter + rng.choice(NEV_ENERGY_LETTERS) + _alnum(rng, 1, 1) + "".join(rng.choices(DIGITS, k=4))
    elif kind is PlateKind.NEV_LARGE:
        number = prov + letter + "".join(rng.choices(DIGITS, k=5)) + rng.choice(NEV_ENERGY_LETTERS)
    elif kind is PlateKind.HK_MACAU:
        number = "粤Z" + _alnum(rng, 4) + rng.choice("港澳")
    elif kind is PlateKind.EMBASSY:
        number = "使" + "".join(rng.choices(DIGITS, k=6))
    else:
        suffix = {
            PlateKind.TRAILER: "挂",
            PlateKind.COACH: "学",
            PlateKind.POLICE: "警",
            PlateKind.CONSULATE: "领",
        }[kind]
        number = prov + letter + _alnum(rng, 4) + suffix
    assert is_valid_plate(number), number
    return number


#: Bench categories and how to draw a spec for each: (kind, colour, double_row).
CATEGORIES: dict[str, tuple[tuple[PlateKind, PlateColour, bool], ...]] = {
    "blue": ((PlateKind.ORDINARY, PlateColour.BLUE, False),),
    "yellow": (
        (PlateKind.ORDINARY, PlateColour.YELLOW, False),
        (PlateKind.COACH, PlateColour.YELLOW, False),
    ),
    "yellow_double": (
        (PlateKind.ORDINARY, PlateColour.YELLOW, True),
        (PlateKind.TRAILER, PlateColour.YELLOW, True),
    ),
    "green": ((PlateKind.NEV_SMALL, PlateColour.GREEN, False),),
    "yellow_green": ((PlateKind.NEV_LARGE, PlateColour.YELLOW_GREEN, False),),
    "white": ((PlateKind.POLICE, PlateColour.WHITE, False),),
    "black": (
        (PlateKind.EMBASSY, PlateColour.BLACK, False),
        (PlateKind.CONSULATE, PlateColour.BLACK, False),
        (PlateKind.HK_MACAU, PlateColour.BLACK, False),
    ),
}
#: Relative frequency of categories in generated scenes (a freight gate: many trucks).
CATEGORY_WEIGHTS: dict[str, float] = {
    "blue": 0.18,
    "yellow": 0.10,
    "yellow_double": 0.24,
    "green": 0.16,
    "yellow_green": 0.16,
    "white": 0.08,
    "black": 0.08,
}


def random_spec(rng: random.Random, category: str | None = None) -> PlateSpec:
    """A random plate of ``category`` (see :data:`CATEGORIES`), or of a weighted random one."""
    if category is None:
        names = list(CATEGORY_WEIGHTS)
        category = rng.choices(names, weights=[CATEGORY_WEIGHTS[n] for n in names])[0]
    kind, colour, double_row = rng.choice(CATEGORIES[category])
    return PlateSpec(random_number(rng, kind), kind, colour, double_row)


@functools.cache
def _glyph(char: str, height: int) -> npt.NDArray[np.uint8]:
    """Coverage mask of ``char`` cropped to its ink, rendered about ``height`` px tall."""
    size = int(height * 1.25)
    font = cjk_font(size)
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), char, font=font, fill=255)
    arr = np.asarray(canvas, dtype=np.uint8)
    ys, xs = np.nonzero(arr > 40)
    return np.ascontiguousarray(arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def _draw_char(img: Image8, char: str, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """Draw ``char`` into ``box`` (x, y, w, h); CJK glyphs fill the box, Latin ones keep their aspect."""
    x, y, w, h = box
    glyph = _glyph(char, h * 2)
    gh, gw = glyph.shape
    if ord(char) > 0x2E80:
        tw, th = w, h
    else:
        th = h
        tw = min(w, max(3, round(gw * h / gh * 1.15)))
    mask = cv2.resize(glyph, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    ox = x + (w - tw) // 2
    region = img[y : y + th, ox : ox + tw].astype(np.float32)
    ink = np.array(colour[::-1], dtype=np.float32)  # RGB -> BGR
    region = region * (1 - mask[..., None]) + ink * mask[..., None]
    img[y : y + th, ox : ox + tw] = region.astype(np.uint8)


def _row_boxes(
    n: int, sep_after: int, width: int, y: int, char_w: int, char_h: int, gap: int, sep_gap: int
) -> tuple[list[tuple[int, int, int, int]], int]:
    total = n * char_w + (n - 2) * gap + sep_gap if sep_after else n * char_w + (n - 1) * gap
    x = (width - total) / 2
    boxes: list[tuple[int, int, int, int]] = []
    dot_x = 0
    for i in range(n):
        boxes.append((round(x), y, char_w, char_h))
        x += char_w
        if i + 1 == sep_after:
            dot_x = round(x + sep_gap / 2)
            x += sep_gap
        elif i + 1 < n:
            x += gap
    return boxes, dot_x


def _background(spec: PlateSpec, width: int, height: int) -> tuple[Image8, tuple[int, int, int]]:
    img = np.zeros((height, width, 3), dtype=np.uint8)
    colour = spec.colour
    if colour is PlateColour.GREEN:
        top = np.array(_GREEN_TOP[::-1], dtype=np.float32)
        bottom = np.array(_GREEN[::-1], dtype=np.float32)
        t = np.clip((np.arange(height, dtype=np.float32) / height - 0.15) / 0.7, 0, 1)[:, None, None]
        img[:] = (top * (1 - t) + bottom * t).astype(np.uint8)
        return img, _INK_DARK
    if colour is PlateColour.YELLOW_GREEN:
        img[:] = _GREEN[::-1]
        img[:, : round(width * 0.27)] = _YELLOW[::-1]
        return img, _INK_DARK
    bg, ink = {
        PlateColour.BLUE: (_BLUE, _INK_LIGHT),
        PlateColour.YELLOW: (_YELLOW, _INK_DARK),
        PlateColour.WHITE: (_WHITE, _INK_DARK),
        PlateColour.BLACK: (_BLACK, _INK_LIGHT),
    }[colour]
    img[:] = bg[::-1]
    return img, ink


def render_plate(spec: PlateSpec) -> Image8:
    """Render ``spec`` as a BGR image (440×140, 480×140 for NEV, 440×220 double-row)."""
    number = spec.number
    nev = spec.kind in {PlateKind.NEV_SMALL, PlateKind.NEV_LARGE}
    width = 480 if nev else 440
    height = 220 if spec.double_row else 140
    img, ink = _background(spec, width, height)
    cv2.rectangle(img, (5, 5), (width - 6, height - 6), ink[::-1], 3, cv2.LINE_AA)
    red_chars = {"警", "使", "领"}
    if spec.double_row:
        top, bottom = number[:2], number[2:]
        boxes, _ = _row_boxes(2, 0, width, 18, 80, 58, 90, 0)
        for ch, box in zip(top, boxes, strict=True):
            _draw_char(img, ch, box, ink)
        cv2.circle(img, (width // 2, 18 + 29), 5, ink[::-1], -1, cv2.LINE_AA)
        boxes, _ = _row_boxes(len(bottom), 0, width, 92, 65, 108, 14, 0)
        for ch, box in zip(bottom, boxes, strict=True):
            _draw_char(img, ch, box, _RED if ch in red_chars else ink)
        return img
    sep_after = 4 if spec.kind is PlateKind.EMBASSY else 2
    if nev:
        boxes, dot_x = _row_boxes(len(number), sep_after, width, 25, 43, 90, 9, 34)
    else:
        boxes, dot_x = _row_boxes(len(number), sep_after, width, 25, 45, 90, 12, 34)
    for ch, box in zip(number, boxes, strict=True):
        _draw_char(img, ch, box, _RED if ch in red_chars else ink)
    cv2.circle(img, (dot_x, 70), 5, ink[::-1], -1, cv2.LINE_AA)
    return img
