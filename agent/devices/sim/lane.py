"""All simulators of one gate lane, started together (used by ``python -m agent.devices.sim`` and the demo)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent.devices.scale_protocols import ScaleProtocol
from agent.devices.sim.anpr_http import AnprHttpBarrierSimulator
from agent.devices.sim.endpoints import PtyEndpoint, SimEndpoint, TcpEndpoint
from agent.devices.sim.led import LedDisplaySimulator
from agent.devices.sim.modbus import LoopDetectorSimulator, RelayBarrierSimulator
from agent.devices.sim.profiles import ScaleProfile
from agent.devices.sim.weighbridge import WeighbridgeSimulator
from agent.devices.tasks import cancel_and_wait

Transport = Literal["pty", "tcp"]


@dataclass(slots=True)
class LaneSimulators:
    """The simulators of one lane; ``urls`` maps device name → what a driver opens."""

    weighbridge: WeighbridgeSimulator | None = None
    barrier: RelayBarrierSimulator | None = None
    led: LedDisplaySimulator | None = None
    loop: LoopDetectorSimulator | None = None
    anpr_http: AnprHttpBarrierSimulator | None = None
    _auto: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(
        cls,
        directory: str | Path,
        *,
        transport: Transport = "pty",
        weighbridge: ScaleProtocol | None = "xk3190_a9",
        barrier: bool = True,
        led: bool = True,
        loop_channels: int = 2,
        anpr_http: bool = False,
        barrier_travel_s: float = 1.0,
    ) -> LaneSimulators:
        """Start the chosen simulators; pty links are created as ``directory/<device>``."""
        folder = Path(directory)

        def endpoint(device: str) -> SimEndpoint:
            return PtyEndpoint(folder / device) if transport == "pty" else TcpEndpoint()

        lane = cls()
        if weighbridge is not None:
            lane.weighbridge = WeighbridgeSimulator(endpoint("weighbridge"), weighbridge, interval_s=0.1)
            await lane.weighbridge.start()
        if barrier:
            lane.barrier = RelayBarrierSimulator(endpoint("barrier"), travel_s=barrier_travel_s)
            await lane.barrier.start()
        if led:
            lane.led = LedDisplaySimulator(endpoint("led"))
            await lane.led.start()
        if loop_channels:
            lane.loop = LoopDetectorSimulator(endpoint("loop"), channels=loop_channels)
            await lane.loop.start()
        if anpr_http:
            lane.anpr_http = AnprHttpBarrierSimulator(travel_s=barrier_travel_s)
            await lane.anpr_http.start()
        return lane

    @property
    def urls(self) -> dict[str, str]:
        """Device name → device path, ``socket://`` URL or HTTP base URL."""
        urls: dict[str, str] = {}
        if self.weighbridge is not None:
            urls["weighbridge"] = self.weighbridge.url
        if self.barrier is not None:
            urls["barrier"] = self.barrier.url
        if self.led is not None:
            urls["led"] = self.led.url
        if self.loop is not None:
            urls["loop"] = self.loop.url
        if self.anpr_http is not None:
            urls["anpr_http"] = self.anpr_http.base_url
        return urls

    def truck_passes(self, kg: float, *, on_scale_s: float = 6.0, seed: int = 0) -> None:
        """A truck drives over the loop and onto the scale, stands, and leaves."""
        if self.weighbridge is not None:
            self.weighbridge.play(ScaleProfile.truck(kg, hold_s=max(on_scale_s - 2.5, 1.0), seed=seed))
        if self.loop is not None:
            self.loop.vehicle_passes(0, dwell_s=on_scale_s)

    def auto_trucks(self, every_s: float, weights: tuple[float, ...] = (15_200.0, 49_000.0)) -> None:
        """Send a truck every ``every_s`` seconds, cycling through ``weights`` (empty, loaded…)."""

        async def _run() -> None:
            n = 0
            while True:
                self.truck_passes(weights[n % len(weights)], on_scale_s=min(every_s * 0.6, 10.0), seed=n)
                n += 1
                await asyncio.sleep(every_s)

        self._auto = asyncio.get_running_loop().create_task(_run())

    async def stop(self) -> None:
        """Stop every simulator and remove the ports."""
        await cancel_and_wait(self._auto)
        for sim in (self.weighbridge, self.barrier, self.led, self.loop, self.anpr_http):
            if sim is not None:
                await sim.stop()
