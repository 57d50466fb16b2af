"""Find an installed CJK font for rendering synthetic plates and signs (fonts-noto-cjk, fonts-wqy-zenhei)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from PIL import ImageFont

#: Font faces tried in order; fontconfig patterns for ``fc-match``.
_PATTERNS = ("Noto Sans CJK SC:bold", "WenQuanYi Zen Hei")
#: Fallback locations (Debian packages) when fontconfig is not installed.
_FALLBACKS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)


class FontNotFoundError(RuntimeError):
    """No CJK font is installed (install fonts-noto-cjk or fonts-wqy-zenhei)."""


@functools.cache
def cjk_font_file() -> tuple[str, int]:
    """Return ``(path, face_index)`` of a bold-ish CJK font."""
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        for pattern in _PATTERNS:
            out = subprocess.run(  # noqa: S603  (fixed arguments, no shell)
                [fc_match, "-f", "%{file}:%{index}", pattern], capture_output=True, text=True, check=False
            ).stdout
            found, _, face = out.rpartition(":")
            if found and ("CJK" in found or "wqy" in found):
                return found, int(face or 0)
    for path, index in _FALLBACKS:
        if Path(path).exists():
            return path, index
    raise FontNotFoundError("未找到中文字体：请安装 fonts-noto-cjk 或 fonts-wqy-zenhei")


@functools.cache
def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """A CJK font at ``size`` pixels (cached)."""
    path, index = cjk_font_file()
    return ImageFont.truetype(path, size, index=index)
