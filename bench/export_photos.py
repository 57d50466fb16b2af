"""Export benchmark (issue 15): the transport ledger with photo thumbnails vs the same file without photos.

Renders ``cloud.reports.exports`` Excel and PDF files in process (no database: the rows are made here,
shaped like the API's) with ``--photos`` distinct 1280 × 720 JPEG scene photos spread over the rows, and
prints for each format the time and the peak resident memory (each render in its own child process,
``ru_maxrss``) of

  * the baseline: the same rows with photo links only (no loader: what an export cost before issue 15);
  * the export with thumbnails (Pillow, cached per photo, at most ``MAX_EMBEDDED_PHOTOS`` embedded).

    .venv/bin/python bench/export_photos.py                       # 20,000 Excel rows, 2,000 PDF rows
    .venv/bin/python bench/export_photos.py --xlsx-rows 2000 --pdf-rows 200   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from cloud.reports import exports, ledgers  # noqa: E402
from cloud.reports.periods import Period  # noqa: E402


def _photos(count: int) -> dict[str, bytes]:
    out = {}
    for i in range(count):
        image = Image.new("RGB", (1280, 720), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        out[hashlib.sha256(data).hexdigest()] = data
    return out


def _rows(count: int, shas: list[str]) -> list[ledgers.Row]:
    rows = []
    for i in range(count):
        row: dict[str, Any] = {key: f"值{i % 97}" for key, _ in ledgers.TRANSPORT_COLUMNS}
        row["plate"] = f"鄂A{10000 + i % 5000}"
        row["photo"] = ledgers.photo_href(shas[i % len(shas)])
        rows.append(row)
    return rows


def _child(fmt: str, rows: int, photos: int, *, with_photos: bool) -> dict[str, float]:
    """One render in this process: seconds, peak RSS (MB) and file size (MB)."""
    pictures = _photos(photos)
    ledger = ledgers.LEDGERS["transport_passes"]
    period = Period("day", dt.date(2026, 11, 3), dt.date(2026, 11, 3))
    doc = exports.Document(
        ledger,
        "测试企业",
        "91420100000000000X",
        period,
        dt.datetime.now(dt.UTC),
        _rows(rows, list(pictures)),
        pictures.get if with_photos else None,
    )
    started = time.perf_counter()
    content = exports.RENDERERS[fmt](doc)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "peak_mb": peak_mb, "size_mb": len(content) / 1e6}


def _run(fmt: str, rows: int, photos: int, *, with_photos: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", fmt, str(rows), str(photos), "1" if with_photos else "0"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        fmt, rows, photos, flag = sys.argv[2:6]
        print(json.dumps(_child(fmt, int(rows), int(photos), with_photos=flag == "1")))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xlsx-rows", type=int, default=20_000, help="Excel rows (the synchronous limit)")
    parser.add_argument("--pdf-rows", type=int, default=2_000, help="PDF rows (the synchronous limit)")
    parser.add_argument("--photos", type=int, default=300, help="distinct photos over the rows")
    args = parser.parse_args()
    print(f"{args.photos} distinct 1280x720 photos, MAX_EMBEDDED_PHOTOS={exports.MAX_EMBEDDED_PHOTOS}")
    for fmt, count in (("xlsx", args.xlsx_rows), ("pdf", args.pdf_rows)):
        base = _run(fmt, count, args.photos, with_photos=False)
        thumbs = _run(fmt, count, args.photos, with_photos=True)
        embedded = min(count, exports.MAX_EMBEDDED_PHOTOS)
        print(
            f"{fmt} {count:>6} rows  baseline (links): {base['seconds']:6.2f} s, peak RSS {base['peak_mb']:6.0f} MB, "
            f"file {base['size_mb']:5.2f} MB  | thumbnails ({embedded} embedded): {thumbs['seconds']:6.2f} s, "
            f"peak RSS {thumbs['peak_mb']:6.0f} MB, file {thumbs['size_mb']:5.2f} MB"
        )


if __name__ == "__main__":
    main()
