"""Fixtures for the vision tests: one real recognizer (the wheel's ONNX models) per session."""

from __future__ import annotations

import pytest

from agent.vision import PlateRecognizer


@pytest.fixture(name="recognizer", scope="session")
def fx_recognizer() -> PlateRecognizer:
    """The real recognizer with the models of the installed rapidocr_onnxruntime wheel."""
    return PlateRecognizer(threads=2)
