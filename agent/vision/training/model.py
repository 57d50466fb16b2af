"""The plate recognizer network (PyTorch; only in the training environment, ``make train-env``).

A small CRNN without recurrence (exports to plain ONNX ops and runs fast on a CPU): six 3×3 conv
blocks (16-32-64-96-128-128 channels) with batch norm and ReLU, height pooled 32 → 1, width 128 → 32
(one frame per 4 px), then a 1-D conv head over the width with a receptive field of about 3
characters, and a linear layer to the classes (blank + plate alphabet). About 0.4 M parameters,
about 43 M multiply-adds per single-row plate: training on a shared 2-core machine is the budget.
"""

from __future__ import annotations

from typing import Any

import torch  # type: ignore[import-not-found]
from torch import nn

from agent.vision.training.charset import NUM_CLASSES


def _block(cin: int, cout: int, pool: tuple[int, int] | None) -> list[Any]:
    layers: list[Any] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if pool is not None:
        layers.append(nn.MaxPool2d(pool, pool))
    return layers


class PlateNet(nn.Module):  # type: ignore[misc]
    """Input N × 3 × 32 × W (W a multiple of 4); output N × W/4 × classes (logits)."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_block(3, 16, (2, 2)),  # 16 × W/2
            *_block(16, 32, (2, 2)),  # 8 × W/4
            *_block(32, 64, (2, 1)),  # 4
            *_block(64, 96, None),
            *_block(96, 128, (2, 1)),  # 2
            *_block(128, 128, (2, 1)),  # 1
        )
        self.context = nn.Sequential(
            nn.Conv1d(128, 128, 3, padding=1, bias=False), nn.BatchNorm1d(128), nn.ReLU(inplace=True)
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: Any) -> Any:
        f = self.features(x).squeeze(2)  # N × C × T
        f = self.context(f).permute(0, 2, 1)  # N × T × C
        return self.head(f)


def export_onnx(model: PlateNet, path: str) -> None:
    """ONNX (opset 17) with free batch and width; output logits N × T × classes."""
    model.eval()
    dummy = torch.zeros(1, 3, 32, 128)
    torch.onnx.export(
        model,
        dummy,
        path,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "n", 3: "w"}, "logits": {0: "n", 1: "t"}},
        opset_version=17,
        dynamo=False,
    )
