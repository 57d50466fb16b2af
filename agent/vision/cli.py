"""``ecogate agent recognize IMAGE_OR_VIDEO …``: print one JSON line per plate read.

Each line has exactly the keys ``plate``, ``colour``, ``confidence``, ``box``, ``ms``, ``source``.
Images give one line per plate found. Videos and streams give one line per vehicle passage (reads
of many frames voted by :class:`agent.vision.PlateVoter`), or one per frame with ``--frames``.
A file without a plate prints nothing. Unreadable inputs print a Chinese error on stderr, the other
inputs are still processed, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from agent.sources.base import Frame, SourceError
from agent.sources.opencv import STREAM_SCHEMES, VIDEO_SUFFIXES, open_capture, read_image
from agent.vision.recognizer import PlateRecognizer
from agent.vision.types import InvalidFrameError, PlateRead
from agent.vision.voter import PlateVoter, VehicleRead


def _roi(text: str) -> tuple[int, int, int, int]:
    parts = [int(float(p)) for p in text.replace(" ", "").split(",")]
    if len(parts) != 4 or parts[2] <= parts[0] or parts[3] <= parts[1]:
        raise argparse.ArgumentTypeError("感兴趣区域格式应为 x1,y1,x2,y2")
    return parts[0], parts[1], parts[2], parts[3]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecogate agent recognize", description="识别图片或视频中的车牌，每条结果输出一行 JSON"
    )
    p.add_argument("inputs", nargs="+", help="图片、视频文件或视频流地址 (rtsp://, http://)")
    p.add_argument("--roi", type=_roi, default=None, help="车道感兴趣区域 x1,y1,x2,y2（像素）")
    p.add_argument("--threads", type=int, default=None, help="推理线程数（默认使用全部核心）")
    p.add_argument("--step", type=int, default=1, help="视频每隔几帧识别一次（默认 1）")
    p.add_argument("--frames", action="store_true", help="视频逐帧输出，不做跨帧投票")
    p.add_argument("--max-frames", type=int, default=0, help="视频最多处理的帧数（0 为不限）")
    p.add_argument("--min-confidence", type=float, default=0.5, help="低于此置信度的结果不输出")
    return p


def _emit(read: PlateRead | dict[str, object]) -> None:
    line = read.to_json_line() if isinstance(read, PlateRead) else read
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _open_capture(spec: str) -> tuple[cv2.VideoCapture, float]:
    if not spec.lower().startswith(STREAM_SCHEMES):
        path = Path(spec)
        if not path.is_file():
            raise SourceError(f"文件不存在: {path}")
        if path.stat().st_size == 0:
            raise SourceError(f"视频文件为空: {path}")
    capture = open_capture(spec)
    if not capture.isOpened():
        raise SourceError(f"无法打开视频: {spec}")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    return capture, fps if 0 < fps < 1000 else 25.0


def _frames(capture: cv2.VideoCapture, fps: float, step: int, max_frames: int) -> Iterator[tuple[float, Frame]]:
    index = 0
    while not max_frames or index < max_frames:
        ok, frame = capture.read()
        if not ok or frame is None:
            break
        index += 1
        if (index - 1) % max(1, step) == 0:
            yield (index - 1) / fps, np.asarray(frame, dtype=np.uint8)


def _run_video(recognizer: PlateRecognizer, spec: str, args: argparse.Namespace) -> None:
    source = spec if spec.lower().startswith(STREAM_SCHEMES) else Path(spec).name
    capture, fps = _open_capture(spec)
    voter = PlateVoter(track_gap_s=max(1.0, 3 * args.step / fps))
    seen = 0
    try:
        for ts, frame in _frames(capture, fps, args.step, args.max_frames):
            seen += 1
            reads = recognizer.recognize(frame, args.roi, source=source)
            if args.frames:
                for read in reads:
                    _emit(read)
            else:
                for passage in voter.feed(reads, ts):
                    _emit(_passage_line(passage, source))
    finally:
        capture.release()
    if seen == 0:
        raise SourceError(f"视频中没有可读取的帧: {spec}")
    for passage in voter.flush():
        _emit(_passage_line(passage, source))


def _passage_line(passage: VehicleRead, source: str) -> dict[str, object]:
    return {
        "plate": passage.plate,
        "colour": passage.colour,
        "confidence": round(passage.confidence, 4),
        "box": list(passage.box),
        "ms": round(passage.ms, 1),
        "source": source,
    }


def main(argv: list[str]) -> int:
    """Run the command; return the exit code."""
    args = _parser().parse_args(argv)
    # Thorough: every plate of a picture, not only the first confident one (the live gate's mode).
    recognizer = PlateRecognizer(threads=args.threads, min_confidence=args.min_confidence, thorough=True)
    failed = False
    for spec in args.inputs:
        try:
            is_stream = spec.lower().startswith(STREAM_SCHEMES)
            if is_stream or Path(spec).suffix.lower() in VIDEO_SUFFIXES:
                _run_video(recognizer, spec, args)
                continue
            frame = read_image(spec)
            for read in recognizer.recognize(frame, args.roi, source=Path(spec).name):
                _emit(read)
        except (SourceError, InvalidFrameError, OSError) as exc:
            print(f"错误: {exc}", file=sys.stderr)  # noqa: T201
            failed = True
    return 1 if failed else 0
