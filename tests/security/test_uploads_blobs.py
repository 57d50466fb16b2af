"""Issue 17 finding 5 (S2's part): uploads are served as attachments with the type their bytes verify as.

An HTML page behind a PNG signature passes the upload's leading-bytes check; it must come back as an
``application/octet-stream`` attachment with ``nosniff``, never inline as ``image/png``.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from cloud.lib import sniff
from tests.security.test_limits_input import VIN, transport

pytestmark = pytest.mark.anyio

HTML_BEHIND_PNG = b"\x89PNG\r\n\x1a\n<html><body><script>alert(document.cookie)</script></body></html>"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 30, 200)).save(out, "JPEG")
    return out.getvalue()


async def _upload(client: Any, headers: dict[str, str], name: str, data: bytes, mime: str) -> str:
    vid = (await client.post("/api/v1/vehicles", json=transport(VIN), headers=headers)).json()["id"]
    response = await client.post(
        f"/api/v1/vehicles/{vid}/documents",
        data={"kind": "driving_license"},
        files={"file": (name, data, mime)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sha256"])


async def test_html_behind_a_png_header_is_an_octet_stream_attachment(
    client: Any, make_tenant: Any, login_as: Any
) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    digest = await _upload(client, headers, "x.png", HTML_BEHIND_PNG, "image/png")
    blob = await client.get(f"/api/v1/blobs/{digest}", headers=headers)
    assert blob.status_code == 200
    assert blob.content == HTML_BEHIND_PNG
    assert blob.headers["content-type"] == "application/octet-stream"
    assert blob.headers["content-disposition"].startswith("attachment;")
    assert blob.headers["content-disposition"].endswith('.bin"')
    assert blob.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_a_real_png_keeps_its_type_as_an_attachment(client: Any, make_tenant: Any, login_as: Any) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    png = _png()
    digest = await _upload(client, headers, "x.png", png, "image/png")
    blob = await client.get(f"/api/v1/blobs/{digest}", headers=headers)
    assert blob.content == png
    assert blob.headers["content-type"] == "image/png"
    assert blob.headers["content-disposition"] == f'attachment; filename="{digest[:16]}.png"'


def test_verified_types() -> None:
    png, jpeg = _png(), _jpeg()
    assert sniff.verified_type(png, "image/png") == "image/png"
    assert sniff.verified_type(jpeg, "image/jpeg") == "image/jpeg"
    assert sniff.verified_type(jpeg + jpeg, "video/x-motion-jpeg") == "video/x-motion-jpeg"
    assert sniff.verified_type(png, "image/jpeg") == sniff.OCTET_STREAM  # declared type lies
    assert sniff.verified_type(HTML_BEHIND_PNG, "image/png") == sniff.OCTET_STREAM
    assert sniff.verified_type(b"%PDF-1.7\n1 0 obj\n%%EOF\n", "application/pdf") == "application/pdf"
    assert sniff.verified_type(b"%PDF-1.7\n<html><script>", "application/pdf") == sniff.OCTET_STREAM
    assert sniff.verified_type(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4") == "video/mp4"
    assert sniff.verified_type(b"<svg onload=alert(1)>", "image/svg+xml") == sniff.OCTET_STREAM
    # A JPEG whose first kilobyte carries a script tag (e.g. in a comment segment) is not served as an image.
    assert sniff.verified_type(b"\xff\xd8\xff\xfe<script>x</script>\xff\xd9", "image/jpeg") == sniff.OCTET_STREAM
