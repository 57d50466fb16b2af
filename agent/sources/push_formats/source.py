"""A lane read source fed by camera pushes (``[lanes.source] type = "camera_push"``, issue 23).

The lane's camera (``[[cameras]]`` ``push_format``, ``clock_skew_s``) POSTs to
``http://{push_host}:{push_port}/camera-push/{camera}``; each accepted push becomes a :class:`LaneRead`
with the camera's scene picture and plate crop. A read without a plate is skipped (no vehicle to decide).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from agent.sources.camera_push import CameraRead
from agent.sources.push_formats import camera_receiver
from agent.sources.push_formats.common import to_lane_read

if TYPE_CHECKING:
    from agent.runtime.pipeline import LaneRead

log = structlog.get_logger(__name__)

_QUEUE = 64


class CameraPushReadSource:
    """Runs the push receiver while the lane reads; ``clock.health`` is the camera's clock alarm."""

    def __init__(
        self, camera_id: str, *, host: str, port: int, push_format: str | None = None, clock_skew_s: float = 120.0
    ) -> None:
        self.host = host
        self.port = port
        self.queue: asyncio.Queue[CameraRead] = asyncio.Queue(_QUEUE)
        self.receiver, self.clock = camera_receiver(
            camera_id, self._on_read, push_format=push_format, clock_skew_s=clock_skew_s
        )
        self.url: str | None = None

    async def _on_read(self, read: CameraRead) -> None:
        if not read.plate:
            log.info("camera_push.no_plate", camera=read.camera, format=read.format)
            return
        await self.queue.put(read)  # back-pressure: the camera waits (and retries) while the lane is busy

    async def reads(self) -> AsyncIterator[LaneRead]:
        """Serve pushes until the lane stops."""
        runner = web.AppRunner(self.receiver.app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}/camera-push"
            log.info("camera_push.listening", url=self.url)
            while True:
                yield to_lane_read(await self.queue.get())
        finally:
            await runner.cleanup()
