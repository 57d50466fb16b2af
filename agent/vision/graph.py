"""Exact, load-time graph simplification of the PP-OCRv4 models (no new weights, nothing fetched).

The Paddle-to-ONNX export of the PP-LCNetV3 backbones spells every activation block out in
elementary operators, which onnxruntime (1.32, ``ORT_ENABLE_ALL``) does not fuse:

* ``Conv → Mul(scale) → Add(bias)``, the "learnable affine block" right after a convolution: folded
  into the convolution's weights and bias (``W·s``, ``b·s + t``), per output channel;
* ``Add(x, 3) → Clip(0, 6) → Mul(x, ·) → Div(·, 6)``, hard-swish: replaced by the ``HardSwish``
  operator (opset 14; the model is first converted from opset 12 with ONNX's version converter).

Four memory-bound element-wise passes per block disappear; the arithmetic is the same up to float
rounding (largest output difference measured 2·10⁻⁶ on the rec model's softmax, 2·10⁻⁷ on the det
probability map). Measured on this machine: rec 9.0 → 7.4 ms per 48×224 crop, det 18.7 → 16.0 ms at
512×288 (1 thread). The rewrite is general: ``bench/alpr.py`` gives the plain PP-OCR baseline the same
rewritten models, so the speed-up it reports is not flattered by it (docs/vision.md, ADR 0022).

Any failure (``onnx`` missing, a graph of unexpected shape) falls back to the original file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import structlog

if TYPE_CHECKING:
    import onnx

log = structlog.get_logger(__name__)

_TARGET_OPSET: Final = 14


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    from onnx import numpy_helper  # noqa: PLC0415

    values: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = np.asarray(numpy_helper.to_array(node.attribute[0].t))
    for init in graph.initializer:
        values[init.name] = np.asarray(numpy_helper.to_array(init))
    return values


def _scalar(value: np.ndarray | None) -> float | None:
    if value is None or value.size != 1:
        return None
    return float(value.reshape(-1)[0])


class _Rewriter:
    """One pass over a graph: fold conv affines, fuse hard-swish, rebuild the node list."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.consts = _constants(self.graph)
        self.nodes = list(self.graph.node)
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in self.graph.output}
        self.drop: set[int] = set()
        self.replace: dict[int, list[onnx.NodeProto]] = {}
        self.initializers: list[onnx.TensorProto] = []

    def _only(self, tensor: str, op: str) -> onnx.NodeProto | None:
        """The single consumer of ``tensor`` if it is an ``op`` and the tensor is no graph output."""
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == op and tensor not in self.outputs:
            return users[0]
        return None

    def _other_const(self, node: onnx.NodeProto, tensor: str) -> np.ndarray | None:
        others = [name for name in node.input if name != tensor]
        return self.consts.get(others[0]) if len(others) == 1 else None

    def fold_affines(self) -> None:
        from onnx import helper, numpy_helper  # noqa: PLC0415

        for conv in self.nodes:
            if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in self.consts:
                continue
            mul = self._only(conv.output[0], "Mul")
            scale = self._other_const(mul, conv.output[0]) if mul is not None else None
            weight = self.consts[conv.input[1]].astype(np.float32)
            channels = weight.shape[0]
            per_scale = _per_channel(scale, channels)
            if mul is None or per_scale is None:
                continue
            bias = (
                self.consts[conv.input[2]].astype(np.float32).reshape(channels)
                if len(conv.input) > 2 and conv.input[2] in self.consts
                else np.zeros(channels, np.float32)
            )
            if len(conv.input) > 2 and conv.input[2] not in self.consts:
                continue
            new_weight = weight * per_scale.reshape(-1, *([1] * (weight.ndim - 1)))
            new_bias = bias * per_scale
            last = mul
            add = self._only(mul.output[0], "Add")
            shift = _per_channel(self._other_const(add, mul.output[0]), channels) if add is not None else None
            if add is not None and shift is not None:
                new_bias = new_bias + shift
                last = add
            w_name, b_name = f"{conv.output[0]}__folded_w", f"{conv.output[0]}__folded_b"
            self.initializers += [
                numpy_helper.from_array(new_weight.astype(np.float32), w_name),
                numpy_helper.from_array(new_bias.astype(np.float32), b_name),
            ]
            attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
            folded = helper.make_node(
                "Conv", [conv.input[0], w_name, b_name], [last.output[0]], name=f"{conv.name}__folded", **attrs
            )
            self.replace[id(conv)] = [folded]
            self.drop.add(id(mul))
            self.drop.add(id(last))

    def fuse_hard_swish(self) -> None:
        from onnx import helper  # noqa: PLC0415

        for add in self.nodes:
            if add.op_type != "Add" or id(add) in self.drop or id(add) in self.replace:
                continue
            three = [name for name in add.input if _scalar(self.consts.get(name)) == 3.0]
            if len(three) != 1 or len(add.input) != 2:
                continue
            x = next(name for name in add.input if name != three[0])
            clip = self._only(add.output[0], "Clip")
            if clip is None or len(clip.input) < 3:
                continue
            if _scalar(self.consts.get(clip.input[1])) != 0.0 or _scalar(self.consts.get(clip.input[2])) != 6.0:
                continue
            mul = self._only(clip.output[0], "Mul")
            if mul is None or x not in mul.input:
                continue
            div = self._only(mul.output[0], "Div")
            if div is None or div.input[0] != mul.output[0] or _scalar(self.consts.get(div.input[1])) != 6.0:
                continue
            self.replace[id(add)] = [helper.make_node("HardSwish", [x], [div.output[0]], name=f"{add.name}__hardswish")]
            self.drop.update({id(clip), id(mul), id(div)})

    def apply(self) -> None:
        nodes: list[onnx.NodeProto] = []
        for node in self.nodes:
            if id(node) not in self.drop:
                nodes.extend(self.replace.get(id(node), [node]))
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        self.graph.initializer.extend(self.initializers)


def _per_channel(value: np.ndarray | None, channels: int) -> np.ndarray | None:
    """``value`` as one float per output channel, if it broadcasts like that over NCHW."""
    if value is None:
        return None
    if value.size == 1:
        return np.full(channels, float(value.reshape(-1)[0]), np.float32)
    if value.size == channels and (value.ndim == 1 or value.shape[-2:] == (1, 1)):
        return value.astype(np.float32).reshape(channels)
    return None


def simplified_model(path: Path) -> bytes | None:
    """The model at ``path`` with conv affines folded and hard-swish fused, serialised; ``None``
    when the rewrite is not possible (the caller then loads the file as it is)."""
    try:
        import onnx  # noqa: PLC0415
        from onnx import version_converter  # noqa: PLC0415

        model = onnx.load(str(path))
        opset = max((o.version for o in model.opset_import if o.domain in {"", "ai.onnx"}), default=0)
        if opset < _TARGET_OPSET:
            model = version_converter.convert_version(model, _TARGET_OPSET)
        rewriter = _Rewriter(model)
        rewriter.fold_affines()
        rewriter.fuse_hard_swish()
        rewriter.apply()
        data: bytes = model.SerializeToString()
    except Exception as exc:  # noqa: BLE001 - any failure means "use the original file"
        log.warning("model_rewrite_skipped", model=path.name, error=str(exc))
        return None
    return data
