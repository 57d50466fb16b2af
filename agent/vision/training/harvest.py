"""Plate crops cut from the TUNE scenes of the real set, as training samples (issue 18).

    nice -n 19 .venv/bin/python -m agent.vision.training.harvest --out .data/real-scene-crops

For each TUNE scene with a plate (``bench/data/real_sources.tsv``; the frozen part is never read) the
plate's box is found by the text lines of plain PP-OCR (rapidocr, every line whose text holds all but
two characters of the known plate, in order) and by our recognizer's reads (best match); the box,
padded like the recognizer pads a candidate for our model (:func:`plate_crop`), is written as
``<blob>__<plate>__<s|d>.png`` with the label from the TSV, not from what the models read.
Double-row plates are kept only when a read's box covers both rows (our recognizer's double-row read).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image8 = npt.NDArray[np.uint8]


def plate_crop(img: Image8, box: tuple[float, float, float, float], pad_x: float = 0.06, pad_y: float = 0.15) -> Image8:
    """``box`` (x1, y1, x2, y2) grown by ``pad_x`` of its width and ``pad_y`` of its height each side."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    a = max(0, int(x1 - pad_x * w))
    b = max(0, int(y1 - pad_y * h))
    c = min(img.shape[1], round(x2 + pad_x * w))
    d = min(img.shape[0], round(y2 + pad_y * h))
    return np.ascontiguousarray(img[b:d, a:c])


def common_chars(a: str, b: str) -> int:
    """How many characters of ``a`` stand in ``b`` in the same order (their longest common subsequence).

    Also what ``bench/alpr.py`` calls a plate "seen" in a text (all but two characters).
    """
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


Box = tuple[float, float, float, float]


def _plate_box(img: Image8, plate: str, double: bool, rec: Any, plain: Any) -> Box | None:
    """The box of ``plate`` in ``img``: our recognizer's best matching read, or plain PP-OCR's line."""
    from hj1321.plates import canonical_plate  # noqa: PLC0415

    best: tuple[int, Box] | None = None
    for read in rec.recognize(img):
        score = common_chars(plate, read.plate) + 1  # a whole read's box is the plate's
        if read.double_row == double and score >= len(plate) - 1 and (best is None or score > best[0]):
            x1, y1, x2, y2 = (float(v) for v in read.box)
            best = (score, (x1, y1, x2, y2))
    if not double:
        result, _ = plain(img, use_det=True, use_cls=False, use_rec=True)
        for box, text, _ in result or []:
            score = common_chars(plate, canonical_plate(text))
            if score >= len(plate) - 2 and (best is None or score > best[0]):
                pts = np.asarray(box, np.float32)
                (x1, y1), (x2, y2) = pts.min(axis=0).tolist(), pts.max(axis=0).tolist()
                best = (score, (x1, y1, x2, y2))
    return None if best is None else best[1]


def main() -> int:
    from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415

    from agent.vision import PlateRecognizer  # noqa: PLC0415

    root = Path(__file__).resolve().parents[3]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real-dir", type=Path, default=root / ".data" / "real")
    parser.add_argument("--tsv", type=Path, default=root / "bench" / "data" / "real_sources.tsv")
    parser.add_argument("--out", type=Path, default=root / ".data" / "real-scene-crops")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    plain = RapidOCR()
    rec = PlateRecognizer(threads=1, wide_fallback=True, own_model=False)
    written = scenes = 0
    with args.tsv.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["part"] == "tune" and r["group"] == "scene"]
    for row in rows:
        plate = row["plate"]
        suffix = Path(row["path"]).suffix.lower() or ".jpg"
        img = cv2.imread(str(args.real_dir / "tune" / "scene" / f"{row['blob'][:10]}_{plate}{suffix}"))
        if not plate or img is None:
            continue
        scenes += 1
        double = "double_row" in row["tags"]
        box = _plate_box(np.asarray(img, np.uint8), plate, double, rec, plain)
        crop = None if box is None else plate_crop(np.asarray(img, np.uint8), box)
        if crop is not None and min(crop.shape[:2]) >= 8:
            name = f"{row['blob'][:10]}__{plate}__{'d' if double else 's'}.png"
            cv2.imencode(".png", crop)[1].tofile(str(args.out / name))
            written += 1
    sys.stdout.write(f"{written} plate crops from {scenes} TUNE scenes with a plate in {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
