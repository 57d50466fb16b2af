"""Frame sources behind one interface (:class:`FrameSource`): camera streams, video files, image folders.

Camera-reported reads (ANPR cameras pushing events with pictures) live in :mod:`agent.sources.camera_push`.
"""

from __future__ import annotations

from agent.sources.base import Frame, FrameSource, Roi, SourceError, SourceHealth
from agent.sources.opencv import FileSource, FolderSource, StreamSource, open_source, read_image

__all__ = [
    "FileSource",
    "FolderSource",
    "Frame",
    "FrameSource",
    "Roi",
    "SourceError",
    "SourceHealth",
    "StreamSource",
    "open_source",
    "read_image",
]
