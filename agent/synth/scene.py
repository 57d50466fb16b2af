"""Synthetic 1280×720 gate scenes with one plate (or none), for tests and the ALPR bench.

A scene is a procedural gate lane: sky, buildings, road, one to three distractor signs with
Chinese slogans and numbers (many in plate colours), and usually a truck or car front with a
plate on its bumper. The plate is warped with a random perspective, then the frame gets the
degradations of its *condition*. Everything follows from ``seed``: the same seed gives the same
image, byte for byte.

Fixed difficulty (the bench's contract, see docs/vision.md):

* plate width 100–300 px (``small``: 100–130 px), rotation up to ±6°, perspective up to 12 %;
* ``motion_blur``: 5–9 px line kernel; otherwise up to 3 px;
* ``noise``: Gaussian σ 8–12; otherwise up to 4;
* ``low_light``: brightness 25–40 % plus noise; otherwise 75–110 %;
* ``glare``: a bright soft blob over part of the plate;
* ``jpeg``: quality 40–55; otherwise 70–95;
* ``empty``: no plate (a vehicle without plate, or no vehicle), at least 10 % of bench scenes.
"""

from __future__ import annotations

import math
import random
from typing import Final

import cv2
import msgspec
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from agent.synth.fonts import cjk_font
from agent.synth.plates import PlateSpec, random_spec, render_plate

Image8 = npt.NDArray[np.uint8]

WIDTH: Final = 1280
HEIGHT: Final = 720
CONDITIONS: Final = ("normal", "small", "motion_blur", "noise", "low_light", "glare", "jpeg", "skew", "empty")

_SLOGANS: Final = (
    "安全生产 人人有责",
    "厂区限速5公里",
    "环保门禁 请减速慢行",
    "车辆进厂请登记",
    "限高4.5米",
    "1号门 出口",
    "GATE 2",
    "严禁烟火",
    "绿色运输 清洁生产",
    "称重区 请熄火",
    "EXIT 3",
    "国六车辆优先通行",
    "SPEED 5",
    "卸货区B2",
)
_SIGN_COLOURS: Final = (
    ((170, 62, 0), (245, 245, 245)),  # blue sign, white text (BGR)
    ((95, 185, 60), (245, 245, 245)),  # green sign
    ((25, 190, 245), (20, 20, 20)),  # yellow sign
    ((236, 236, 236), (30, 30, 200)),  # white sign, red text
    ((30, 30, 190), (240, 240, 240)),  # red sign
    ((35, 35, 35), (240, 240, 240)),  # black sign
)
BODY_COLOURS: Final = (
    (235, 235, 235),
    (200, 120, 30),
    (40, 40, 180),
    (30, 170, 230),
    (60, 130, 110),
    (110, 110, 110),
    (50, 110, 50),
    (140, 60, 20),
    (30, 30, 30),
)


class SceneTruth(msgspec.Struct, frozen=True):
    """What a generated scene contains. ``plate`` is ``None`` for an empty scene."""

    seed: int
    condition: str
    plate: str | None = None
    colour: str | None = None
    kind: str | None = None
    double_row: bool = False
    category: str | None = None
    box: tuple[int, int, int, int] | None = None


def background(rng: random.Random) -> Image8:
    img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    sky = np.array([rng.randint(150, 230), rng.randint(140, 210), rng.randint(110, 190)], dtype=np.float32)
    horizon = rng.randint(200, 320)
    t = np.linspace(0.7, 1.0, horizon, dtype=np.float32)[:, None, None]
    img[:horizon] = (sky * t).astype(np.uint8)
    ground = rng.randint(70, 120)
    img[horizon:] = (ground, ground + rng.randint(-5, 5), ground + rng.randint(-5, 10))
    for _ in range(rng.randint(2, 5)):  # buildings
        x = rng.randint(-100, WIDTH)
        w = rng.randint(150, 450)
        top = rng.randint(60, horizon - 20)
        grey = rng.randint(90, 200)
        cv2.rectangle(img, (x, top), (x + w, horizon), (grey, grey + rng.randint(-10, 10), grey), -1)
        for wy in range(top + 15, horizon - 20, 40):  # windows
            for wx in range(x + 15, x + w - 30, 45):
                cv2.rectangle(img, (wx, wy), (wx + 22, wy + 18), (grey - 40, grey - 35, grey - 30), -1)
    for _ in range(rng.randint(2, 6)):  # lane markings
        x = rng.randint(0, WIDTH)
        cv2.line(img, (x, HEIGHT), (x + rng.randint(-200, 200), horizon), (220, 220, 220), rng.randint(3, 8))
    return img


