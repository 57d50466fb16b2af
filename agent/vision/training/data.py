"""Training samples for our plate recognizer (numpy/OpenCV only).

Synthetic: :func:`agent.synth.plates.render_plate` for every kind and colour of the scene
generator, then degradations seen on real cameras: perspective, scale (plates of 60-400 px),
motion and Gaussian blur, noise, JPEG, low light with gamma, colour cast, glare, tight or loose
crops. Real: plate crops of the real set's TUNE part (``bench/real_set.py``; the frozen part is
never used). Double-row plates become one line (top row left of the bottom row, same height).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.synth.plates import random_spec, render_plate
from agent.vision.training.charset import CHARSET, INPUT_HEIGHT, INPUT_WIDTH, encode

Image8 = npt.NDArray[np.uint8]
Sample = tuple[npt.NDArray[np.float32], list[int]]


def to_line(img: Image8, double_row: bool, top_share: float = 0.36) -> Image8:
    """One text line of a plate crop: a double-row plate's two rows side by side at equal height."""
    if not double_row:
        return img
    h = img.shape[0]
    cut = max(1, round(h * top_share))
    top, bottom = img[:cut], img[cut:]
    size = (max(1, round(top.shape[1] * bottom.shape[0] / top.shape[0] * 0.6)), bottom.shape[0])
    top_row = np.asarray(cv2.resize(top, size), np.uint8)
    return np.ascontiguousarray(np.hstack([top_row, bottom]))


def normalise(line: Image8, width: int = INPUT_WIDTH) -> npt.NDArray[np.float32]:
    """BGR line crop → model input 3 × 32 × width, values in [-1, 1] (aspect kept, right-padded)."""
    h, w = line.shape[:2]
    new_w = max(4, min(width, round(w * INPUT_HEIGHT / h)))
    interpolation = cv2.INTER_AREA if h > INPUT_HEIGHT else cv2.INTER_LINEAR
    resized = cv2.resize(line, (new_w, INPUT_HEIGHT), interpolation=interpolation)
    out = np.zeros((3, INPUT_HEIGHT, width), np.float32)
    out[:, :, :new_w] = (resized.astype(np.float32).transpose(2, 0, 1) - 127.5) / 127.5
    return out


def degrade(img: Image8, rng: random.Random) -> Image8:
    """Camera-like degradations of a clean rendered plate (BGR)."""
    h, w = img.shape[:2]
    pad = int(0.12 * h)
    canvas = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    ch, cw = canvas.shape[:2]
    jitter = 0.06
    src = np.array([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]], np.float32)
    shift = [[rng.uniform(-jitter, jitter) * w, rng.uniform(-jitter, jitter) * h] for _ in range(4)]
    dst = src + np.array(shift, np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(canvas, matrix, (cw, ch), borderMode=cv2.BORDER_REPLICATE)
    m = rng.uniform(-0.05, 0.05)  # tight or loose crop
    x1, y1 = max(0, int(pad + m * w)), max(0, int(pad + m * h))
    crop = warped[y1 : ch - y1, x1 : cw - x1]
    scale = rng.uniform(60, 300) / crop.shape[1]
    small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out: npt.NDArray[np.float32] = np.asarray(small, np.float32)
    if rng.random() < 0.4:
        k = rng.choice([3, 5, 7])
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        out = np.asarray(cv2.filter2D(out, -1, kernel), np.float32)
    if rng.random() < 0.3:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5)), np.float32)
    if rng.random() < 0.35:  # low light
        out = 255.0 * (out / 255.0) ** rng.uniform(1.3, 2.5) * rng.uniform(0.3, 0.8)
    if rng.random() < 0.2:  # glare
        out = out + rng.uniform(30, 90)
    out = out * np.array([rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)  # colour cast
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(0, 12), out.shape)
    out8: Image8 = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 90)])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out8 = np.asarray(decoded, np.uint8)
    return np.asarray(out8, np.uint8)


def synthetic(rng: random.Random) -> Sample:
    spec = random_spec(rng)
    img = degrade(render_plate(spec), rng)
    line = to_line(img, spec.double_row)
    width = INPUT_WIDTH * (2 if spec.double_row else 1)
    return normalise(line, width), encode(spec.number)


def real_crops(real_dir: Path, tsv: Path | None = None) -> list[tuple[Image8, str]]:
    """Plate crops of the real set's TUNE part (labels from bench/data/real_sources.tsv)."""
    import csv  # noqa: PLC0415

    tsv = tsv or Path(__file__).resolve().parents[3] / "bench" / "data" / "real_sources.tsv"
    out: list[tuple[Image8, str]] = []
    with tsv.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["part"] != "tune" or row["group"] != "crop" or "double_row" in row["tags"]:
                continue
            suffix = Path(row["path"]).suffix.lower() or ".jpg"
            path = real_dir / "tune" / "crop" / f"{row['blob'][:10]}_{row['plate']}{suffix}"
            img = cv2.imread(str(path))
            if img is not None and all(c in CHARSET for c in row["plate"]):
                out.append((np.asarray(img, np.uint8), row["plate"]))
    return out


def samples(seed: int, real: list[tuple[Image8, str]], real_share: float = 0.2) -> Iterator[Sample]:
    """Endless stream of samples: synthetic plates and (``real_share``) lightly degraded real crops."""
    rng = random.Random(seed)
    while True:
        if real and rng.random() < real_share:
            img, plate = rng.choice(real)
            if rng.random() < 0.5:
                img = degrade(img, rng)
            yield normalise(img), encode(plate)
        else:
            yield synthetic(rng)
