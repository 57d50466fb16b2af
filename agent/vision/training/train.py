"""Train our plate recognizer (CTC) on CPU and export it to ONNX.

    nice -n 19 .venv-train/bin/python -m agent.vision.training.train --steps 20000 --out .data/plate_rec.onnx

One thread (``torch.set_num_threads(1)``: the machine is shared), batches of synthetic plates with
degradations plus TUNE-part real crops, Adam with a one-cycle schedule, a fixed seed. Every
``--eval-every`` steps: exact-plate accuracy of greedy decoding on a fixed synthetic validation set.
Writes the ONNX model and a model card (JSON: data, steps, seed, metrics, time) next to it.
A tiny run (``--steps 5 --batch 8``) is the smoke test of this code.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from agent.vision.training.charset import CHARSET, greedy_decode
from agent.vision.training.data import real_crops, samples, synthetic


def _batch(stream: Iterator[tuple[Any, list[int]]], size: int) -> tuple[Any, Any, Any]:
    import torch  # type: ignore[import-not-found]  # noqa: PLC0415

    items = [next(stream) for _ in range(size)]
    width = max(x.shape[2] for x, _ in items)
    x = np.zeros((size, 3, items[0][0].shape[1], width), np.float32)
    for i, (img, _) in enumerate(items):
        x[i, :, :, : img.shape[2]] = img
    targets = torch.tensor([c for _, label in items for c in label], dtype=torch.long)
    lengths = torch.tensor([len(label) for _, label in items], dtype=torch.long)
    return torch.from_numpy(x), targets, lengths


def main() -> int:  # noqa: PLR0915
    import torch  # noqa: PLC0415

    from agent.vision.training.model import PlateNet, export_onnx  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-dir", type=Path, default=Path(".data/real"))
    parser.add_argument("--real-share", type=float, default=0.2)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--val-size", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path(".data/plate_rec.onnx"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    real = real_crops(args.real_dir) if args.real_dir.exists() else []
    stream = samples(args.seed, real, args.real_share)
    val_rng = random.Random(10_000 + args.seed)
    val = [synthetic(val_rng) for _ in range(args.val_size)]
    model = PlateNet()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(args.steps, 1))
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    started = time.perf_counter()
    history: list[dict[str, float]] = []

    def evaluate() -> float:
        model.eval()
        ok = 0
        with torch.no_grad():
            for img, label in val:
                logits = model(torch.from_numpy(img[None]))[0].numpy()
                text, _ = greedy_decode(logits)
                ok += text == "".join(CHARSET[c - 1] for c in label)
        model.train()
        return ok / max(1, len(val))

    model.train()
    for step in range(1, args.steps + 1):
        x, targets, lengths = _batch(stream, args.batch)
        logits = model(x)  # N × T × C
        log_probs = logits.log_softmax(2).permute(1, 0, 2)  # T × N × C
        input_lengths = torch.full((x.shape[0],), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, targets, input_lengths, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % args.eval_every == 0 or step == args.steps:
            acc = evaluate()
            history.append({"step": step, "loss": float(loss), "val_exact": acc, "s": time.perf_counter() - started})
            sys.stdout.write(json.dumps(history[-1]) + "\n")
            sys.stdout.flush()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model, str(args.out))
    card = {
        "model": "PlateNet (agent/vision/training/model.py), CTC over blank + plate alphabet",
        "data": {
            "synthetic": "agent.synth.plates.render_plate, every kind/colour, degradations in training/data.py",
            "real": f"{len(real)} TUNE-part crops of bench/data/real_sources.tsv (share {args.real_share})",
        },
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "threads": 1,
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
        "torch": torch.__version__,
    }
    card_text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    args.out.with_suffix(".card.json").write_text(card_text, encoding="utf-8")
    sys.stdout.write(f"wrote {args.out} and its model card\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
