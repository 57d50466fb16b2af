"""The recognizer on generated scenes, with the real models (no mocks), and on bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from agent.synth.scene import CONDITIONS, generate_scene
from agent.vision import InvalidFrameError, PlateRead, PlateRecognizer

# Seeds with a plate for every condition and several plate categories (conditions cycle by seed).
_SEEDS = [s for s in range(500, 536) if s % len(CONDITIONS) != CONDITIONS.index("empty")]


def test_reads_generated_scenes(recognizer: PlateRecognizer) -> None:
    correct = 0
    categories: set[str] = set()
    for seed in _SEEDS:
        img, truth = generate_scene(seed)
        reads = recognizer.recognize(img)
        categories.add(str(truth.category))
        if reads and reads[0].plate == truth.plate:
            correct += 1
            assert reads[0].colour == truth.colour, seed
            assert truth.box is not None
            x1, _, x2, _ = reads[0].box
            assert x1 < (truth.box[0] + truth.box[2]) / 2 < x2
            assert 0 < reads[0].confidence <= 1
            assert reads[0].ms > 0
    assert correct >= len(_SEEDS) - 1, f"{correct}/{len(_SEEDS)}"
    assert len(categories) >= 5


def test_every_category_and_double_row(recognizer: PlateRecognizer) -> None:
    for i, category in enumerate(["yellow_double", "green", "yellow_green", "white", "black", "blue", "yellow"]):
        img, truth = generate_scene(9000 + i, condition="normal", category=category)
        reads = recognizer.recognize(img)
        assert reads, category
        assert reads[0].plate == truth.plate
        assert reads[0].colour == truth.colour
        assert reads[0].double_row == truth.double_row


def test_empty_scenes_give_no_plate(recognizer: PlateRecognizer) -> None:
    for seed in range(40):
        img, truth = generate_scene(seed, condition="empty")
        assert truth.plate is None
        assert recognizer.recognize(img) == [], seed


def test_roi_limits_the_search_and_keeps_frame_coordinates(recognizer: PlateRecognizer) -> None:
    img, truth = generate_scene(3)
    assert truth.box is not None
    x1, y1, x2, y2 = truth.box
    roi = (max(0, x1 - 80), max(0, y1 - 60), min(1280, x2 + 80), min(720, y2 + 60))
    reads = recognizer.recognize(img, roi)
    assert [r.plate for r in reads] == [truth.plate]
    bx1, by1, bx2, by2 = reads[0].box
    assert bx1 >= roi[0]
    assert by1 >= roi[1]
    assert bx2 <= roi[2]
    assert by2 <= roi[3]
    assert bx1 < (x1 + x2) / 2 < bx2
    # A ROI away from the plate finds nothing.
    assert recognizer.recognize(img, (0, 0, 200, 150)) == []


@pytest.mark.parametrize(
    "frame",
    [None, "image", np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), np.zeros((10, 10, 5), np.uint8)],
    ids=["none", "str", "zero-size", "tiny", "five-channels"],
)
def test_bad_frames_raise_a_clear_error(recognizer: PlateRecognizer, frame: object) -> None:
    with pytest.raises(InvalidFrameError):
        recognizer.recognize(frame)  # type: ignore[arg-type]


def test_odd_but_valid_frames(recognizer: PlateRecognizer) -> None:
    img, truth = generate_scene(3)
    grey = img.mean(axis=2).astype(np.uint8)
    assert recognizer.recognize(np.zeros((720, 1280, 3), np.uint8)) == []
    assert recognizer.recognize(np.full((50, 50), 255, np.uint8)) == []
    noise = np.random.default_rng(1).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    assert recognizer.recognize(noise) == []
    reads = recognizer.recognize(grey)  # grey input works; the colour may differ, the plate not
    assert not reads or reads[0].plate == truth.plate
    with pytest.raises(InvalidFrameError):
        recognizer.recognize(img, (5000, 5000, 6000, 6000))


def test_thread_safe(recognizer: PlateRecognizer) -> None:
    scenes = [generate_scene(s) for s in (3, 4)]
    results: dict[int, list[PlateRead]] = {}

    def work(i: int) -> None:
        results[i] = recognizer.recognize(scenes[i % 2][0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, reads in results.items():
        assert reads[0].plate == scenes[i % 2][1].plate


def _two_plate_frame() -> tuple[np.ndarray, set[str]]:
    """A 1280×720 frame whose halves come from two scenes, each half holding its scene's plate."""
    halves = []
    plates: set[str] = set()
    for seed, category in ((9100, "blue"), (9101, "green")):
        img, truth = generate_scene(seed, condition="normal", category=category)
        assert truth.box is not None
        assert truth.plate is not None
        centre = (truth.box[0] + truth.box[2]) // 2
        x1 = min(max(0, centre - 320), 1280 - 640)
        halves.append(img[:, x1 : x1 + 640])
        plates.add(truth.plate)
    return np.ascontiguousarray(np.hstack(halves)), plates


def test_thorough_reads_every_plate_default_stops_at_the_first_confident_one(recognizer: PlateRecognizer) -> None:
    frame, plates = _two_plate_frame()
    thorough = PlateRecognizer(threads=2, thorough=True)
    assert {r.plate for r in thorough.recognize(frame)} == plates
    fast = recognizer.recognize(frame)  # the gate's mode: one confident plate is enough
    assert fast
    assert {r.plate for r in fast} <= plates
    assert not fast[0].needs_review
