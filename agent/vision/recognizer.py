"""Licence-plate recognizer: coarse text detection, fine detection per region, plate-decoded rec.

Pipeline for one frame (all models from the rapidocr_onnxruntime wheel, see ``models``):

1. **Coarse pass.** The PP-OCRv4 det model runs on the frame downscaled to 448 px on the long side
   (about 8 ms on a quiet machine instead of ~85 ms at full size; 384 px lost small plates). Its
   boxes, joined per text row (the plate's separator dot splits a line) and mapped back to full
   resolution, are read directly: each line of plate-like shape (width/height 1.3–5.4, grown by
   half a character each side for a red or faint end character) and each short line right above a
   taller one (a double-row plate) is rectified to 48 px height and run through the rec model, then
   decoded with :class:`agent.vision.decode.PlateDecoder` (plate alphabet, province-only first
   character, grammar). This reads most plates. Lines are read most plate-like first (plate shape,
   then height) and reading stops at the first confident read (not marked for review) unless the
   recognizer is ``thorough``: the rest of a gate frame is sign text.
2. **Fine pass**, only when the coarse pass gave no confident read (or ``thorough``), for coarse
   lines left unread that still look like plate text (three or more
   digits, provinces or suffixes in them, or the squat shape of a double-row plate): the det model
   runs again at full resolution on a region around them (scaled so the text is about 32 px
   high), the same candidates are read, and for lines still unexplained two double-row fallbacks
   are tried: splitting a line that holds both rows, and reading the strip above a lone bottom row.
3. **Rescue pass**, only when nothing was read: the fine pass around every other coarse line,
   reading also both ends of long lines (a plate whose line ran into text beside it). It costs
   time on empty frames only.
4. **Colour** follows from the plate kind and the pixels (:mod:`agent.vision.colour`).

**Our own recognizer** (issue 18, ``own_model``): a small CRNN/CTC trained by the project
(:mod:`agent.vision.training`, file ``agent/vision/weights/plate_rec.onnx``) reads (a) a small
plate-shaped picture (a plate crop such as CCPD's 94x24) whole as one plate, a read that competes
with PP-OCR's reads of the picture by confidence, and (b) every candidate whose PP-OCR read the
decoder rejected (grammar, segments or confidence), from the candidate's padded box; on a frame
where PP-OCR reads a plate its read stands (measured on the real set's tune part, docs/vision.md).

A frame (or lane ROI) of at most 720 px skips the coarse pass: it is one fine-pass region.

Both models are the wheel's files with an exact load-time graph rewrite (:mod:`agent.vision.graph`).

Thread safety: :meth:`PlateRecognizer.recognize` keeps no state between calls and onnxruntime
sessions may run concurrently, so one recognizer can serve several threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import cv2
import msgspec
import numpy as np
import numpy.typing as npt

from agent.vision.colour import colour_conflict, plate_colour
from agent.vision.decode import PlateDecoder
from agent.vision.detect import TextBox, TextDetector
from agent.vision.models import DET_MODEL, REC_MODEL, ModelsMissingError, create_session, own_model_path, rec_characters
from agent.vision.training.onnx_reader import OwnPlateReader, OwnRead
from agent.vision.types import InvalidFrameError, PlateRead

Image8 = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

#: Long side of the coarse det input (512 until 2026-11-29: 448 read as well, 13-18 % faster per frame).
_COARSE_SIDE: Final = 448
_SINGLE_REGION_SIDE: Final = 720
_REC_HEIGHT: Final = 48
_REC_MAX_WIDTH: Final = 320
_REC_BATCH: Final = 8
_LINE_GROW: Final = 0.5
_FINE_TEXT_H: Final = 32.0
_ROI_SIDE: Final = 480
_FINE_MAX_SIDE: Final = 960
#: Long side of the whole-frame det of the last-chance pass (issue 18: real photographs whose plate
#: the coarse pass at 448 px never saw; plain PP-OCR reads them at 736-960 px).
_WIDE_SIDE: Final = 960
#: A coarse line with at least this many digits, provinces or suffixes (each at least this likely)
#: but no valid read gets the fine pass (letters do not count: they are common on signs).
_EVIDENCE_MIN: Final = 3
#: Longest width/height of a plate text line as the det model boxes it (measured ≤ 4.6 on
#: generated scenes; slogans run longer), so longer lines are not read.
_MAX_LINE_ASPECT: Final = 5.4
#: A read with any character less likely than this goes to review (e.g. 0 at 0.52 against Q at 0.46).
_CHAR_REVIEW: Final = 0.6
_EVIDENCE_P: Final = 0.3
#: Width/height of a plate's text line as boxed by the coarse pass (for the reading order only).
_PLATE_ASPECT: Final = (2.2, 4.3)
#: A picture read directly as one plate by our model: at most this long side, and an aspect in range
#: (CCPD crops 94x24 = 3.9; a double-row plate 440x220 = 2.0, read as double row below 2.6).
_CROP_MAX_SIDE: Final = 400
_CROP_ASPECT: Final = (1.7, 6.0)
_CROP_DOUBLE_BELOW: Final = 2.6
#: Padding of a candidate's box for our model (fractions of its width and height, each side),
#: as the training crops cut from real scenes (agent.vision.training.harvest).
_OWN_PAD: Final = (0.06, 0.15)
#: Least confidence of our model's read of a candidate PP-OCR could not read (higher than PP-OCR's
#: minimum: on candidates that are sign text our model, trained on plates only, still spells a plate).
_OWN_MIN_CONFIDENCE: Final = 0.85


class _Decoded(Protocol):
    """A decoded plate: PP-OCR's (agent.vision.decode) or our model's (OwnRead)."""

    @property
    def plate(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def char_confidences(self) -> Sequence[float]: ...


@dataclass(frozen=True, slots=True)
class _Region:
    x1: int
    y1: int
    x2: int
    y2: int
    text_h: float
    score: float


@dataclass(frozen=True, slots=True)
class _Candidate:
    lines: tuple[TextBox, ...]  # one line, or top and bottom row
    origin: TextBox  # the detected line it was made from

    @property
    def double_row(self) -> bool:
        return len(self.lines) == 2

    def bounds(self) -> tuple[float, float, float, float]:
        xs1, ys1, xs2, ys2 = zip(*(line.bounds for line in self.lines), strict=True)
        return min(xs1), min(ys1), max(xs2), max(ys2)


def _as_bgr(frame: object) -> Image8:
    if not isinstance(frame, np.ndarray):
        raise InvalidFrameError("输入不是图像数组")
    if frame.size == 0 or frame.ndim not in {2, 3} or min(frame.shape[:2]) < 8:
        raise InvalidFrameError(f"图像尺寸无效: {frame.shape}")
    img = frame
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if img.shape[2] == 4:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    if img.shape[2] == 1:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if img.shape[2] != 3:
        raise InvalidFrameError(f"图像通道数无效: {img.shape[2]}")
    return np.ascontiguousarray(img)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _pp_reads(found: list[tuple[float, PlateRead]]) -> bool:
    """Whether PP-OCR read anything: our model's reads of rejected candidates (keys <= 0, see
    ``_read``) do not stop the later passes, which may still find the plate PP-OCR reads."""
    return any(key > 0 for key, _ in found)


def _explained(line: TextBox, reads: list[PlateRead]) -> bool:
    b = line.bounds
    return any(_iou(b, _fbox(r.box)) > 0.1 for r in reads)


def _fbox(box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def _join(boxes: list[TextBox]) -> TextBox:
    if len(boxes) == 1:
        return boxes[0]
    pts = np.concatenate([cv2.boxPoints(((b.cx, b.cy), (b.w, b.h), b.angle)) for b in boxes]).astype(np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(pts)
    if w < h:
        w, h = h, w
        angle += 90.0
    angle = ((angle + 90.0) % 180.0) - 90.0
    return TextBox(cx, cy, w, h, angle, max(b.score for b in boxes))


def _rows(boxes: list[TextBox]) -> list[TextBox]:
    """Join boxes that sit on one text row with small gaps (the separator dot splits plate text)."""
    boxes = sorted(boxes, key=lambda b: b.cx)
    groups: list[list[TextBox]] = []
    for box in boxes:
        x1, _, _, _ = box.bounds
        for group in groups:
            last = group[-1]
            h = max(last.h, box.h)
            gap = x1 - last.bounds[2]
            if abs(last.cy - box.cy) < 0.35 * h and 0.6 < box.h / last.h < 1.65 and gap < 1.7 * h:
                group.append(box)
                break
        else:
            groups.append([box])
    return [_join(g) for g in groups]


def _sub_box(box: TextBox, top: float, bottom: float, side: float = 0.0) -> TextBox:
    """Part of ``box`` in its own frame: rows ``top``..``bottom`` (fractions of its height, may lie
    outside 0..1), narrowed by ``side`` of its width on each side (negative grows it)."""
    rad = math.radians(box.angle)
    mid = (top + bottom) / 2 - 0.5
    shift = mid * box.h
    return TextBox(
        box.cx - math.sin(rad) * shift,
        box.cy + math.cos(rad) * shift,
        box.w * (1 - 2 * side),
        box.h * (bottom - top),
        box.angle,
        box.score,
    )


def _window(box: TextBox, left: float, right: float) -> TextBox:
    """The part of ``box`` between fractions ``left`` and ``right`` of its width."""
    rad = math.radians(box.angle)
    shift = ((left + right) / 2 - 0.5) * box.w
    return TextBox(
        box.cx + math.cos(rad) * shift,
        box.cy + math.sin(rad) * shift,
        box.w * (right - left),
        box.h,
        box.angle,
        box.score,
    )


def _plate_likeness(line: TextBox) -> tuple[int, float]:
    """Sort key, most plate-like first: lines of plate shape (width/height 2.2–4.3; measured 2.3–4.0
    on the lines that gave reads), then the taller (a lane camera's plate is its biggest text)."""
    return (0 if _PLATE_ASPECT[0] <= line.w / line.h <= _PLATE_ASPECT[1] else 1, -line.h)


def _rectify(img: Image8, box: TextBox) -> Image8:
    """Warp a rotated text box to an upright crop of height 48."""
    w = max(box.w, 1.0)
    h = max(box.h, 1.0)
    out_w = int(min(_REC_MAX_WIDTH, max(16, round(_REC_HEIGHT * w / h))))
    rad = math.radians(box.angle)
    cos, sin = math.cos(rad), math.sin(rad)
    ux, uy = cos * w / 2, sin * w / 2
    vx, vy = -sin * h / 2, cos * h / 2
    src = np.array(
        [
            [box.cx - ux - vx, box.cy - uy - vy],
            [box.cx + ux - vx, box.cy + uy - vy],
            [box.cx + ux + vx, box.cy + uy + vy],
            [box.cx - ux + vx, box.cy - uy + vy],
        ],
        dtype=np.float32,
    )
    dst = np.array([[0, 0], [out_w, 0], [out_w, _REC_HEIGHT], [0, _REC_HEIGHT]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(
        img, matrix, (out_w, _REC_HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)


class PlateRecognizer:
    """Find and read licence plates in BGR frames (see the module docstring for the pipeline).

    Args:
        threads: onnxruntime intra-op threads per model (None: all cores).
        min_confidence: reads below this are dropped (no plate).
        review_confidence: reads below this are kept but marked ``needs_review``.
        max_regions: most fine-pass regions per frame.
        thorough: run the fine pass around unread plate-like lines even when the coarse pass already
            read a confident plate (a second, smaller or blurred plate in the same frame). Off by
            default: at a gate the frame's confident plate is the vehicle's, and the fine pass ran
            there only around sign text (measured: 36 of 246 such frames, 0 extra reads; issue 3).
        own_model: use our own recognizer (module docstring); None: when its file is in the package.
        wide_fallback: when a frame gave no read at all, run the det model once more on the whole
            frame at 960 px (small pictures: enlarged up to 2x) and read its lines (issue 18: plates
            the 448 px coarse pass or the 480 px single region missed on real photographs). Defaults
            to ``thorough``: it costs 4-10x a frame without a read (measured 2026-12-07, 1280x720,
            2 threads: p50 31 -> 143 ms), which a live lane pays on every moving frame before the
            plate is legible, so gate lanes keep it off until it is measured against gate latency.
    """

    def __init__(
        self,
        threads: int | None = None,
        *,
        min_confidence: float = 0.5,
        review_confidence: float = 0.85,
        max_regions: int = 8,
        thorough: bool = False,
        wide_fallback: bool | None = None,
        own_model: bool | None = None,
    ) -> None:
        self._det = TextDetector(create_session(DET_MODEL, threads))
        self._own: OwnPlateReader | None = None
        if own_model is not False:
            path = own_model_path()
            if path is not None:
                self._own = OwnPlateReader(path, threads=1)
            elif own_model:
                raise ModelsMissingError("缺少自训练车牌识别模型 agent/vision/weights/plate_rec.onnx")
        self._rec = create_session(REC_MODEL, threads)
        self._rec_input = self._rec.get_inputs()[0].name
        self.decoder = PlateDecoder(rec_characters(self._rec))
        self.min_confidence = min_confidence
        self.review_confidence = review_confidence
        self.max_regions = max_regions
        self.thorough = thorough
        self.wide_fallback = thorough if wide_fallback is None else wide_fallback

    # -- localisation ---------------------------------------------------------------------------

    def _coarse_lines(self, img: Image8) -> list[TextBox]:
        """Text lines found on the downscaled frame, in full-resolution coordinates."""
        h, w = img.shape[:2]
        scale = _COARSE_SIDE / max(h, w)
        small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        boxes = [raw.scaled(1.0 / scale) for raw in self._det.detect(np.asarray(small, dtype=np.uint8), min_size=2.0)]
        return [b for b in _rows(boxes) if 6 <= b.h <= 160 and b.w / b.h >= 0.8]

    def _regions(self, lines: list[TextBox], w: int, h: int) -> list[_Region]:
        """Full-resolution regions around coarse lines, grown upwards for a double-row top row."""
        regions: list[_Region] = []
        for box in lines:
            bx1, by1, bx2, by2 = box.bounds
            # A squat line is likely both rows of a double-row plate: size the fine pass for its
            # small top row, not for the whole box.
            text_h = box.h * (0.4 if box.w / box.h < 2.4 else 1.0)
            th = box.h
            regions.append(
                _Region(
                    max(0, int(bx1 - 0.15 * box.w - th)),
                    max(0, int(by1 - 1.3 * th)),
                    min(w, int(bx2 + 0.15 * box.w + th)),
                    min(h, int(by2 + 0.7 * th)),
                    text_h,
                    box.score,
                )
            )
        regions.sort(key=lambda r: -r.score)
        merged: list[_Region] = []
        for r in regions:
            for i, m in enumerate(merged):
                if r.x1 < m.x2 and m.x1 < r.x2 and r.y1 < m.y2 and m.y1 < r.y2:
                    merged[i] = _Region(
                        min(m.x1, r.x1),
                        min(m.y1, r.y1),
                        max(m.x2, r.x2),
                        max(m.y2, r.y2),
                        min(m.text_h, r.text_h),
                        m.score,
                    )
                    break
            else:
                merged.append(r)
        return merged[: self.max_regions]

    def _read_lines(
        self, img: Image8, lines: list[TextBox], source: str, rescue: bool = False
    ) -> tuple[list[tuple[float, PlateRead]], dict[int, int]]:
        """Candidates from ``lines`` read, then the double-row fallbacks for lines left unexplained."""
        candidates, paired = self._candidates(lines)
        found, evidence = self._read(img, candidates, source)
        extra = self._fallback_candidates(lines, paired, [r for _, r in found], rescue)
        if extra:
            found += self._read(img, extra, source)[0]
        return found, evidence

    def _lines(self, img: Image8, region: _Region, max_side: int = _FINE_MAX_SIDE) -> list[TextBox]:
        """Fine text lines of one region, in ``img`` coordinates."""
        crop = img[region.y1 : region.y2, region.x1 : region.x2]
        # Bring the text to about 32 px for the fine pass: upscale small plates, shrink big ones.
        # A whole small image (text_h <= 0) carries its factor instead (see _regions).
        factor = -region.text_h if region.text_h <= 0 else min(2.0, max(0.5, _FINE_TEXT_H / region.text_h))
        # Bound the det input (time, and the memory arena's high-water mark).
        factor = min(factor, max_side / max(crop.shape[0], crop.shape[1], 1))
        if factor != 1.0:
            interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
            crop = np.asarray(cv2.resize(crop, None, fx=factor, fy=factor, interpolation=interpolation), np.uint8)
        boxes = [
            b.scaled(1.0 / factor, region.x1, region.y1)
            for b in self._det.detect(np.asarray(crop, dtype=np.uint8), min_size=3.0)
            if b.score >= 0.4
        ]
        return [b for b in _rows([b for b in boxes if b.h >= 5]) if b.h >= 6]

    @staticmethod
    def _candidates(lines: list[TextBox]) -> tuple[list[_Candidate], set[int]]:
        """Single-row candidates and explicit double-row pairs; also the ids of paired bottoms."""
        candidates: list[_Candidate] = []
        paired: set[int] = set()
        for bottom in lines:
            aspect = bottom.w / bottom.h
            if 1.3 <= aspect <= _MAX_LINE_ASPECT:
                # Grow the line by about one character each side: the det model often leaves out a
                # red character (警, 使, 领) or a faint first/last one; the decoder drops stray strokes.
                candidates.append(_Candidate((_sub_box(bottom, 0.0, 1.0, -_LINE_GROW * bottom.h / bottom.w),), bottom))
            for top in lines:
                if top is bottom or not 0.2 * bottom.h <= top.h <= 0.87 * bottom.h or top.w > 1.05 * bottom.w:
                    continue
                gap = bottom.bounds[1] - top.bounds[3]
                if -0.5 * bottom.h <= gap <= 0.8 * bottom.h and bottom.bounds[0] <= top.cx <= bottom.bounds[2]:
                    # The top row's two characters sit far apart and the det model often boxes
                    # only one: read the top row across the middle of the bottom row's width.
                    row = TextBox(bottom.cx, top.cy, 0.8 * bottom.w, top.h, bottom.angle, top.score)
                    candidates.append(_Candidate((row, bottom), bottom))
                    paired.add(id(bottom))
        return candidates, paired

    @staticmethod
    def _fallback_candidates(
        lines: list[TextBox], paired: set[int], reads: list[PlateRead], rescue: bool = False
    ) -> list[_Candidate]:
        """Second chance for double-row plates whose rows the det model merged or half missed; when
        rescuing, also both ends of long lines (a plate whose line ran into text beside it)."""
        out: list[_Candidate] = []
        for line in lines:
            if _explained(line, reads):
                continue
            aspect = line.w / line.h
            if 1.3 <= aspect <= 3.2:  # both rows in one box: split at the gap between the rows
                out.append(_Candidate((_sub_box(line, 0.0, 0.38), _sub_box(line, 0.34, 1.0)), line))
            if 2.2 <= aspect <= 5.5 and id(line) not in paired:  # top row not found: read above the line
                out.append(_Candidate((_sub_box(line, -0.72, 0.06, 0.12), line), line))
            if rescue and aspect > _MAX_LINE_ASPECT:
                part = min(0.9, 4.6 / aspect)
                out.append(_Candidate((_window(line, 0.0, part),), line))
                out.append(_Candidate((_window(line, 1.0 - part, 1.0),), line))
        return out

    # -- recognition ----------------------------------------------------------------------------

    def _run_rec(self, crops: list[Image8]) -> list[FloatArray]:
        outputs: list[FloatArray] = [np.zeros((0, 0), np.float32)] * len(crops)
        # Batch only crops of about the same width: the model's cost grows with the padded width,
        # and on a CPU batching saves little else. (One run per call, padded to the widest crop,
        # was tried on 2026-11-28 and measured 7-10 % slower, paired A/B: docs/vision.md.)
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
        chunks: list[list[int]] = []
        for i in order:
            if chunks and len(chunks[-1]) < _REC_BATCH and crops[i].shape[1] <= 1.15 * crops[chunks[-1][0]].shape[1]:
                chunks[-1].append(i)
            else:
                chunks.append([i])
        for chunk in chunks:
            width = max(crops[i].shape[1] for i in chunk)
            width = max(64, math.ceil(width / 8) * 8)
            batch = np.zeros((len(chunk), 3, _REC_HEIGHT, width), dtype=np.float32)
            for j, i in enumerate(chunk):
                c = crops[i]
                batch[j, :, :, : c.shape[1]] = (c.astype(np.float32).transpose(2, 0, 1) - 127.5) / 127.5
            probs = self._rec.run(None, {self._rec_input: batch})[0]
            for j, i in enumerate(chunk):
                steps = max(1, math.ceil(crops[i].shape[1] / 8) + 1)
                outputs[i] = np.asarray(probs[j, :steps], dtype=np.float32)
        return outputs

    def read_lines(self, crops: list[Image8]) -> list[FloatArray]:
        """Raw rec output (T × classes) of upright 48-px-high crops (for tests and diagnostics)."""
        return self._run_rec(crops)

    def _read(
        self, img: Image8, candidates: list[_Candidate], source: str
    ) -> tuple[list[tuple[float, PlateRead]], dict[int, int]]:
        """Read candidates; also return, per origin line, the most plate characters seen in it."""
        crops: list[Image8] = []
        spans: list[tuple[int, int]] = []
        for cand in candidates:
            spans.append((len(crops), len(crops) + len(cand.lines)))
            crops.extend(_rectify(img, line) for line in cand.lines)
        outputs = self._run_rec(crops) if crops else []
        found: list[tuple[float, PlateRead]] = []
        evidence: dict[int, int] = {}
        for cand, (a, b) in zip(candidates, spans, strict=True):
            if len(cand.lines) == 1:
                count = self.decoder.evidence(outputs[a], _EVIDENCE_P)
                evidence[id(cand.origin)] = max(count, evidence.get(id(cand.origin), 0))
            decoded = self.decoder.decode(outputs[a:b])
            x1f, y1f, x2f, y2f = cand.bounds()
            if decoded is None or decoded.confidence < self.min_confidence:
                own = self._own_read(img, (x1f, y1f, x2f, y2f), double_row=cand.double_row)
                if own is not None:
                    # Ranked below every PP-OCR read of the frame (key - 1): where PP-OCR reads, it stands;
                    # marked for review (a second reader's word alone), so reading goes on for PP-OCR's.
                    read = self._plate_read(img, own, cand.bounds(), cand.double_row, source)
                    found.append((own.confidence - 1.0, msgspec.structs.replace(read, needs_review=True)))
                continue
            found.append((decoded.confidence, self._plate_read(img, decoded, cand.bounds(), cand.double_row, source)))
        return found, evidence

    def _own_read(self, img: Image8, bounds: tuple[float, float, float, float], *, double_row: bool) -> OwnRead | None:
        """Our model's read of the padded box ``bounds`` (None: no model, no valid or confident read)."""
        if self._own is None:
            return None
        x1, y1, x2, y2 = bounds
        w, h = x2 - x1, y2 - y1
        if w < 8 or h < 4:
            return None
        pad_x, pad_y = _OWN_PAD
        crop = img[
            max(0, int(y1 - pad_y * h)) : min(img.shape[0], round(y2 + pad_y * h)),
            max(0, int(x1 - pad_x * w)) : min(img.shape[1], round(x2 + pad_x * w)),
        ]
        own = self._own.read(np.ascontiguousarray(crop), double_row=double_row)
        return own if own is not None and own.confidence >= _OWN_MIN_CONFIDENCE else None

    def _plate_read(
        self,
        img: Image8,
        decoded: _Decoded,
        bounds: tuple[float, float, float, float],
        double_row: bool,
        source: str,
        pad: tuple[float, float] = (0.04, 0.12),
    ) -> PlateRead:
        """The :class:`PlateRead` of a decoded plate (ours or PP-OCR's) at ``bounds``, colour included."""
        plate, confidence, chars = decoded.plate, decoded.confidence, tuple(decoded.char_confidences)
        x1f, y1f, x2f, y2f = bounds
        pad_x = pad[0] * (x2f - x1f)
        pad_y = pad[1] * (y2f - y1f)
        box = (
            max(0, int(x1f - pad_x)),
            max(0, int(y1f - pad_y)),
            min(img.shape[1], math.ceil(x2f + pad_x)),
            min(img.shape[0], math.ceil(y2f + pad_y)),
        )
        plate_area = img[box[1] : box[3], box[0] : box[2]]
        colour = plate_colour(plate, plate_area)
        suspect = colour_conflict(colour, plate_area)
        return PlateRead(
            plate=plate,
            colour=str(colour),
            confidence=confidence,
            box=box,
            char_confidences=tuple(round(p, 4) for p in chars),
            double_row=double_row,
            needs_review=confidence < self.review_confidence or suspect or min(chars) < _CHAR_REVIEW,
            source=source,
        )

    def _read_coarse(
        self, img: Image8, candidates: list[_Candidate], source: str
    ) -> tuple[list[tuple[float, PlateRead]], dict[int, int]]:
        """Read the coarse candidates, most plate-like line first, stopping at a confident plate.

        Candidates are grouped by the line they were made from (single row and double-row pairs
        together) and the groups ordered by :func:`_plate_likeness`. Unless ``thorough``, reading
        stops after the first group that gives a read not marked for review: the rest is mostly
        sign text (measured on 300 scenes: 1.2 of 2.9 rec crops per frame saved).
        """
        if self.thorough:
            return self._read(img, candidates, source)
        groups: dict[int, list[_Candidate]] = {}
        for cand in candidates:
            groups.setdefault(id(cand.origin), []).append(cand)
        found: list[tuple[float, PlateRead]] = []
        evidence: dict[int, int] = {}
        for group in sorted(groups.values(), key=lambda g: _plate_likeness(g[0].origin)):
            got, seen = self._read(img, group, source)
            found += got
            evidence.update(seen)
            if any(not read.needs_review for _, read in got):
                break
        return found, evidence

    def _read_large(self, img: Image8, source: str) -> list[tuple[float, PlateRead]]:
        """Passes 1-3 (module docstring) on a frame larger than one fine-pass region."""
        h, w = img.shape[:2]
        # Pass 1: read the coarse lines directly (enough for most plates of 150 px and more).
        coarse = self._coarse_lines(img)
        candidates, _ = self._candidates(coarse)
        found, evidence = self._read_coarse(img, candidates, source)
        # Pass 2: fine detection around coarse lines that look like unread plate text: enough
        # digits, provinces or suffixes, or the squat shape of a double-row plate with some.
        confident = any(not r.needs_review for _, r in found)
        pending = [
            line
            for line in coarse
            if (self.thorough or not confident)
            and not _explained(line, [r for k, r in found if k > 0])
            and (
                evidence.get(id(line), 0) >= _EVIDENCE_MIN
                or (evidence.get(id(line), 0) >= _EVIDENCE_MIN - 1 and 1.2 <= line.w / line.h <= 3.2)
            )
        ]
        for region in self._regions(pending, w, h):
            found += self._read_lines(img, self._lines(img, region), source)[0]
        if not _pp_reads(found):
            # Pass 3, only when nothing was read: the fine pass around every other line of
            # plate-like shape (dark or blurred plates give the coarse read too little to go on).
            rest = [line for line in coarse if line not in pending]
            for region in self._regions(rest, w, h):
                found += self._read_lines(img, self._lines(img, region), source, rescue=True)[0]
        return found

    def _read_crop(self, img: Image8, source: str) -> list[tuple[float, PlateRead]]:
        """A small plate-shaped picture is a plate crop: our model reads it whole (the det model
        often finds no line in a picture that small, e.g. CCPD's 94x24 crops)."""
        h, w = img.shape[:2]
        if self._own is None or max(h, w) > _CROP_MAX_SIDE or not _CROP_ASPECT[0] <= w / h <= _CROP_ASPECT[1]:
            return []
        double = w / h < _CROP_DOUBLE_BELOW
        own = self._own.read(img, double_row=double)
        if own is None or own.confidence < self.min_confidence:
            return []
        return [
            (own.confidence, self._plate_read(img, own, (0.0, 0.0, float(w), float(h)), double, source, (0.0, 0.0)))
        ]

    def recognize(
        self, frame: npt.NDArray[np.generic], roi: tuple[int, int, int, int] | None = None, source: str = ""
    ) -> list[PlateRead]:
        """Read the plates in ``frame`` (BGR, or grey/BGRA), optionally only inside ``roi``.

        Raises:
            InvalidFrameError: ``frame`` is no usable image.
        """
        started = time.perf_counter()
        img = _as_bgr(frame)
        ox = oy = 0
        if roi is not None:
            x1, y1, x2, y2 = (int(v) for v in roi)
            x1, y1 = max(0, x1), max(0, y1)
            x2, y2 = min(img.shape[1], x2), min(img.shape[0], y2)
            if x2 - x1 < 8 or y2 - y1 < 8:
                raise InvalidFrameError(f"车道感兴趣区域无效: {roi}")
            img = np.ascontiguousarray(img[y1:y2, x1:x2])
            ox, oy = x1, y1
        h, w = img.shape[:2]
        # A small plate-shaped picture: our model's read of the whole picture joins PP-OCR's reads and
        # the more confident wins (measured on the tune crops: 680/715 against 676 when a confident
        # read of ours ended the call, and 60/60 rendered 94 px crops against 58).
        crop_reads = self._read_crop(img, source)
        found: list[tuple[float, PlateRead]] = []
        if max(h, w) <= _SINGLE_REGION_SIDE:
            # A lane ROI (or small picture) is one region; big ones are shrunk for the fine pass.
            whole = _Region(0, 0, w, h, -min(1.0, _ROI_SIDE / max(h, w)), 1.0)
            found += self._read_lines(img, self._lines(img, whole), source)[0]
        else:
            found = self._read_large(img, source)
        if not _pp_reads(found) and self.wide_fallback:
            # Pass 4, last chance when nothing was read: the whole frame at 960 px (small pictures
            # enlarged), every line read as in the fine pass. Costs time on frames without a read only.
            factor = min(2.0, _WIDE_SIDE / max(h, w))
            whole = _Region(0, 0, w, h, -factor, 1.0)
            found += self._read_lines(img, self._lines(img, whole, _WIDE_SIDE), source, rescue=True)[0]
        found += crop_reads
        found.sort(key=lambda item: -item[0])
        kept: list[PlateRead] = []
        for _, read in found:
            if all(_iou(_fbox(read.box), _fbox(k.box)) < 0.2 for k in kept):
                kept.append(read)
        ms = (time.perf_counter() - started) * 1000.0
        return [
            msgspec.structs.replace(r, box=(r.box[0] + ox, r.box[1] + oy, r.box[2] + ox, r.box[3] + oy), ms=ms)
            for r in kept
        ]
