"""Plate decoding: masked CTC, province-only first character, grammar, separators."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from agent.synth.plates import CATEGORIES, PlateSpec, random_number, render_plate
from agent.vision import PlateRecognizer
from agent.vision.decode import READ_ALPHABET as PLATE_ALPHABET
from agent.vision.decode import PlateDecoder
from hj1321.plates import PROVINCES


def _probs(chars: list[str], text: str, noise: dict[int, str] | None = None) -> np.ndarray:
    """A fake T×C softmax: each character over 2 frames, blanks between."""
    index = {c: i for i, c in enumerate(chars)}
    rows = []
    for pos, ch in enumerate(text):
        for _ in range(2):
            row = np.full(len(chars), 1e-4, np.float32)
            row[index[ch]] = 0.9
            if noise and pos in noise:
                row[index[ch]] = 0.3
                row[index[noise[pos]]] = 0.6
            rows.append(row)
        blank = np.full(len(chars), 1e-4, np.float32)
        blank[0] = 0.95
        rows.append(blank)
    return np.stack(rows)


def test_masked_decode_drops_separator_and_non_plate_characters() -> None:
    chars = ["blank", *dict.fromkeys(PLATE_ALPHABET + "·奥OI"), " "]
    dec = PlateDecoder(chars)
    got = dec.decode([_probs(chars, "鄂A·12345")])
    assert got is not None
    assert got.plate == "鄂A12345"
    assert len(got.char_confidences) == 7
    # "O" outranks "0" in the raw output but is no plate letter: the mask reads 0.
    got = dec.decode([_probs(chars, "鄂A12340", noise={7: "O"})])
    assert got is not None
    assert got.plate == "鄂A12340"
    # The province position is decoded over provinces only: 奥 (not a province) loses to 粤.
    got = dec.decode([_probs(chars, "粤B12345", noise={0: "奥"})])
    assert got is not None
    assert got.plate == "粤B12345"


def test_grammar_rejects_non_plates() -> None:
    chars = ["blank", *dict.fromkeys(PLATE_ALPHABET + "·安全生产"), " "]
    dec = PlateDecoder(chars)
    assert dec.decode([_probs(chars, "12345")]) is None  # too short
    assert dec.decode([_probs(chars, "安全生产")]) is None
    # Province-only first position: a letter in front is replaced by the best province or rejected.
    got = dec.decode([_probs(chars, "AA12345")])
    assert got is None or got.plate[0] in PROVINCES


def test_dictionary_comes_from_model_metadata(recognizer: PlateRecognizer) -> None:
    # 6,623 dictionary entries + blank + space, as PLATFORM-NOTES §3 says.
    assert recognizer._rec.get_outputs()[0].shape[-1] == 6625


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_real_model_reads_clean_rendered_plates(recognizer: PlateRecognizer, category: str) -> None:
    rng = random.Random(7)
    kind, colour, double_row = CATEGORIES[category][0]
    spec = PlateSpec(random_number(rng, kind), kind, colour, double_row)
    img = render_plate(spec)
    pad = cv2.copyMakeBorder(img, 60, 60, 80, 80, cv2.BORDER_CONSTANT, value=(60, 60, 60))
    reads = recognizer.recognize(pad)
    assert reads, f"{spec.number} not read"
    assert reads[0].plate == spec.number
    assert reads[0].colour == str(colour)
    assert reads[0].double_row == double_row
    assert len(reads[0].char_confidences) == len(spec.number)
