"""Issue 15: exports a plant can file — photos embedded as thumbnails, vehicle fields by their Chinese names.

Passes of a registered truck stored through the ledger's write path with real JPEG photos in the blob
store; the transport ledger's Excel export is re-read with openpyxl (one image anchored in the photo cell
of each row that has a photo) and its PDF with pypdf (one image per photo on the pages); no cell or page
shows a bare SHA-256; the JSON and CSV rows carry the photo's link.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from cloud.blobs import BlobStore

pytestmark = pytest.mark.anyio

CN = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 3)  # after the generated months: only this test's passes
EXPORT = "/api/v1/enterprises/{}/reports/ledgers/transport_passes/export"
HEX64 = re.compile(r"(?<![0-9a-f/])[0-9a-f]{64}(?![0-9a-f])")


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), colour).save(out, "JPEG", quality=90)
    return out.getvalue()


async def _passes(settings, make_ledger, add_passes):
    ledger = await make_ledger(seed=5, per_day=1)
    store = BlobStore(settings.blobs.root)
    shas = [store.put(_jpeg((200, 40, 40))), store.put(_jpeg((40, 40, 200)))]
    at = dt.datetime(DAY.year, DAY.month, DAY.day, 9, 0, tzinfo=CN)
    specs = [
        {"plate": "鄂A102C", "occurred_at": at, "vehicle_id": ledger.vehicles["d6"], "scene_sha256": shas[0]},
        {"plate": "鄂A102C", "occurred_at": at + dt.timedelta(hours=2), "direction": "out",
         "vehicle_id": ledger.vehicles["d6"], "scene_sha256": shas[1]},
        {"plate": "鄂A102C", "occurred_at": at + dt.timedelta(hours=3), "vehicle_id": ledger.vehicles["d6"],
         "scene_sha256": shas[0]},  # the same photo again: one thumbnail encoded, embedded twice
        {"plate": "鄂A999Z", "occurred_at": at + dt.timedelta(hours=4), "scene_sha256": None},
    ]  # fmt: skip
    await add_passes(ledger, specs)
    return ledger, shas


async def test_excel_and_pdf_embed_thumbnails_never_a_hash(client, settings, make_ledger, add_passes) -> None:
    ledger, shas = await _passes(settings, make_ledger, add_passes)
    params = {"period": "day", "date": DAY.isoformat()}
    api = await client.get(ledger.url("reports/ledgers/transport_passes"), params=params, headers=ledger.headers)
    assert api.status_code == 200, api.text
    rows = api.json()["rows"]
    assert len(rows) == 4
    assert [r["photo"] for r in rows] == [f"/api/v1/blobs/{shas[0]}", f"/api/v1/blobs/{shas[1]}",
                                          f"/api/v1/blobs/{shas[0]}", ""]  # fmt: skip
    # Vehicle fields from the version valid at the pass time, codes by their Chinese names.
    registered = rows[0]
    assert registered["vin"]
    assert registered["vehicle_type"] == "重型半挂牵引车"
    assert registered["stage"] == "国六"
    assert registered["plate_colour"] == "黄色"

    xlsx = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**params, "format": "xlsx"},
        headers=ledger.headers,
    )
    assert xlsx.status_code == 200, xlsx.text
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    keys = [c["key"] for c in api.json()["columns"]]
    photo_col = keys.index("photo")
    anchors = sorted((img.anchor._from.row, img.anchor._from.col) for img in sheet._images)
    first_data_row = 5  # four heading lines and the header (0-based anchor rows)
    assert anchors == [(first_data_row + i, photo_col) for i in (0, 1, 2)]
    for img in sheet._images:
        assert img.width <= 112
        assert img.height <= 63
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[first_data_row + 3][photo_col] == "无照片"
    assert not any(HEX64.search(str(v)) for line in values for v in line if v is not None)

    pdf = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**params, "format": "pdf"},
        headers=ledger.headers,
    )
    assert pdf.status_code == 200, pdf.text
    reader = PdfReader(io.BytesIO(pdf.content))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 3
    text = "".join(page.extract_text() for page in reader.pages)
    assert "鄂A102C" in text
    assert "重型半挂牵引车" in text
    assert not HEX64.search(text)

    csv_file = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**params, "format": "csv"},
        headers=ledger.headers,
    )
    lines = list(csv.DictReader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert [line["photo"] for line in lines] == [r["photo"] for r in rows]


def test_thumbnails_are_small_cached_and_bounded() -> None:
    from cloud.reports import exports  # noqa: PLC0415

    loads: list[str] = []
    photo = _jpeg((10, 200, 10))

    def load(sha: str) -> bytes | None:
        loads.append(sha)
        return photo if sha != "missing" else None

    thumbs = exports.Thumbnails(load, limit=3)
    first = thumbs.get("a")
    assert first is not None
    assert len(first) < 8_000
    assert Image.open(io.BytesIO(first)).size == exports.THUMB_SIZE
    assert thumbs.get("a") == first
    assert loads == ["a"]  # the second use came from the cache
    assert thumbs.get("missing") is None
    assert thumbs.get("b") is not None
    assert thumbs.get("c") is None  # the export's photo budget (limit) is spent: the link stands instead
    assert thumbs.embedded == 3
