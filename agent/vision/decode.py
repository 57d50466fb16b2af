"""Plate-specific CTC decoding of the PP-OCRv4 recognizer's output.

The recognizer is a CTC head over a 6,625-class general Chinese dictionary. For plates we

1. keep only the columns of blank, the plate alphabet (:data:`READ_ALPHABET`) and the
   separator dot (which the model reads as a character and we drop), each plate class summed with
   its look-alikes (lower case, full width, and O → 0, I → 1), then take a greedy path;
2. cut the path into *segments*, one per emitted character, each with the per-class maximum
   probability over its frames;
3. choose each position's character among the classes its position allows (the first over the
   31 provinces and 使 only, letters and digits inside, suffixes last), best-first over the top
   alternatives, until :func:`hj1321.plates.is_valid_plate` accepts the whole number.

Per-character confidence is the (unmasked) softmax probability of the chosen class, so text that is
no plate (signs, slogans) scores low even when its masked argmax happens to spell a plate.
"""

from __future__ import annotations

import heapq
import math
import unicodedata
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

from hj1321.plates import DIGITS, EMBASSY_PREFIX, LETTERS, PROVINCES, SUFFIXES, is_valid_plate

FloatArray = npt.NDArray[np.float32]

#: Characters the model emits between plate characters that carry no meaning.
SEPARATORS: Final = "·.-:•"
#: The characters the decoder reads: the grammar's alphabet without the two-character 应急 mark of
#: emergency-rescue plates (``hj1321.plates.PLATE_ALPHABET`` has it; those plates are not read yet).
READ_ALPHABET: Final = PROVINCES + LETTERS + DIGITS + EMBASSY_PREFIX + SUFFIXES
_FIRST: Final = PROVINCES + EMBASSY_PREFIX
_MIDDLE: Final = LETTERS + DIGITS
_LAST: Final = LETTERS + DIGITS + SUFFIXES
#: Alternatives per position tried by the best-first search.
_ALIASES: Final = {"O": "0", "I": "1", "〇": "0", "|": "1"}
_TOP_K: Final = 3
_MAX_TRIES: Final = 200


class Segment(msgspec.Struct, frozen=True):
    """One emitted character: per-class maximum probability over its frames (plate alphabet order)."""

    probs: FloatArray
    start: int
    end: int

    @property
    def best(self) -> float:
        """Highest probability of any plate character in this segment."""
        return float(self.probs.max())


class DecodedPlate(msgspec.Struct, frozen=True):
    """A plate number that follows the grammar, with the probability of each character."""

    plate: str
    char_confidences: tuple[float, ...]

    @property
    def confidence(self) -> float:
        """Geometric mean of the character probabilities."""
        logs = [math.log(max(p, 1e-6)) for p in self.char_confidences]
        return math.exp(sum(logs) / len(logs))


