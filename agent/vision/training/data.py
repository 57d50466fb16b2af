"""Training samples for our plate recognizer (numpy/OpenCV only).

Synthetic: :func:`agent.synth.plates.render_plate` for every kind and colour of the scene
generator, then degradations seen on real cameras: perspective, scale (plates of 60-400 px),
motion and Gaussian blur, noise, JPEG, low light with gamma, colour cast, glare, tight or loose
crops. Real: plate crops of the real set's TUNE part (``bench/real_set.py``; the frozen part is
never used). Double-row plates become one line (top row left of the bottom row, same height).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.synth.plates import random_spec, render_plate
from agent.vision.training.charset import CHARSET, INPUT_WIDTH, encode, normalise, to_line

Image8 = npt.NDArray[np.uint8]
Sample = tuple[npt.NDArray[np.float32], list[int]]
_POOL_SIZE = 1500
_POOL_REFRESH = 0.3


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


def synthetic(rng: random.Random, pool: list[tuple[Image8, str, bool]] | None = None) -> Sample:
    """One degraded synthetic plate. With ``pool``, clean renders (at half size) are reused with new
    degradations and 30 % of draws render a new plate into the pool (rendering costs more than
    degrading, and training time on this CPU is the budget)."""
    if pool is not None and len(pool) >= _POOL_SIZE and rng.random() > _POOL_REFRESH:
        clean, number, double_row = rng.choice(pool)
    else:
        spec = random_spec(rng)
        full = render_plate(spec)
        clean = np.asarray(cv2.resize(full, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), np.uint8)
        number, double_row = spec.number, spec.double_row
        if pool is not None:
            if len(pool) < _POOL_SIZE:
                pool.append((clean, number, double_row))
            else:
                pool[rng.randrange(_POOL_SIZE)] = (clean, number, double_row)
    line = to_line(degrade(clean, rng), double_row)
    return normalise(line, INPUT_WIDTH * (2 if double_row else 1)), encode(number)


RealCrop = tuple[Image8, str, bool, str]


def real_crops(real_dir: Path, tsv: Path | None = None, *, scene_crops: bool = False) -> list[RealCrop]:
    """Real plate crops of the TUNE part: (image, plate, double row, name).

    ``scene_crops``: ``real_dir`` holds plate crops cut from TUNE scenes by
    :mod:`agent.vision.training.harvest` (``<name>__<plate>__<s|d>.png``); otherwise it is the
    built real set (``bench/real_set.py build``) and the labels come from ``real_sources.tsv``.
    """
    import csv  # noqa: PLC0415

    out: list[RealCrop] = []
    if scene_crops:
        for path in sorted(real_dir.glob("*__*__*.png")):
            _, plate, rows = path.stem.split("__")
            img = cv2.imread(str(path))
            if img is not None and all(c in CHARSET for c in plate):
                out.append((np.asarray(img, np.uint8), plate, rows == "d", path.name))
        return out
    tsv = tsv or Path(__file__).resolve().parents[3] / "bench" / "data" / "real_sources.tsv"
    with tsv.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["part"] != "tune" or row["group"] != "crop":
                continue
            suffix = Path(row["path"]).suffix.lower() or ".jpg"
            path = real_dir / "tune" / "crop" / f"{row['blob'][:10]}_{row['plate']}{suffix}"
            img = cv2.imread(str(path))
            if img is not None and all(c in CHARSET for c in row["plate"]):
                out.append((np.asarray(img, np.uint8), row["plate"], "double_row" in row["tags"], path.name))
    return out


def samples(
    seed: int, real: list[tuple[Image8, str, bool]], real_share: float = 0.25, scene_dir: Path | None = None
) -> Iterator[Sample]:
    """Endless stream of samples: synthetic plates and (``real_share``) real crops, half of them degraded.

    ``scene_dir``: plate crops cut from TUNE scenes (:mod:`.harvest`), re-read every 5,000 samples
    (a harvest may still be writing them), except the held-out tenth (:func:`held_out`).
    """
    rng = random.Random(seed)
    pool: list[tuple[Image8, str, bool]] = []
    extra: list[tuple[Image8, str, bool]] = []
    for n in itertools.count():
        if scene_dir is not None and n % 5000 == 0 and scene_dir.exists():
            extra = [(i, p, d) for i, p, d, name in real_crops(scene_dir, scene_crops=True) if not held_out(name)]
        if (real or extra) and rng.random() < real_share:
            # Scene crops as often as the (mostly CCPD, mostly 皖A) crops: they are the varied ones.
            img, plate, double_row = rng.choice(real if real and (not extra or rng.random() < 0.5) else extra)
            if rng.random() < 0.5:
                img = degrade(img, rng)
            yield normalise(to_line(img, double_row), INPUT_WIDTH * (2 if double_row else 1)), encode(plate)
        else:
            yield synthetic(rng, pool)


def held_out(name: str) -> bool:
    """A tenth of the real crops (by file name) is kept out of training for validation."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:6], 16) % 10 == 0  # noqa: S324
