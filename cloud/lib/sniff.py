"""The type a stored file really has, from its bytes (issue 17: uploads served with their verified type).

A blob's recorded content type is what the uploader (a person or an agent) declared; before it is
served, the bytes must show the structure of that type, not just its first bytes: a PNG needs its
``IHDR`` chunk and ``IEND`` trailer, a JPEG (or a motion-JPEG clip, a run of JPEGs) its SOI and EOI
markers, a PDF its ``%%EOF``, WebP a RIFF size that fits, MP4 an ``ftyp`` box. Bytes that fail, or that
carry HTML/SVG/script markers near the start (an HTML page behind a PNG signature), are served as
``application/octet-stream``. Every blob goes out as an attachment with ``nosniff``, so no browser
renders it as a page of our origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

OCTET_STREAM: Final = "application/octet-stream"
_ACTIVE: Final = re.compile(rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|meta)", re.IGNORECASE)
_TAIL: Final = 1024


def _png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and b"IEND" in data[-12:]


def _jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff") and b"\xff\xd9" in data[-_TAIL:]


def _webp(data: bytes) -> bool:
    return (
        data.startswith(b"RIFF")
        and data[8:12] == b"WEBP"
        and int.from_bytes(data[4:8], "little") + 8 in (len(data), len(data) - 1)
    )


def _pdf(data: bytes) -> bool:
    return data.startswith(b"%PDF-") and b"%%EOF" in data[-_TAIL:]


def _mp4(data: bytes) -> bool:
    return len(data) >= 12 and data[4:8] == b"ftyp"


#: Declared type → the structural check its bytes must pass.
CHECKS: Final[dict[str, Callable[[bytes], bool]]] = {
    "image/png": _png,
    "image/jpeg": _jpeg,
    "image/webp": _webp,
    "application/pdf": _pdf,
    "video/mp4": _mp4,
    "video/x-motion-jpeg": _jpeg,
}
EXTENSIONS: Final = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "video/mp4": "mp4",
    "video/x-motion-jpeg": "mjpeg",
    OCTET_STREAM: "bin",
}


def verified_type(data: bytes, declared: str) -> str:
    """``declared`` when the bytes have that type's structure and no active content; octet-stream otherwise."""
    media = declared.split(";", 1)[0].strip().lower()
    check = CHECKS.get(media)
    if check is None or not check(data):
        return OCTET_STREAM
    if _ACTIVE.search(data[:_TAIL]):
        return OCTET_STREAM
    return media
