"""The demo's camera: a generated lane video of trucks (agent/synth) and the vehicle ledger that goes with it.

The cast is fixed so that a person watching the demo sees every kind of outcome at the gate:
registered 国六 and electric trucks pass, a 国四 diesel truck is refused while the 武汉市 orange
alert is in force (REGULATION.md §4: heavy diesel below 国五 stays out during orange/red alerts
for grade-B plants), a blacklisted plate is refused, and an unregistered truck is refused with a
prompt for the guard. The video is written once (fixed seed) and reused by later runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec
import structlog

__all__ = ["CAST", "EXIT_CAST", "DemoTruck", "MjpegCamera", "ensure_exit_video", "ensure_video", "registry_snapshot"]

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import web

log = structlog.get_logger(__name__)

VIDEO_NAME: Final = "demo-lane.avi"
#: The exit lane's video (issue 15): the trucks that came in leave empty, so trips get gross, tare and net.
EXIT_VIDEO_NAME: Final = "demo-exit.avi"
#: Seconds a truck spends in the plant between its entry and its exit (the exit camera starts this late).
DWELL_S: Final = 25.0
#: Frames per second of the generated video (the agent reads it as fast as recognition allows).
FPS: Final = 5.0
SECONDS_PER_VEHICLE: Final = 2.4
GAP_S: Final = 4.0
SEED: Final = 20261128


@dataclass(frozen=True, slots=True)
class DemoTruck:
    """One vehicle of the demo video and what the ledger says about it."""

    plate: str
    role: str  # what the demo shows with it (Chinese, for logs and docs)
    fuel: str | None = "B"  # hj1321 FuelType code; None = not registered
    emission_stage: str | None = "6"
    registered: bool = True
    blacklisted: bool = False
    carrier: str = "武汉青山物流有限公司"
    kg_loaded: float = 49_000.0
    #: The empty truck on the exit lane's weighbridge (tare; net = loaded - tare, docs/devices.md).
    kg_tare: float = 15_400.0

    @property
    def expected(self) -> str:
        """``allow`` or ``refuse`` at an inbound lane during the orange alert (grade B)."""
        refused = self.blacklisted or not self.registered or (self.fuel == "B" and self.emission_stage in {"3", "4"})
        return "refuse" if refused else "allow"


#: The trucks of the video, in order (yellow plates: heavy goods vehicles).
CAST: Final[tuple[DemoTruck, ...]] = (
    DemoTruck("鄂A3H725", "国六柴油重型货车：放行"),
    DemoTruck("鄂AF8261", "国六柴油重型货车：放行", kg_loaded=15_200.0, kg_tare=9_800.0),
    DemoTruck("鄂A5K930", "国四柴油重型货车：橙色预警期间拦截", emission_stage="4"),
    DemoTruck("鄂A7M416", "天然气国六重型货车：放行", fuel="E", kg_loaded=31_600.0, kg_tare=14_800.0),
    DemoTruck("鄂A2B618", "黑名单车辆（超标排放）：拦截", blacklisted=True),
    DemoTruck("鄂AL3092", "国六柴油重型货车：放行", carrier="湖北钢运物流有限公司"),
    DemoTruck("鄂H62817", "未登记车辆：拦截并提示门岗", registered=False, fuel=None, emission_stage=None),
    DemoTruck("鄂A9C551", "国五柴油重型货车：放行", emission_stage="5", kg_loaded=41_850.0, kg_tare=15_600.0),
)
#: The trucks of the exit video, in order: those the inbound lane lets in, each leaving once per round.
EXIT_CAST: Final[tuple[DemoTruck, ...]] = tuple(t for t in CAST if t.expected == "allow")


def _plates(trucks: tuple[DemoTruck, ...], rounds: int) -> list[object]:
    from agent.synth import PlateSpec  # noqa: PLC0415
    from hj1321.plates import PlateColour, PlateKind  # noqa: PLC0415

    return [PlateSpec(t.plate, PlateKind.ORDINARY, PlateColour.YELLOW) for _ in range(rounds) for t in trucks]


def ensure_video(folder: Path, *, rounds: int = 1) -> Path:
    """Write the demo lane video (``rounds`` times the cast) into ``folder`` unless it is already there."""
    return _ensure(folder, VIDEO_NAME, _plates(CAST, rounds), gap_s=GAP_S, tail_s=0.0)


def ensure_exit_video(folder: Path) -> Path:
    """Write the exit lane's video (:data:`EXIT_CAST`) unless it is there; it loops as long as the inbound one.

    Fewer trucks leave than drive up (refused trucks never came in), so each exit slot is longer: one
    round of both videos lasts the same, and every truck leaves once for each time it came in.
    """
    slot = len(CAST) * (SECONDS_PER_VEHICLE + GAP_S) / len(EXIT_CAST)
    gap = slot - SECONDS_PER_VEHICLE
    frames_in = len(CAST) * (round(SECONDS_PER_VEHICLE * FPS) + round(GAP_S * FPS))
    frames_out = len(EXIT_CAST) * (round(SECONDS_PER_VEHICLE * FPS) + round(gap * FPS))
    return _ensure(folder, EXIT_VIDEO_NAME, _plates(EXIT_CAST, 1), gap_s=gap, tail_s=(frames_in - frames_out) / FPS)


def _ensure(folder: Path, name: str, plates: list[object], *, gap_s: float, tail_s: float) -> Path:
    from agent.synth import write_lane_video  # noqa: PLC0415 - OpenCV only when the demo runs

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = folder / f".{name}.tmp.avi"
    truth = write_lane_video(
        tmp,
        plates,  # type: ignore[arg-type]
        fps=FPS,
        seconds_per_vehicle=SECONDS_PER_VEHICLE,
        gap_s=gap_s,
        seed=SEED,
        tail_s=tail_s,
    )
    truth_path(path).write_bytes(msgspec.json.encode(truth))
    tmp.replace(path)
    log.info("demo.video_written", path=str(path), vehicles=len(truth), seconds=round(truth[-1].last_s + gap_s, 1))
    return path


def truth_path(video: Path) -> Path:
    """Where the video's truth (the frames each vehicle is visible in) is kept."""
    return video.with_suffix(".json")