class PlateDecoder:
    """Decode recognizer output (T × 6625 softmax rows) into plates; stateless and thread-safe."""

    def __init__(self, characters: list[str]) -> None:
        index = {c: i for i, c in enumerate(characters)}
        missing = [c for c in READ_ALPHABET if c not in index]
        if missing:
            raise ValueError(f"识别模型字典缺少车牌字符: {''.join(missing)}")
        self.alphabet = READ_ALPHABET
        # Fold look-alikes into the plate class they stand for: lower case and full-width forms,
        # and O/I, which plates never use, into 0/1. Column groups: blank, each plate class, separators.
        groups: list[list[int]] = [[0]] + [[index[c]] for c in READ_ALPHABET]
        slot = {c: i + 1 for i, c in enumerate(READ_ALPHABET)}
        for i, c in enumerate(characters[1:-1], start=1):
            folded = _ALIASES.get(unicodedata.normalize("NFKC", c).upper(), unicodedata.normalize("NFKC", c).upper())
            if folded in slot and c != folded:
                groups[slot[folded]].append(i)
        groups.append([index[c] for c in SEPARATORS if c in index] or [0])
        self._columns = np.array([i for g in groups for i in g], dtype=np.intp)
        self._starts = np.cumsum([0] + [len(g) for g in groups[:-1]]).astype(np.intp)
        self._n = len(READ_ALPHABET)
        pos = {c: i for i, c in enumerate(READ_ALPHABET)}
        self._first = np.array([pos[c] for c in _FIRST], dtype=np.intp)
        self._middle = np.array([pos[c] for c in _MIDDLE], dtype=np.intp)
        self._last = np.array([pos[c] for c in _LAST], dtype=np.intp)
        self._hints = frozenset(pos[c] for c in PROVINCES + EMBASSY_PREFIX + DIGITS + SUFFIXES)

    def segments(self, probs: FloatArray) -> list[Segment]:
        """Cut the masked greedy path of one line (T × C) into character segments."""
        sub = np.add.reduceat(probs[:, self._columns], self._starts, axis=1)
        path = sub.argmax(axis=1)
        found: list[Segment] = []
        start = -1
        current = 0
        for t, cls in enumerate([*path.tolist(), 0]):
            is_char = 1 <= cls <= self._n
            if start >= 0 and (cls != current or not is_char):
                found.append(Segment(sub[start:t, 1 : self._n + 1].max(axis=0), start, t))
                start = -1
            if is_char and start < 0:
                start, current = t, cls
        return found

    def evidence(self, probs: FloatArray, min_p: float) -> int:
        """How many segments of a line read as a digit, province, 使 or suffix (a plate hint)."""
        return sum(1 for seg in self.segments(probs) if seg.best >= min_p and int(seg.probs.argmax()) in self._hints)

    def _allowed(self, count: int) -> list[npt.NDArray[np.intp]]:
        return [self._first] + [self._middle] * (count - 2) + [self._last]

    def assign(self, segments: list[Segment]) -> DecodedPlate | None:
        """Best grammatical plate for exactly these segments (one character each), or ``None``."""
        count = len(segments)
        if count not in {7, 8}:
            return None
        options: list[list[tuple[float, str]]] = []
        for seg, allowed in zip(segments, self._allowed(count), strict=True):
            probs = seg.probs[allowed]
            order = np.argsort(-probs)[:_TOP_K]
            options.append([(float(probs[i]), self.alphabet[allowed[i]]) for i in order])

        # Best-first search over index vectors, scored by the sum of log-probabilities.
        def cost(idx: tuple[int, ...]) -> float:
            return -sum(math.log(max(options[p][i][0], 1e-9)) for p, i in enumerate(idx))

        start = (0,) * count
        heap = [(cost(start), start)]
        seen = {start}
        tries = 0
        while heap and tries < _MAX_TRIES:
            _, idx = heapq.heappop(heap)
            tries += 1
            text = "".join(options[p][i][1] for p, i in enumerate(idx))
            if is_valid_plate(text):
                return DecodedPlate(text, tuple(options[p][i][0] for p, i in enumerate(idx)))
            for p in range(count):
                if idx[p] + 1 < len(options[p]):
                    nxt = (*idx[:p], idx[p] + 1, *idx[p + 1 :])
                    if nxt not in seen:
                        seen.add(nxt)
                        heapq.heappush(heap, (cost(nxt), nxt))
        return None

    def decode(self, lines: list[FloatArray], weak: float = 0.5) -> DecodedPlate | None:
        """Decode one plate from its text lines (one line, or top and bottom row of a double-row plate).

        Weak segments at either end (border strokes read as ``1``) are dropped when that makes the
        count fit the grammar.
        """
        segments = [seg for line in lines for seg in self.segments(line)]
        variants = [segments]
        if len(segments) > 7:
            if segments[0].best < weak:
                variants.append(segments[1:])
            if segments[-1].best < weak:
                variants.append(segments[:-1])
            if len(segments) > 8 and segments[0].best < weak and segments[-1].best < weak:
                variants.append(segments[1:-1])
        best: DecodedPlate | None = None
        for variant in variants:
            decoded = self.assign(variant)
            if decoded is not None and (best is None or decoded.confidence > best.confidence):
                best = decoded
        return best
