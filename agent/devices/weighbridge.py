"""Weighbridge reader: decodes an indicator's continuous output and publishes readings and stable weights.

It runs as one asyncio task over a :class:`~agent.devices.serial_link.SerialLink` and never raises
to its caller: a port that cannot be opened or vanishes, garbage on the line or silence all become
a health state (Chinese message for the guard and the heartbeat), and the reader reconnects on its
own when the port returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import UTC, datetime

import structlog

from agent.devices.broadcast import Broadcast, Subscription
from agent.devices.health import HealthReporting, HealthTracker
from agent.devices.scale_protocols import ScaleParser, ScaleProtocol, WeightUnit, make_parser
from agent.devices.serial_link import LinkError, SerialLink, SerialSettings
from agent.devices.stability import StabilityDetector, StabilitySettings
from agent.devices.tasks import cancel_and_wait
from agent.devices.types import StableWeight, WeightReading

_log = structlog.get_logger("agent.devices.weighbridge")


class SerialWeighbridge(HealthReporting):
    """A weighbridge indicator on a serial port (or ``socket://`` serial server).

    Args:
        url: device path or pyserial URL.
        protocol: indicator output format (see :mod:`agent.devices.scale_protocols`).
        name: device name used in health reports and logs.
        unit: unit set on an XK3190-A9 indicator (the frame does not carry it).
        serial: line settings.
        stability: stable-weight rule.
        stale_after_s: no valid frame for this long is a fault (``no_data`` or ``garbage``).
        reconnect_s: wait between attempts to (re)open the port.
        bad_frames_degraded: this many corrupt frames within ``stale_after_s`` degrade the health.
    """

    kind = "weighbridge"

    def __init__(
        self,
        url: str,
        protocol: ScaleProtocol = "xk3190_a9",
        *,
        name: str = "weighbridge",
        unit: WeightUnit = "kg",
        serial: SerialSettings | None = None,
        stability: StabilitySettings | None = None,
        stale_after_s: float = 3.0,
        reconnect_s: float = 1.0,
        bad_frames_degraded: int = 3,
        toledo_checksum: bool = True,
    ) -> None:
        self.name = name
        self.url = url
        self.protocol: ScaleProtocol = protocol
        self.parser: ScaleParser = make_parser(protocol, unit=unit, checksum=toledo_checksum)
        self.detector = StabilityDetector(stability)
        self.stale_after_s = stale_after_s
        self.reconnect_s = reconnect_s
        self.bad_frames_degraded = bad_frames_degraded
        self._link = SerialLink(url, serial, name=name)
        self._health = HealthTracker(name, self.kind)
        self._readings: Broadcast[WeightReading] = Broadcast()
        self._stable: Broadcast[StableWeight] = Broadcast()
        self._latest: WeightReading | None = None
        self._last_stable: StableWeight | None = None
        self._task: asyncio.Task[None] | None = None
        self._bad_times: deque[float] = deque()

    @property
    def latest(self) -> WeightReading | None:
        """The newest valid reading (None before the first one)."""
        return self._latest

    @property
    def last_stable(self) -> StableWeight | None:
        """The newest stable weight."""
        return self._last_stable

    def subscribe_readings(self, maxsize: int = 256) -> Subscription[WeightReading]:
        """Every valid reading from now on."""
        return self._readings.subscribe(maxsize)

    def subscribe_stable(self, maxsize: int = 64) -> Subscription[StableWeight]:
        """Every stable weight from now on (one per settled load)."""
        return self._stable.subscribe(maxsize)

    async def wait_stable(self, timeout_s: float) -> StableWeight | None:
        """The next stable weight, or None after ``timeout_s`` seconds."""
        sub = self.subscribe_stable()
        try:
            return await sub.get(timeout_s)
        finally:
            sub.close()

    async def start(self) -> None:
        """Start the reader task (returns at once)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"weighbridge-{self.name}")

    async def stop(self) -> None:
        """Stop the reader and close the port."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._link.shutdown()
        self._health.stopped()

    async def run(self) -> None:
        """Read until cancelled, reopening the port whenever it fails."""
        while True:
            try:
                await self._link.open()
            except LinkError as exc:
                self._health.fault("port_unavailable", f"地磅串口 {self.url} 无法打开", str(exc))
                await asyncio.sleep(self.reconnect_s)
                continue
            self.parser.reset()
            self.detector.reset()
            try:
                await self._read_loop()
            except LinkError as exc:
                self._health.fault("port_lost", f"地磅串口 {self.url} 断开", str(exc))
                await self._link.close()
                await asyncio.sleep(self.reconnect_s)
            except Exception as exc:  # noqa: BLE001 - the reader is its own watchdog: report, never die
                _log.exception("weighbridge.reader_error", device=self.name)
                self._health.fault("internal_error", "地磅读取程序异常，正在重试", repr(exc))
                await self._link.close()
                await asyncio.sleep(self.reconnect_s)

    async def _read_loop(self) -> None:
        opened = time.monotonic()
        last_valid: float | None = None
        last_bytes: float | None = None
        while True:
            data = await self._link.read()
            now = time.monotonic()
            if data:
                last_bytes = now
                bad_before = self.parser.frames_bad
                for frame in self.parser.feed(data):
                    last_valid = now
                    self._publish(
                        WeightReading(
                            kg=frame.kg,
                            monotonic=now,
                            at=datetime.now(UTC),
                            indicator_stable=frame.indicator_stable,
                            net=frame.net,
                            overload=frame.overload,
                        )
                    )
                for _ in range(self.parser.frames_bad - bad_before):
                    self._bad_times.append(now)
            self._update_health(now, opened, last_valid, last_bytes)

    def _publish(self, reading: WeightReading) -> None:
        self._latest = reading
        self._readings.publish(reading)
        stable = self.detector.feed(reading)
        if stable is not None:
            self._last_stable = stable
            _log.info("weighbridge.stable", device=self.name, kg=stable.kg, readings=stable.readings)
            self._stable.publish(stable)

    def _update_health(self, now: float, opened: float, last_valid: float | None, last_bytes: float | None) -> None:
        while self._bad_times and self._bad_times[0] < now - self.stale_after_s:
            self._bad_times.popleft()
        if last_valid is not None and now - last_valid <= self.stale_after_s:
            if len(self._bad_times) >= self.bad_frames_degraded:
                self._health.degraded(
                    "corrupt_frames", f"地磅数据校验错误较多（{self.stale_after_s:g} 秒内 {len(self._bad_times)} 帧）"
                )
            else:
                self._health.ok("地磅数据正常")
            return
        if now - max(opened, last_valid or opened) <= self.stale_after_s:
            return  # just (re)opened or just lost frames: give the indicator time before judging
        if last_bytes is not None and now - last_bytes <= self.stale_after_s:
            self._health.fault("garbage", "地磅数据无法解析：收到数据但没有有效帧（请检查协议与波特率设置）")
        else:
            self._health.fault("no_data", f"地磅无数据：{self.stale_after_s:g} 秒内未收到任何数据")
