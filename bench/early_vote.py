"""False reads of the early-emission rule: would two frames of one vehicle agree on a wrong plate?

The gate agent's voter (``agent/vision/voter.py``, ``early=True``) lets a vehicle through the
decision as soon as ``early_reads`` (2) reads of the same grammar-valid plate each have every
character probability ≥ ``early_read_min`` and their combined evidence ``1 − Π(1 − p)`` reaches
``early_char_conf`` at every position. This script measures what each candidate bar would emit,
and how often wrongly, on the generated scenes of ``bench/alpr.py`` (every plate type, all nine
conditions, 1/9 empty): for each scene a *second frame* of the same vehicle is made (scaled by
3–6 % as one frame later on the approach, fresh sensor noise, JPEG re-encoded), both frames are
recognised, and the agent's voter is fed the pair under each bar. Pairs of one scene are strongly correlated (same
plate, same blur, same light), so this is a pessimistic stand-in for two frames of a real approach.

Usage::

    .venv/bin/python bench/early_vote.py --scenes 900 --seed 20000
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.synth.scene import generate_scene
from agent.vision import PlateRecognizer, PlateVoter
from agent.vision.types import PlateRead
from hj1321.plates import canonical_plate

#: (early_read_min, early_char_conf) bars compared; the first is the voter's old default.
RULES = ((0.9, 0.999), (0.9, 0.99), (0.85, 0.99), (0.8, 0.98), (0.7, 0.95))


def next_frame(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """The same scene a frame later: a little closer (scaled about the lower centre), new noise, JPEG again."""
    h, w = img.shape[:2]
    s = 1.0 + rng.uniform(0.03, 0.06)
    m = np.array([[s, 0, (1 - s) * w / 2], [0, s, (1 - s) * h * 0.8]], dtype=np.float32)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0.0, 3.0, out.shape)
    out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [int(cv2.IMWRITE_JPEG_QUALITY), rng.randint(60, 90)])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return np.asarray(decoded if decoded is not None else out, dtype=np.uint8)


def early_plates(reads_a: list[PlateRead], reads_b: list[PlateRead], read_min: float, char_conf: float) -> set[str]:
    """Plates the agent's voter emits early from these two consecutive frames under the given bar."""
    voter = PlateVoter(early=True, early_read_min=read_min, early_char_conf=char_conf)
    emitted = voter.feed(reads_a, 0.0) + voter.feed(reads_b, 0.04)  # two frames 40 ms apart (25 fps)
    return {p.plate for p in emitted if p.early}


def main(argv: list[str] | None = None) -> int:
    """Print emission and false-read counts per rule, with the 95 % upper bound of the false-read rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=900)
    parser.add_argument("--seed", type=int, default=20000)
    args = parser.parse_args(argv)
    rec = PlateRecognizer(threads=2)
    rng = random.Random(args.seed)
    emitted = dict.fromkeys(RULES, 0)
    wrong = dict.fromkeys(RULES, 0)
    false_empty = dict.fromkeys(RULES, 0)
    plates = empty = 0
    t0 = time.monotonic()
    for i in range(args.scenes):
        img, truth = generate_scene(args.seed + i)
        second = next_frame(img, rng)
        reads_a, reads_b = rec.recognize(img), rec.recognize(second)
        if truth.plate is None:
            empty += 1
        else:
            plates += 1
        expected = canonical_plate(truth.plate) if truth.plate is not None else None
        for rule in RULES:
            for plate in early_plates(reads_a, reads_b, *rule):
                if expected is None:
                    false_empty[rule] += 1
                elif plate == expected:
                    emitted[rule] += 1
                else:
                    wrong[rule] += 1
        if (i + 1) % 100 == 0:
            print(f"# {i + 1}/{args.scenes} scenes, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"# early-emission bars on {args.scenes} scene pairs from seed {args.seed}: {plates} plates, {empty} empty")
    print(
        "| early_read_min | early_char_conf | emitted (share of plates) | wrong plate | on empty scenes | 95 % bound |"
    )
    print("|---|---|---|---|---|---|")
    for rule in RULES:
        bad = wrong[rule] + false_empty[rule]
        n = emitted[rule] + bad
        # exact one-sided 95 % upper bound (Clopper-Pearson; rule of three when no failure)
        bound = 3.0 / n if bad == 0 and n else _upper(bad, n)
        print(
            f"| {rule[0]} | {rule[1]} | {emitted[rule]} ({emitted[rule] / max(plates, 1):.1%}) | "
            f"{wrong[rule]} | {false_empty[rule]} | {bound:.2%} |"
        )
    return 0


def _upper(k: int, n: int) -> float:
    """One-sided 95 % Clopper-Pearson upper bound of a rate with ``k`` events in ``n`` trials (bisection)."""
    if n == 0:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):
        p = (lo + hi) / 2
        tail = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1))
        lo, hi = (p, hi) if tail > 0.05 else (lo, p)
    return hi


if __name__ == "__main__":
    sys.exit(main())
