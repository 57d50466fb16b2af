"""The load-time graph rewrite of the wheel's models: same outputs, fewer operators, safe fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from agent.vision.graph import simplified_model
from agent.vision.models import DET_MODEL, REC_MODEL, create_session, model_dir


def _session(source: str | bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("name", "shape", "tolerance"),
    [(REC_MODEL, (2, 3, 48, 160), 1e-4), (DET_MODEL, (1, 3, 96, 160), 1e-4)],
    ids=["rec", "det"],
)
def test_rewrite_keeps_the_outputs_and_drops_the_elementwise_chains(
    name: str, shape: tuple[int, ...], tolerance: float
) -> None:
    path = model_dir() / name
    data = simplified_model(path)
    assert data is not None
    rewritten = onnx.load_from_string(data)
    original = onnx.load(str(path))
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("HardSwish") >= 20
    assert "Clip" not in ops or ops.count("Clip") < [n.op_type for n in original.graph.node].count("Clip")
    assert len(ops) < len(original.graph.node)
    # The rec dictionary (ONNX metadata) survives the rewrite.
    assert {p.key for p in rewritten.metadata_props} == {p.key for p in original.metadata_props}

    x = np.random.default_rng(7).uniform(-1, 1, shape).astype(np.float32)
    a, b = _session(str(path)), _session(data)
    feed = {a.get_inputs()[0].name: x}
    np.testing.assert_allclose(b.run(None, feed)[0], a.run(None, feed)[0], atol=tolerance)


def test_unusable_model_falls_back_to_none(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00not a model")
    assert simplified_model(broken) is None
    assert simplified_model(tmp_path / "missing.onnx") is None


def test_sessions_with_and_without_rewrite_agree() -> None:
    plain = create_session(REC_MODEL, 1, simplify=False)
    fast = create_session(REC_MODEL, 1)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 48, 96)).astype(np.float32)
    name = plain.get_inputs()[0].name
    np.testing.assert_allclose(fast.run(None, {name: x})[0], plain.run(None, {name: x})[0], atol=1e-4)
    chars = plain.get_modelmeta().custom_metadata_map["character"]
    assert fast.get_modelmeta().custom_metadata_map["character"] == chars
