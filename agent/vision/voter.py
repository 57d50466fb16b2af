"""Tracking and voting: one read per vehicle passage from many per-frame reads.

Reads on one lane belong to one *track* while they keep coming (gap below ``track_gap_s``) and
either look alike (same length, at most two characters differ) or overlap the track's last box.
When a track ends, its reads vote: first on the plate length, then per character position
(weighted by each read's character confidence), then on the colour. The passage's confidence is
the geometric mean over positions of (winning weight share × mean probability of the winners).
A passage whose plate equals the last one emitted on the same lane within ``duplicate_window_s``
is suppressed (a truck waiting at the barrier is one passage, not one per minute).

Early emission (``early=True``, what the gate agent uses): a track is emitted while it is still
running, as soon as it holds a confident, grammar-valid consensus — at least ``early_reads`` reads
of exactly the same valid plate, each with every character at least ``early_read_min``, whose
combined per-character evidence ``1 - Π(1 - p)`` reaches ``early_char_conf`` at every position,
with no confident read of another plate in the track — or, with ``early_single`` set, one read
whose every character reaches ``early_single``. The rest of that track is absorbed (no second
emission; the duplicate window runs from the track's last read). Tracks that never get there are
voted at their end as before and marked for review when weak. Without ``early`` (offline use such
as ``ecogate agent recognize``) every track is voted over all its reads at its end.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import structlog

from agent.vision.types import PlateRead
from hj1321.plates import is_valid_plate

log = structlog.get_logger(__name__)


class VehicleRead(msgspec.Struct, frozen=True):
    """The consensus read of one vehicle passing one lane."""

    plate: str
    colour: str
    confidence: float
    lane: str
    first_ts: float
    last_ts: float
    reads: int
    box: tuple[int, int, int, int]
    ms: float = 0.0
    char_confidences: tuple[float, ...] = ()
    double_row: bool = False
    needs_review: bool = False
    source: str = ""
    #: Other plates seen in the track with their number of reads (for the review screen).
    alternatives: tuple[tuple[str, int], ...] = ()
    #: Emitted while the track was still running (see the module docstring).
    early: bool = False


@dataclass
class _Track:
    lane: str
    reads: list[tuple[float, PlateRead]] = field(default_factory=list)
    #: The plate emitted early for this track ("" while not emitted).
    emitted: str = ""

    @property
    def last_ts(self) -> float:
        return self.reads[-1][0]


def _similar(a: str, b: str) -> bool:
    if len(a) != len(b):
        return len(a) > 1 and len(b) > 1 and (a.startswith(b[:-1]) or b.startswith(a[:-1]))
    return sum(x != y for x, y in zip(a, b, strict=True)) <= 2


def _probs(read: PlateRead) -> tuple[float, ...]:
    """Per-character probabilities of a read (its overall confidence when they are missing)."""
    if len(read.char_confidences) == len(read.plate):
        return read.char_confidences
    return (read.confidence,) * len(read.plate)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def vote(reads: Sequence[PlateRead]) -> tuple[str, str, float, tuple[float, ...]]:
    """Vote ``(plate, colour, confidence, char_confidences)`` from reads of one vehicle."""
    if not reads:
        raise ValueError("没有可投票的识别结果")
    by_len: dict[int, float] = defaultdict(float)
    for r in reads:
        by_len[len(r.plate)] += r.confidence
    length = max(by_len, key=lambda n: by_len[n])
    same = [r for r in reads if len(r.plate) == length]
    chars: list[str] = []
    confs: list[float] = []
    for pos in range(length):
        weights: dict[str, float] = defaultdict(float)
        probs: dict[str, list[float]] = defaultdict(list)
        for r in same:
            p = r.char_confidences[pos] if len(r.char_confidences) == length else r.confidence
            weights[r.plate[pos]] += p
            probs[r.plate[pos]].append(p)
        winner = max(weights, key=lambda c: weights[c])
        total = sum(weights.values())
        share = weights[winner] / total if total > 0 else 0.0
        chars.append(winner)
        confs.append(share * sum(probs[winner]) / len(probs[winner]))
    plate = "".join(chars)
    if not is_valid_plate(plate):  # positions voted apart into no plate: fall back to the best read
        best = max(same, key=lambda r: r.confidence)
        plate = best.plate
        agree = sum(r.confidence for r in same if r.plate == plate) / sum(r.confidence for r in same)
        confs = [agree * best.confidence] * length
    colour_w: dict[str, float] = defaultdict(float)
    for r in reads:
        if r.plate == plate:
            colour_w[r.colour] += r.confidence
    if not colour_w:
        for r in same:
            colour_w[r.colour] += r.confidence
    colour = max(colour_w, key=lambda c: colour_w[c])
    confidence = math.exp(sum(math.log(max(c, 1e-6)) for c in confs) / len(confs))
    # Penalise passages that are mostly of another length.
    confidence *= by_len[length] / sum(by_len.values())
    return plate, colour, confidence, tuple(round(c, 4) for c in confs)


class PlateVoter:
    """Group per-frame reads into vehicle passages per lane and emit one :class:`VehicleRead` each.

    Not thread-safe: feed it from one task. Timestamps are monotonic seconds.

    Args:
        track_gap_s: a track ends after this long without a matching read.
        max_track_s: a track is cut after this long even if reads keep coming.
        duplicate_window_s: suppress a passage with the same plate on the same lane within this window.
        review_threshold: passages below this confidence are marked ``needs_review``.
        min_reads: passages with fewer reads are marked ``needs_review``.
        early: emit a track as soon as it holds a confident consensus (module docstring).
        early_reads: agreeing reads needed for an early emission.
        early_read_min: a read counts towards early emission only if all its characters reach this.
        early_char_conf: combined evidence ``1 - Π(1 - p)`` needed at every character position.
        early_single: emit on one read whose characters all reach this (``None``: never on one read).
    """

    def __init__(
        self,
        *,
        track_gap_s: float = 1.5,
        max_track_s: float = 20.0,
        duplicate_window_s: float = 60.0,
        review_threshold: float = 0.85,
        min_reads: int = 2,
        early: bool = False,
        early_reads: int = 2,
        early_read_min: float = 0.9,
        early_char_conf: float = 0.99,
        early_single: float | None = None,
    ) -> None:
        self.track_gap_s = track_gap_s
        self.max_track_s = max_track_s
        self.duplicate_window_s = duplicate_window_s
        self.review_threshold = review_threshold
        self.min_reads = min_reads
        self.early = early
        self.early_reads = max(1, early_reads)
        self.early_read_min = early_read_min
        self.early_char_conf = early_char_conf
        self.early_single = early_single
        self._tracks: list[_Track] = []
        self._last_emitted: dict[tuple[str, str], float] = {}

    def remember(self, lane: str, plate: str, ts: float) -> None:
        """A passage of ``plate`` on ``lane`` ended at monotonic ``ts`` (rebuilt from the outbox at start)."""
        key = (lane, plate)
        self._last_emitted[key] = max(ts, self._last_emitted.get(key, ts))

    def feed(self, reads: Sequence[PlateRead], ts: float, lane: str = "") -> list[VehicleRead]:
        """Add the reads of one frame of ``lane`` taken at ``ts``; return passages ended or emitted early."""
        done = self.flush(ts)
        touched: list[_Track] = []
        for read in reads:
            for track in self._tracks:
                if track.lane != lane or ts - track.last_ts > self.track_gap_s:
                    continue
                last = track.reads[-1][1]
                if _similar(read.plate, last.plate) or _overlap(read.box, last.box):
                    track.reads.append((ts, read))
                    break
            else:
                track = _Track(lane, [(ts, read)])
                self._tracks.append(track)
            if track not in touched:
                touched.append(track)
        if self.early:
            for track in touched:
                if not track.emitted:
                    passage = self._early(track)
                    if passage is not None:
                        done.append(passage)
        return done

    def _confident(self, read: PlateRead) -> bool:
        return bool(read.plate) and min(_probs(read)) >= self.early_read_min

    def _consensus(self, track: _Track) -> str:
        """The plate the track may be emitted with now, or ""."""
        confident = [r for _, r in track.reads if self._confident(r)]
        plates = {r.plate for r in confident}
        if len(plates) != 1:  # none yet, or confident reads disagree: wait (the track's end votes)
            return ""
        plate = plates.pop()
        if not is_valid_plate(plate):
            return ""
        if self.early_single is not None and any(min(_probs(r)) >= self.early_single for r in confident):
            return plate
        if len(confident) < self.early_reads:
            return ""
        combined = [1.0 - math.prod(1.0 - p for p in col) for col in zip(*map(_probs, confident), strict=True)]
        return plate if min(combined) >= self.early_char_conf else ""

    def _early(self, track: _Track) -> VehicleRead | None:
        plate = self._consensus(track)
        if not plate:
            return None
        track.emitted = plate
        return self._passage(track, plate, early=True)

    def flush(self, ts: float | None = None) -> list[VehicleRead]:
        """End tracks idle since before ``ts - track_gap_s`` (all tracks when ``ts`` is None)."""
        ended: list[_Track] = []
        keep: list[_Track] = []
        for track in self._tracks:
            too_long = ts is not None and track.last_ts - track.reads[0][0] >= self.max_track_s
            if ts is None or ts - track.last_ts > self.track_gap_s or too_long:
                ended.append(track)
            else:
                keep.append(track)
        self._tracks = keep
        out: list[VehicleRead] = []
        for track in sorted(ended, key=lambda t: t.reads[0][0]):
            passage = self._close(track)
            if passage is not None:
                out.append(passage)
        return out

    def _close(self, track: _Track) -> VehicleRead | None:
        if track.emitted:  # emitted early: the rest of the track is absorbed
            self._last_emitted[(track.lane, track.emitted)] = track.last_ts
            final = vote([r for _, r in track.reads])[0]
            if final != track.emitted:
                log.warning(
                    "early_read_differs_from_track_vote",
                    lane=track.lane,
                    early=track.emitted,
                    final=final,
                    reads=len(track.reads),
                )
            return None
        return self._passage(track, vote([r for _, r in track.reads])[0])

    def _passage(self, track: _Track, voted: str, *, early: bool = False) -> VehicleRead | None:
        reads = [r for _, r in track.reads]
        plate, colour, confidence, confs = vote([r for r in reads if r.plate == voted] if early else reads)
        first, last = track.reads[0][0], track.last_ts
        key = (track.lane, plate)
        previous = self._last_emitted.get(key)
        self._last_emitted[key] = last
        if previous is not None and first - previous < self.duplicate_window_s:
            return None
        best = max((r for r in reads if r.plate == plate), key=lambda r: r.confidence, default=reads[-1])
        counts: dict[str, int] = defaultdict(int)
        for r in reads:
            if r.plate != plate:
                counts[r.plate] += 1
        return VehicleRead(
            plate=plate,
            colour=colour,
            confidence=confidence,
            lane=track.lane,
            first_ts=first,
            last_ts=last,
            reads=len(reads),
            box=best.box,
            ms=sum(r.ms for r in reads) / len(reads),
            char_confidences=confs,
            double_row=best.double_row,
            needs_review=confidence < self.review_threshold or len(reads) < self.min_reads,
            source=best.source,
            alternatives=tuple(sorted(counts.items(), key=lambda kv: -kv[1])),
            early=early,
        )
