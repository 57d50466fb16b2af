"""Photos within a platform's size limit: re-encode smaller JPEGs, keep the original in the blob store."""

from __future__ import annotations

import io

import structlog
from PIL import Image, UnidentifiedImageError

log = structlog.get_logger(__name__)

_QUALITIES = (85, 75, 65, 50)


def fit_photo(data: bytes, max_bytes: int) -> bytes:
    """``data`` itself when small enough, else a re-encoded JPEG under ``max_bytes`` (quality, then size).

    An image Pillow cannot read is returned unchanged (the platform decides; the original is kept).
    """
    if len(data) <= max_bytes:
        return data
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (UnidentifiedImageError, OSError):
        log.warning("photo not readable, sent as is", size=len(data))
        return data
    image: Image.Image = opened.convert("RGB")
    best = data
    for _ in range(6):
        for quality in _QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            best = out.getvalue()
            if len(best) <= max_bytes:
                return best
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))
    return best
