"""The ONNX models: PP-OCR's from the rapidocr_onnxruntime wheel, and our own plate recognizer.

Nothing is downloaded at run time: the detection and recognition models are files of the
installed wheel (``rapidocr_onnxruntime/models``), and the recognizer's dictionary is read from
the recognition model's ONNX metadata (key ``character``). The package itself is never imported
(its import pulls in its whole pipeline); only its location is looked up. Our own recognizer
(issue 18, trained by ``agent.vision.training``) is a file of this package, ``agent/vision/weights``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Final

import onnxruntime as ort

from agent.vision.graph import simplified_model

DET_MODEL: Final = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL: Final = "ch_PP-OCRv4_rec_infer.onnx"
OWN_REC_MODEL: Final = "plate_rec.onnx"


class ModelsMissingError(RuntimeError):
    """The rapidocr_onnxruntime wheel (with its models) is not installed."""


@functools.cache
def model_dir() -> Path:
    """Folder holding the wheel's ONNX models."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissingError("未安装 rapidocr_onnxruntime==1.4.4（车牌识别模型随该软件包提供）")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (DET_MODEL, REC_MODEL):
        if not (folder / name).is_file():
            raise ModelsMissingError(f"模型文件缺失: {folder / name}")
    return folder


def own_model_path() -> Path | None:
    """Our plate recognizer's ONNX file inside the package, or None when it is not there."""
    path = Path(__file__).resolve().parent / "weights" / OWN_REC_MODEL
    return path if path.is_file() else None


def create_session(name: str, threads: int | None = None, *, simplify: bool = True) -> ort.InferenceSession:
    """An onnxruntime CPU session for model file ``name``; ``threads`` None lets ORT use all cores.

    With ``simplify`` the graph is first rewritten exactly (conv affines folded, hard-swish fused:
    :mod:`agent.vision.graph`); it falls back to the file as shipped when that is not possible.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = max(1, threads)
    options.log_severity_level = 3
    # The default CPU arena stays on: without it, glibc's per-thread heaps made RSS vary from 176
    # to 390 MB between identical runs; with it, RSS is steady (about 200 MB) once the largest
    # input shapes have been seen, and the fine pass caps its input size (recognizer).
    # Worker threads that spin while idle steal the core from the other model and from other
    # processes on a 2-core gate PC; measured 38 ms instead of 52 ms per frame with 2 threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    path = model_dir() / name
    model = simplified_model(path) if simplify else None
    source: str | bytes = model if model is not None else str(path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def rec_characters(session: ort.InferenceSession) -> list[str]:
    """The recognizer's output classes: ``blank``, the embedded dictionary, then a space."""
    meta = session.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ModelsMissingError("识别模型缺少内嵌字典（ONNX 元数据 character）")
    chars: list[str] = meta["character"].splitlines()
    return ["blank", *chars, " "]