def registry_snapshot(version: str = "demo-1") -> bytes:
    """The agent's local vehicle ledger and blacklist for the cast (JSON of ``RegistrySnapshot``)."""
    vehicles = [
        {
            "registry_id": f"demo-{i}",
            "category": "transport",
            "plate": truck.plate,
            "plate_colour": "yellow",
            "vehicle_type": "H11",
            "total_mass_kg": 49_000,
            "fuel": truck.fuel,
            "emission_stage": truck.emission_stage,
            "use_nature": None,
            "carrier": truck.carrier,
        }
        for i, truck in enumerate(CAST)
        if truck.registered
    ]
    blacklist = [
        {"plate": truck.plate, "reason": "超标排放车辆（武汉市生态环境局通报）", "source": "regulator"}
        for truck in CAST
        if truck.blacklisted
    ]
    for vehicle in vehicles:
        if vehicle["use_nature"] is None:
            del vehicle["use_nature"]
    return msgspec.json.encode({"version": version, "vehicles": vehicles, "blacklist": blacklist})


class MjpegCamera:
    """An IP-camera simulator: the video as an endless MJPEG stream over HTTP, paced at its frame rate.

    The agent opens it like a real camera's ``http://`` stream (``agent/sources/opencv.py``), so
    trucks arrive in real time and the stream never ends (the video loops).
    """

    def __init__(
        self,
        video: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_vehicle: Callable[[int], None] | None = None,
        lead_s: float = 0.0,
    ) -> None:
        """Prepare (frames are decoded at :meth:`start`).

        ``on_vehicle(i)`` is called when the stream shows the first frame of vehicle ``i`` of the
        video (index into the video's truth), so the demo can put that truck on the weighbridge. For the
        first ``lead_s`` seconds of a stream the camera shows the empty lane (the video's last frame).
        """
        self.video = video
        self.on_vehicle = on_vehicle
        self.lead_s = lead_s
        self.first_frames: dict[int, int] = {}
        self.host = host
        self.port = port
        self.frames: list[bytes] = []
        self.fps = FPS
        self.clients = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The stream URL the agent opens."""
        return f"http://{self.host}:{self.port}/video.mjpg"

    def _decode(self) -> None:
        import cv2  # noqa: PLC0415

        capture = cv2.VideoCapture(str(self.video))
        try:
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps = fps if 0 < fps < 100 else FPS
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), 85])
                if ok:
                    self.frames.append(bytes(buf.tobytes()))
        finally:
            capture.release()
        if not self.frames:
            raise OSError(f"演示视频无法解码: {self.video}")
        from agent.synth import LanePassage  # noqa: PLC0415

        with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
            truth = msgspec.json.decode(truth_path(self.video).read_bytes(), type=list[LanePassage])
            self.first_frames = {p.first_frame: i for i, p in enumerate(truth)}

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web  # noqa: PLC0415

        response = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"})
        await response.prepare(request)
        self.clients += 1
        loop = asyncio.get_running_loop()
        start, index = loop.time(), 0
        lead = round(self.lead_s * self.fps)
        try:
            while True:
                at = len(self.frames) - 1 if index < lead else (index - lead) % len(self.frames)
                jpeg = self.frames[at]
                if self.on_vehicle is not None and self.clients == 1 and at in self.first_frames:
                    self.on_vehicle(self.first_frames[at])
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                await response.write(head + jpeg + b"\r\n")
                index += 1
                await asyncio.sleep(max(0.0, start + index / self.fps - loop.time()))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients -= 1
        return response

    async def start(self) -> None:
        """Decode the video and listen."""
        from aiohttp import web  # noqa: PLC0415

        await asyncio.to_thread(self._decode)
        app = web.Application()
        app.router.add_get("/video.mjpg", self._stream)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        if self.port == 0 and server is not None:
            self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        log.info("demo.camera_started", url=self.url, frames=len(self.frames), fps=self.fps)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None