def _draw_text(img: Image8, text: str, org: tuple[int, int], size: int, colour: tuple[int, int, int]) -> None:
    """Draw Chinese text with PIL into a BGR image (in place)."""
    font = cjk_font(size)
    left, top, right, bottom = font.getbbox(text)
    x, y = org
    w, h = right - left + 4, bottom - top + 4
    x2, y2 = min(WIDTH, x + w), min(HEIGHT, y + h)
    if x2 <= x or y2 <= y:
        return
    patch = Image.fromarray(np.ascontiguousarray(img[y:y2, x:x2, ::-1]))
    ImageDraw.Draw(patch).text((-left + 2, -top + 2), text, font=font, fill=colour[::-1])
    img[y:y2, x:x2] = np.asarray(patch)[:, :, ::-1]


def draw_signs(img: Image8, rng: random.Random, avoid: tuple[int, int, int, int] | None) -> None:
    """Draw one to three signs with slogans, keeping a margin around ``avoid`` (the plate): a sign
    glued to the side of a plate is not what a gate camera sees."""
    if avoid is not None:
        mx, my = (avoid[2] - avoid[0]) // 3, (avoid[3] - avoid[1]) // 2
        avoid = (avoid[0] - mx, avoid[1] - my, avoid[2] + mx, avoid[3] + my)
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(_SLOGANS)
        size = rng.randint(20, 44)
        w = int(len(text) * size * rng.uniform(0.95, 1.2)) + 20
        h = int(size * rng.uniform(1.5, 2.2))
        for _attempt in range(10):
            x = rng.randint(0, max(1, WIDTH - w))
            y = rng.randint(10, HEIGHT - h - 10)
            if avoid is None or x + w < avoid[0] or x > avoid[2] or y + h < avoid[1] or y > avoid[3]:
                break
        else:
            continue
        bg, fg = rng.choice(_SIGN_COLOURS)
        cv2.rectangle(img, (x, y), (x + w, y + h), bg, -1)
        cv2.rectangle(img, (x + 3, y + 3), (x + w - 4, y + h - 4), fg, 2)
        _draw_text(img, text, (x + 10, y + (h - size) // 2 - 2), size, fg)


def _vehicle(img: Image8, rng: random.Random, plate_w: int, plate_h: int) -> tuple[int, int]:
    """Draw a random vehicle front sized for the plate; return the plate centre on its bumper."""
    body_w = int(plate_w * rng.uniform(3.2, 4.5))
    body_h = int(body_w * rng.uniform(0.7, 0.95))
    cx = rng.randint(plate_w + 40, WIDTH - plate_w - 40)
    # Keep the bumper (bottom - body_h / 5) high enough for the whole plate to stay in the frame.
    lowest = HEIGHT - 12 - plate_h + body_h // 5
    bottom = min(rng.randint(int(HEIGHT * 0.75), HEIGHT + body_h // 6), lowest)
    px, py = draw_vehicle(img, cx, bottom, body_w, body_h, rng.choice(BODY_COLOURS), plate_h)
    return px + rng.randint(-body_w // 10, body_w // 10), py


def draw_vehicle(
    img: Image8, cx: int, bottom: int, body_w: int, body_h: int, body: tuple[int, int, int], plate_h: int
) -> tuple[int, int]:
    """Draw a truck front (cab, windscreen, grille, lamps, bumper); return the plate centre."""
    x1, y1 = cx - body_w // 2, bottom - body_h
    cv2.rectangle(img, (x1, y1), (x1 + body_w, bottom), body, -1)
    shade = tuple(max(0, c - 60) for c in body)
    cv2.rectangle(
        img, (x1 + body_w // 12, y1 + body_h // 12), (x1 + body_w * 11 // 12, y1 + body_h * 2 // 5), (50, 45, 40), -1
    )
    grille_top, grille_bottom = y1 + body_h * 9 // 20, y1 + body_h * 7 // 10
    for gy in range(grille_top, grille_bottom, max(4, body_h // 30)):
        cv2.line(img, (x1 + body_w // 4, gy), (x1 + body_w * 3 // 4, gy), shade, max(1, body_h // 80))
    lamp_y = (grille_top + grille_bottom) // 2
    for lx in (x1 + body_w // 9, x1 + body_w * 8 // 9):
        cv2.ellipse(img, (lx, lamp_y), (max(1, body_w // 14), max(1, body_h // 22)), 0, 0, 360, (230, 240, 245), -1)
    bumper_y = y1 + body_h * 4 // 5
    cv2.rectangle(img, (x1, bumper_y - plate_h), (x1 + body_w, bumper_y + plate_h), (60, 60, 60), -1)
    return cx, bumper_y


def place_plate(
    img: Image8, plate: Image8, rng: random.Random, centre: tuple[int, int], width: int, skew: float
) -> tuple[int, int, int, int]:
    """Warp ``plate`` to ``width`` px at ``centre`` with rotation and perspective; return its box."""
    h0, w0 = plate.shape[:2]
    height = width * h0 / w0
    angle = math.radians(rng.uniform(-skew, skew) * 0.5)
    persp = rng.uniform(-skew, skew) / 100.0
    hw, hh = width / 2, height / 2
    # Perspective: one vertical edge shorter than the other (vehicle seen a little from the side).
    corners = np.array(
        [[-hw, -hh * (1 - persp)], [hw, -hh * (1 + persp)], [hw, hh * (1 + persp)], [-hw, hh * (1 - persp)]]
    )
    shear = rng.uniform(-0.04, 0.04) * skew / 6
    corners[:, 0] += corners[:, 1] * shear
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = (corners @ rot.T + np.array(centre, dtype=np.float64)).astype(np.float32)
    src = np.array([[0, 0], [w0, 0], [w0, h0], [0, h0]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h0, w0), 255, np.uint8), matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    img[:] = (img.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha).astype(np.uint8)
    x1, y1 = np.floor(dst.min(axis=0)).astype(int)
    x2, y2 = np.ceil(dst.max(axis=0)).astype(int)
    return max(0, int(x1)), max(0, int(y1)), min(WIDTH, int(x2)), min(HEIGHT, int(y2))


def _motion_blur(img: Image8, length: int, angle: float) -> Image8:
    if length <= 1:
        return img
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rot, (length, length)), dtype=np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(img, -1, kernel), dtype=np.uint8)


def _glare(img: Image8, rng: random.Random, box: tuple[int, int, int, int] | None) -> None:
    if box is None:
        cx, cy, r = rng.randint(0, WIDTH), rng.randint(0, HEIGHT), rng.randint(60, 200)
    else:
        x1, y1, x2, y2 = box
        cx = rng.randint(x1, x2)
        cy = rng.randint(y1, y2)
        r = int((x2 - x1) * rng.uniform(0.15, 0.3))
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    d2 = ((xx - cx) ** 2 + ((yy - cy) * 1.6) ** 2) / float(r * r)
    alpha = (np.exp(-d2) * rng.uniform(0.35, 0.55)).astype(np.float32)[..., None]
    img[:] = (img.astype(np.float32) * (1 - alpha) + 255.0 * alpha).astype(np.uint8)


def _jpeg(img: Image8, quality: int) -> Image8:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.asarray(decoded, dtype=np.uint8)


def condition_for(seed: int) -> str:
    """The condition the bench assigns to ``seed`` (cycles through :data:`CONDITIONS`)."""
    return CONDITIONS[seed % len(CONDITIONS)]


def generate_scene(
    seed: int,
    *,
    condition: str | None = None,
    spec: PlateSpec | None = None,
    category: str | None = None,
) -> tuple[Image8, SceneTruth]:
    """Generate a 1280×720 BGR scene and its truth.

    Args:
        seed: fixes everything random about the scene.
        condition: one of :data:`CONDITIONS`; default :func:`condition_for` ``(seed)``.
        spec: the plate to show (default: random, or of ``category``); ignored when ``empty``.
        category: plate category of :data:`agent.synth.plates.CATEGORIES` for a random plate.
    """
    rng = random.Random(seed)
    condition = condition or condition_for(seed)
    if condition not in CONDITIONS:
        raise ValueError(f"未知场景条件: {condition}")
    img = background(rng)
    box: tuple[int, int, int, int] | None = None
    if condition == "empty":
        spec = None
        if rng.random() < 0.7:
            _vehicle(img, rng, rng.randint(100, 300), 40)
    else:
        spec = spec or random_spec(rng, category)
        plate = render_plate(spec)
        width = rng.randint(100, 130) if condition == "small" else rng.randint(110, 300)
        height = int(width * plate.shape[0] / plate.shape[1])
        centre = _vehicle(img, rng, width, height)
        skew = 6.0 if condition == "skew" else 3.0
        box = place_plate(img, plate, rng, centre, width, skew)
    draw_signs(img, rng, box)
    blur = rng.randint(5, 9) if condition == "motion_blur" else rng.randint(1, 3)
    img = _motion_blur(img, blur, rng.choice((0.0, 90.0, rng.uniform(0, 180))))
    if condition == "glare":
        _glare(img, rng, box)
    brightness = rng.uniform(0.25, 0.40) if condition == "low_light" else rng.uniform(0.75, 1.1)
    sigma = rng.uniform(8, 12) if condition in {"noise", "low_light"} else rng.uniform(0, 4)
    noise = np.random.default_rng(seed).normal(0.0, sigma, img.shape).astype(np.float32)
    img = np.clip(img.astype(np.float32) * brightness + noise, 0, 255).astype(np.uint8)
    img = _jpeg(img, rng.randint(40, 55) if condition == "jpeg" else rng.randint(70, 95))
    truth = SceneTruth(
        seed=seed,
        condition=condition,
        plate=spec.number if spec else None,
        colour=str(spec.colour) if spec else None,
        kind=str(spec.kind) if spec else None,
        double_row=spec.double_row if spec else False,
        category=spec.category if spec else None,
        box=box,
    )
    return img, truth
