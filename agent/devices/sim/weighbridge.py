"""Weighbridge indicator simulator: streams XK3190-A9, A12-style or Toledo frames of a scripted weight.

Faults for tests and demos: ``inject_garbage`` (bytes between frames), ``corrupt_next`` (frames
with a broken checksum or digit), ``silence`` (indicator stops sending), ``vanish``/``restore``
(the port disappears and returns), and ``chunk_size`` (frames split over several writes).
"""

from __future__ import annotations

import asyncio
import time

from agent.devices.scale_protocols import ScaleProtocol, WeightUnit, encode_frame
from agent.devices.sim.endpoints import SimEndpoint
from agent.devices.sim.profiles import ScaleProfile
from agent.devices.tasks import cancel_and_wait


class WeighbridgeSimulator:
    """Sends one frame every ``interval_s`` with the current weight (quantised to ``division_kg``)."""

    def __init__(
        self,
        endpoint: SimEndpoint,
        protocol: ScaleProtocol = "xk3190_a9",
        *,
        interval_s: float = 0.05,
        division_kg: float = 10.0,
        decimals: int = 0,
        unit: WeightUnit = "kg",
        chunk_size: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.protocol: ScaleProtocol = protocol
        self.interval_s = interval_s
        self.division_kg = division_kg
        self.decimals = decimals
        self.unit: WeightUnit = unit
        self.chunk_size = chunk_size
        self.silent = False
        self.frames_sent = 0
        self._profile: ScaleProfile | None = None
        self._profile_started = 0.0
        self._static_kg = 0.0
        self._previous_kg = 0.0
        self._garbage: list[bytes] = []
        self._corrupt = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Where the driver opens the simulated indicator."""
        return self.endpoint.url

    @property
    def weight_kg(self) -> float:
        """The weight on the scale now (before quantisation)."""
        if self._profile is None:
            return self._static_kg
        return self._profile.weight_at(time.monotonic() - self._profile_started)

    @property
    def profile_done(self) -> bool:
        """True when no profile plays or the current one has ended."""
        return self._profile is None or time.monotonic() - self._profile_started >= self._profile.duration

    def set_weight(self, kg: float) -> None:
        """Show a fixed weight (stops any profile)."""
        self._profile = None
        self._static_kg = kg

    def play(self, profile: ScaleProfile) -> None:
        """Start a profile now; when it ends its final weight stays on the scale."""
        self._static_kg = profile.final_kg
        self._profile = profile
        self._profile_started = time.monotonic()

    def inject_garbage(self, data: bytes) -> None:
        """Send ``data`` before the next frame."""
        self._garbage.append(data)

    def corrupt_next(self, count: int = 1) -> None:
        """Break the next ``count`` frames (checksum or digit), keeping their length."""
        self._corrupt += count

    def silence(self, silent: bool = True) -> None:
        """Stop (or resume) sending frames while the port stays open."""
        self.silent = silent

    async def start(self) -> None:
        """Create the port and start streaming."""
        await self.endpoint.start()
        if self._task is None:
            self._task = asyncio.create_task(self._stream(), name=f"sim-weighbridge-{self.protocol}")

    async def stop(self) -> None:
        """Stop streaming and remove the port."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self.endpoint.stop()

    async def vanish(self) -> None:
        """The port disappears (like an unplugged adapter); streaming pauses."""
        await self.endpoint.vanish()

    async def restore(self) -> None:
        """The port comes back at the same URL."""
        await self.endpoint.restore()

    def frame(self, kg: float) -> bytes:
        """Encode ``kg`` (quantised) in the simulator's protocol."""
        quantised = round(kg / self.division_kg) * self.division_kg if self.division_kg else kg
        motion = abs(quantised - self._previous_kg) > 2 * max(self.division_kg, 1.0)
        self._previous_kg = quantised
        return encode_frame(self.protocol, quantised, decimals=self.decimals, unit=self.unit, motion=motion)

    async def _stream(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.endpoint.available:
                continue
            for junk in self._garbage:
                self.endpoint.write(junk)
            self._garbage.clear()
            if self.silent:
                continue
            data = self.frame(self.weight_kg)
            if self._corrupt:
                self._corrupt -= 1
                data = _corrupt(data)
            await self._send(data)
            self.frames_sent += 1

    async def _send(self, data: bytes) -> None:
        if not self.chunk_size:
            self.endpoint.write(data)
            return
        for i in range(0, len(data), self.chunk_size):
            self.endpoint.write(data[i : i + self.chunk_size])
            await asyncio.sleep(0.002)


def _corrupt(frame: bytes) -> bytes:
    """Flip one digit of the weight so the checksum (or the line grammar) no longer matches."""
    data = bytearray(frame)
    for i in range(len(data) - 1, -1, -1):
        if 0x30 <= data[i] <= 0x39 and i < len(data) - 4:
            data[i] = 0x30 + (data[i] - 0x30 + 5) % 10 if frame[:1] == b"\x02" else ord("x")
            break
    return bytes(data)
