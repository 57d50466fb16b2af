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
import uuid

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from agent_protocol.events import Evidence, Snapshot, SnapshotRole
from cloud.blobs import BlobStore
from cloud.domain import vehicles
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio

CN = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 3)
LEDGER = "/api/v1/enterprises/{}/reports/ledgers/transport_passes"
EXPORT = LEDGER + "/export"
HEX64 = re.compile(r"(?<![0-9a-f/])[0-9a-f]{64}(?![0-9a-f])")


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), colour).save(out, "JPEG", quality=90)
    return out.getvalue()


TRUCK = {
    "plate": "鄂A1020C",
    "plate_colour": "yellow",
    "vin": "LFWSRXSJ1KAD12345",
    "vehicle_type": "Q11",
    "brand_model": "解放牌CA4250P66K24T1E5",
    "register_date": dt.date(2021, 5, 18),
    "engine_model": "CA6DM3-46E65",
    "engine_maker": "一汽解放汽车有限公司无锡柴油机厂",
    "fuel_type": "B",
    "emission_stage": "6",
    "use_nature": "F",
    "network_status": "connected",
    "fleet_name": "宏运运输",
}


def _scene(sha: str | None) -> Evidence:
    return Evidence(snapshots=(Snapshot(role=SnapshotRole.SCENE, sha256=sha, size=1),) if sha else ())


async def _passes(settings, database, make_tenant, login_as, seed_passes):
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    admin = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="setup")
    async with database.session(admin) as session, session.begin():
        detail = await vehicles.create_vehicle(session, admin, "transport", TRUCK, "登记")
    store = BlobStore(settings.blobs.root)
    shas = [store.put(_jpeg((200, 40, 40))), store.put(_jpeg((40, 40, 200)))]
    at = dt.datetime(DAY.year, DAY.month, DAY.day, 9, 0, tzinfo=CN)
    truck = {"plate": "鄂A1020C", "registry_id": detail.vehicle.id}
    specs = [
        {**truck, "occurred_at": at, "evidence": _scene(shas[0])},
        {**truck, "occurred_at": at + dt.timedelta(hours=2), "direction": "out", "evidence": _scene(shas[1])},
        # The same photo again: one thumbnail encoded, embedded twice.
        {**truck, "occurred_at": at + dt.timedelta(hours=3), "evidence": _scene(shas[0])},
        {"plate": "鄂A999Z", "occurred_at": at + dt.timedelta(hours=4), "evidence": _scene(None)},
    ]
    ledger = await seed_passes(tenant.tenant_id, specs)
    return tenant, headers, ledger, shas


async def test_excel_and_pdf_embed_thumbnails_never_a_hash(
    client, settings, database, make_tenant, login_as, seed_passes
) -> None:
    tenant, headers, _, shas = await _passes(settings, database, make_tenant, login_as, seed_passes)
    params = {"period": "day", "date": DAY.isoformat()}
    api = await client.get(LEDGER.format(tenant.tenant_id), params=params, headers=headers)
    assert api.status_code == 200, api.text
    rows = api.json()["rows"]
    assert len(rows) == 4
    assert [r["photo"] for r in rows] == [f"/api/v1/blobs/{shas[0]}", f"/api/v1/blobs/{shas[1]}",
                                          f"/api/v1/blobs/{shas[0]}", ""]  # fmt: skip
    # Vehicle fields from the version valid at the pass time, codes by their Chinese names.
    registered = rows[0]
    assert registered["vin"] == TRUCK["vin"]
    assert registered["engine_model"] == TRUCK["engine_model"]
    assert registered["register_date"] == "2021-05-18"
    assert registered["use_nature"] == "货运"
    assert registered["network_status"] == "已联网"
    assert registered["carrier"] == "宏运运输"
    assert registered["vehicle_type"] == "重型半挂牵引车"
    assert registered["stage"] == "国六"
    assert registered["plate_colour"] == "黄色"

    xlsx = await client.get(
        EXPORT.format(tenant.tenant_id),
        params={**params, "format": "xlsx"},
        headers=headers,
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
        EXPORT.format(tenant.tenant_id),
        params={**params, "format": "pdf"},
        headers=headers,
    )
    assert pdf.status_code == 200, pdf.text
    reader = PdfReader(io.BytesIO(pdf.content))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 2  # two distinct photos; the repeated one is stored once in the file
    draws = sum(page.get_contents().get_data().count(b" Do") for page in reader.pages)
    assert draws == 3  # and drawn in each of the three rows with a photo
    text = "".join("".join(page.extract_text().split()) for page in reader.pages)
    assert "鄂A1020C" in text
    assert "重型半挂牵引车" in text
    assert "LFWSRXSJ1KAD12345" in text
    assert not HEX64.search(text)

    csv_file = await client.get(
        EXPORT.format(tenant.tenant_id),
        params={**params, "format": "csv"},
        headers=headers,
    )
    lines = list(csv.DictReader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    # The CSV header carries the columns' Chinese titles (issue 19), like the Excel sheet.
    title = next(c["title"] for c in api.json()["columns"] if c["key"] == "photo")
    assert [line[title] for line in lines] == [r["photo"] for r in rows]


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
