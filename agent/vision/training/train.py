"""Train our plate recognizer (CTC) on CPU and export it to ONNX.

    nice -n 19 .venv-train/bin/python -m agent.vision.training.train --steps 4000 --out .data/plate_rec.onnx

One training thread (``torch.set_num_threads(1)``: the machine is shared) and one data worker
process (``--workers``) rendering batches of synthetic plates with degradations plus TUNE-part real
crops (``--scene-crops``: plate crops cut from TUNE scenes, ``python -m agent.vision.training.harvest``),
Adam with a one-cycle schedule, a fixed seed. Every ``--eval-every`` steps: exact-plate accuracy of
greedy decoding on a fixed synthetic validation set and on the held-out tenth of the real crops; the
ONNX model, a torch checkpoint (``.pt``, for ``--init``) and the model card (JSON: data, steps, seed,
metrics, time) are written then, so a run stopped early still leaves its last model.
A tiny run (``--steps 3 --batch 4 --workers 0``) is the smoke test of this code (tests/agent/vision).
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

from agent.vision.training.charset import CHARSET, greedy_decode, normalise, to_line
from agent.vision.training.data import Image8, held_out, real_crops, samples, synthetic


def _collate(items: list[tuple[Any, list[int]]]) -> tuple[Any, Any, Any]:
    import torch  # type: ignore[import-not-found]  # noqa: PLC0415

    width = max(x.shape[2] for x, _ in items)
    x = np.zeros((len(items), 3, items[0][0].shape[1], width), np.float32)
    for i, (img, _) in enumerate(items):
        x[i, :, :, : img.shape[2]] = img
    targets = torch.tensor([c for _, label in items for c in label], dtype=torch.long)
    lengths = torch.tensor([len(label) for _, label in items], dtype=torch.long)
    return torch.from_numpy(x), targets, lengths


def _batches(
    seed: int, real: list[tuple[Image8, str, bool]], scene_dir: Path, share: float, size: int, workers: int
) -> Iterator[Any]:
    import torch  # noqa: PLC0415

    class Stream(torch.utils.data.IterableDataset):  # type: ignore[misc]
        def __iter__(self) -> Iterator[Any]:
            info = torch.utils.data.get_worker_info()
            stream = samples(seed + (info.id if info else 0), real, share, scene_dir)
            while True:
                yield _collate([next(stream) for _ in range(size)])

    loader = torch.utils.data.DataLoader(
        Stream(), batch_size=None, num_workers=workers, prefetch_factor=4 if workers else None
    )
    return iter(loader)


def main() -> int:  # noqa: PLR0915
    import torch  # noqa: PLC0415

    from agent.vision.training.model import PlateNet, export_onnx  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-dir", type=Path, default=Path(".data/real"))
    parser.add_argument("--scene-crops", type=Path, default=Path(".data/real-scene-crops"))
    parser.add_argument("--real-share", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--init", type=Path, default=None, help="start from this .pt checkpoint")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--val-size", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path(".data/plate_rec.onnx"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    crops = real_crops(args.real_dir) if args.real_dir.exists() else []
    scene_crops = real_crops(args.scene_crops, scene_crops=True) if args.scene_crops.exists() else []
    train_real = [c for c in crops if not held_out(c[3])]
    val_real = [c for c in crops + scene_crops if held_out(c[3])]
    val_rng = random.Random(10_000 + args.seed)
    val = [synthetic(val_rng) for _ in range(args.val_size)]
    model = PlateNet()
    if args.init is not None:
        model.load_state_dict(torch.load(args.init))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(args.steps, 1), pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    real = [(i, p, d) for i, p, d, _ in train_real]
    batches = _batches(args.seed, real, args.scene_crops, args.real_share, args.batch, args.workers)
    started = time.perf_counter()
    history: list[dict[str, float]] = []

    def exact(items: list[tuple[Any, str]]) -> float:
        model.eval()
        ok = 0
        with torch.no_grad():
            for img, label in items:
                text, _ = greedy_decode(model(torch.from_numpy(img[None]))[0].numpy())
                ok += text == label
        model.train()
        return ok / max(1, len(items))

    synth_val = [(img, "".join(CHARSET[c - 1] for c in label)) for img, label in val]
    real_val = [(normalise(to_line(i, d), 256 if d else 128), p) for i, p, d, _ in val_real]

    def n_scene_crops() -> int:
        return len(list(args.scene_crops.glob("*__*__*.png"))) if args.scene_crops.exists() else 0

    def save(step: int, loss: float) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, str(args.out))
        torch.save(model.state_dict(), args.out.with_suffix(".pt"))
        model.train()
        card = {
            "model": "PlateNet (agent/vision/training/model.py), CTC over blank + plate alphabet",
            "data": {
                "synthetic": "agent.synth.plates.render_plate, every kind/colour, degradations in training/data.py",
                "real": f"{len(train_real)} TUNE-part crops of bench/data/real_sources.tsv and "
                f"{n_scene_crops()} plate crops cut from TUNE scenes (agent.vision.training.harvest), nine "
                f"tenths of them for training (share {args.real_share}), {len(real_val)} held out for validation "
                "(at the start); never the frozen part",
            },
            "steps": step,
            "planned_steps": args.steps,
            "batch": args.batch,
            "lr": args.lr,
            "seed": args.seed,
            "init": str(args.init) if args.init else None,
            "threads": 1,
            "data_workers": args.workers,
            "seconds": round(time.perf_counter() - started, 1),
            "last_loss": loss,
            "history": history,
            "torch": torch.__version__,
        }
        card_text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
        args.out.with_suffix(".card.json").write_text(card_text, encoding="utf-8")

    model.train()
    for step in range(1, args.steps + 1):
        x, targets, lengths = next(batches)
        logits = model(x)  # N × T × C
        log_probs = logits.log_softmax(2).permute(1, 0, 2)  # T × N × C
        input_lengths = torch.full((x.shape[0],), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, targets, input_lengths, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % args.eval_every == 0 or step == args.steps:
            entry = {
                "step": step,
                "loss": round(float(loss.detach()), 4),
                "val_synthetic_exact": round(exact(synth_val), 4),
                "val_real_exact": round(exact(real_val), 4),
                "s": round(time.perf_counter() - started, 1),
            }
            history.append(entry)
            sys.stdout.write(json.dumps(entry) + "\n")
            sys.stdout.flush()
            save(step, entry["loss"])
    sys.stdout.write(f"wrote {args.out} and its model card\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
