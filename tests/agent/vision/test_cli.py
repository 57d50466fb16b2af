"""``ecogate agent recognize``: JSON lines with exactly the agreed keys; bad input never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from agent.synth import write_lane_video
from agent.synth.scene import generate_scene
from agent.vision import cli

KEYS = {"plate", "colour", "confidence", "box", "ms", "source"}


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, truth = generate_scene(3)
    empty, _ = generate_scene(8, condition="empty")
    cv2.imwrite(str(tmp_path / "车道1.jpg"), img)
    cv2.imwrite(str(tmp_path / "empty.png"), empty)
    assert cli.main([str(tmp_path / "车道1.jpg"), str(tmp_path / "empty.png")]) == 0
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 1
    assert set(lines[0]) == KEYS
    assert lines[0]["plate"] == truth.plate
    assert lines[0]["colour"] == truth.colour
    assert lines[0]["source"] == "车道1.jpg"
    assert isinstance(lines[0]["box"], list)
    assert len(lines[0]["box"]) == 4
    assert 0 < float(lines[0]["confidence"]) <= 1  # type: ignore[arg-type]


def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, truth = generate_scene(3)
    _, buf = cv2.imencode(".jpg", img)
    data = bytes(buf)
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "head.jpg").write_bytes(data[:200])
    (tmp_path / "junk.png").write_bytes(b"hello")
    (tmp_path / "zero.avi").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    paths = [
        str(tmp_path / n)
        for n in ("zero.jpg", "trunc.jpg", "head.jpg", "junk.png", "zero.avi", "junk.mp4", "missing.jpg")
    ]
    assert cli.main(paths) == 1
    captured = capsys.readouterr()
    for line in _lines(captured.out):  # a truncated JPEG may still show the plate: never a made-up one
        assert line["plate"] == truth.plate
    assert captured.err.count("错误") >= 6
    assert "为空" in captured.err


def test_video_one_line_per_passage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lane.avi"
    truth = write_lane_video(path, ["鄂A12345", "川Z8639挂"], fps=5, seconds_per_vehicle=2.0, gap_s=1.0, seed=2)
    assert cli.main([str(path), "--step", "2"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [line["plate"] for line in lines] == [t.plate for t in truth]
    assert all(set(line) == KEYS and line["source"] == "lane.avi" for line in lines)
    assert cli.main([str(path), "--frames", "--max-frames", "6"]) == 0
    per_frame = _lines(capsys.readouterr().out)
    assert per_frame
    assert {line["plate"] for line in per_frame} == {"鄂A12345"}


def test_bad_roi_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["x.jpg", "--roi", "1,2,3"])
    assert "x1,y1,x2,y2" in capsys.readouterr().err
