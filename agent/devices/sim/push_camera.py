"""A lane camera of any push family for demos and soaks (issue 23): it "sees" vehicles on a timeline and
pushes each read in its family's format over TCP, like a camera that recognises plates itself.

:func:`switch_lane_to_push` turns a camera lane of an agent config file into a push lane of the
chosen family (``cameras[].push_format`` and ``[lanes.source] type = "camera_push"``), so a demo
that writes a video-stream lane can switch it to any family with one call::

    switch_lane_to_push(cfg_path, camera_id="cam-east", family="dahua-itc", push_port=port)
    camera = PushCameraSimulator("dahua-itc", f"http://127.0.0.1:{port}/camera-push/cam-east",
                                 [("鄂A3H725", "yellow"), ...], every_s=6.4, on_vehicle=deck.truck_shown)
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp
import structlog

from agent.commission.toml_out import dumps
from agent.devices.sim.camera_push import PushSender, build_push
from agent.sources.push_formats import FAMILIES

_log = structlog.get_logger("agent.devices.sim.push_camera")


class PushCameraSimulator:
    """Pushes ``vehicles`` ``(plate, colour)`` in a loop, one every ``every_s`` seconds.

    ``scene(i)`` gives the JPEG of vehicle ``i`` (e.g. a frame of the demo video; None: no picture);
    ``on_vehicle(i)`` is called as the camera "sees" vehicle ``i`` (before its push).
    """

    def __init__(
        self,
        family: str,
        push_url: str,
        vehicles: Sequence[tuple[str, str]],
        *,
        every_s: float = 6.0,
        scene: Callable[[int], bytes | None] | None = None,
        on_vehicle: Callable[[int], None] | None = None,
        first_after_s: float = 1.0,
    ) -> None:
        if family not in FAMILIES:
            raise ValueError(f"未知的摄像机推送格式“{family}”（可选：{'、'.join(FAMILIES)}）")
        self.family = family
        self.sender = PushSender(push_url)
        self.vehicles = list(vehicles)
        self.every_s = every_s
        self.scene = scene
        self.on_vehicle = on_vehicle
        self.first_after_s = first_after_s
        self.sent = 0
        self.refused = 0
        self.unreachable = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the timeline."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"push-camera-{self.family}")

    async def stop(self) -> None:
        """Stop pushing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def push(self, index: int) -> int | None:
        """Push vehicle ``index`` now; the HTTP status (None when the agent did not answer)."""
        plate, colour = self.vehicles[index % len(self.vehicles)]
        picture = self.scene(index) if self.scene is not None else None
        try:
            status, answer = await self.sender.send(*build_push(self.family, plate, colour=colour, scene_jpeg=picture))
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.unreachable += 1
            return None
        if status == 200:
            self.sent += 1
        else:
            self.refused += 1
            _log.warning("push_camera.refused", family=self.family, status=status, answer=answer)
        return status

    async def _run(self) -> None:
        await asyncio.sleep(self.first_after_s)
        index = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            if self.on_vehicle is not None:
                self.on_vehicle(index % len(self.vehicles))
            await self.push(index)
            index += 1
            await asyncio.sleep(max(0.0, start + index * self.every_s - loop.time()))


def switch_lane_to_push(
    config_path: str | Path, *, camera_id: str, family: str, push_port: int, push_host: str = "127.0.0.1"
) -> None:
    """Rewrite ``config_path``: camera ``camera_id`` pushes ``family`` reads, its lanes receive them."""
    if family not in FAMILIES:
        raise ValueError(f"未知的摄像机推送格式“{family}”（可选：{'、'.join(FAMILIES)}）")
    path = Path(config_path)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    cameras = [c for c in raw.get("cameras", []) if c.get("id") == camera_id]
    if not cameras:
        raise ValueError(f"配置中没有相机“{camera_id}”")
    cameras[0]["push_format"] = family
    for lane in raw.get("lanes", []):
        if lane.get("camera") == camera_id:
            lane["source"] = {"type": "camera_push", "push_host": push_host, "push_port": push_port}
    path.write_text(dumps(raw), encoding="utf-8")
