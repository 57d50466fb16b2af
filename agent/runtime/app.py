"""Composition of the running agent from its configuration: the only place the pieces are wired.

Start order (stop is the reverse): data folder → outbox (migrate, replay sent→pending) →
local registry and policy → decision engine → command journal → devices → lane workers → booth.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from agent.decision.engine import DecisionEngine
from agent.decision.registry import LocalRegistry, load_snapshot, save_snapshot
from agent.devices.interfaces import Barrier, Device, LedDisplay, Weighbridge
from agent.devices.registry import BARRIERS, LED_DISPLAYS, WEIGHBRIDGES, DeviceRegistry
from agent.devices.weighing import PassWeighing, TripWeighingPairer
from agent.evidence.ring import FrameRing
from agent.outbox.store import Alarm, Outbox
from agent.runtime.config import AgentConfig, LaneConfig, device_configs
from agent.runtime.pipeline import CommandJournal, LaneEvent, LanePipeline, ReadSource
from agent.runtime.sources import SpoolReadSource
from agent.runtime.supervisor import Supervisor
from agent.runtime.weighing import WeighStation, legacy_weighing, rebuild_pairer
from hj1321.rules import ControlPolicy, decode_policy, default_policy, encode_policy

if TYPE_CHECKING:
    from agent.outbox.store import OutboxStats
    from agent.sync.commands import RemoteRelease

__all__ = ["Agent"]

log = structlog.get_logger(__name__)

_REGISTRIES: dict[str, DeviceRegistry[Any]] = {"barriers": BARRIERS, "leds": LED_DISPLAYS, "weighbridges": WEIGHBRIDGES}


class Agent:
    """The whole agent process: build from config, run under the supervisor."""

    def __init__(
        self,
        cfg: AgentConfig,
        *,
        free_space: Callable[[], int] | None = None,
        booth: bool | None = None,
    ) -> None:
        """Prepare (nothing is opened until :meth:`run`).

        Args:
            cfg: validated configuration.
            free_space: free-space probe for the outbox (tests).
            booth: override ``cfg.booth.enabled``.
        """
        self.cfg = cfg
        self.data = cfg.data_path
        self.supervisor = Supervisor(
            restart_budget=cfg.agent.restart_budget, restart_window_s=cfg.agent.restart_window_s
        )
        self.alarms: list[Alarm] = []
        self.lanes: dict[str, LanePipeline] = {}
        self.devices: dict[str, Device] = {}
        self.rings: dict[str, FrameRing] = {}
        #: The running camera read source of each lane (for cloud snapshots and ROI changes).
        self.vision_sources: dict[str, Any] = {}
        self.lane_listeners: list[Callable[[LaneEvent], None]] = []
        self.online: Callable[[], bool] = lambda: False  # replaced by the sync layer (issue 5)
        self._free_space = free_space
        self._booth_enabled = cfg.booth.enabled if booth is None else booth
        self.outbox: Outbox | None = None
        self.engine: DecisionEngine | None = None
        self.journal: CommandJournal | None = None
        self._booth_runner: Any = None
        self.booth: Any = None  # agent.booth.server.BoothServer once started
        self.pairer = TripWeighingPairer()
        self.weigh_stations: dict[str, WeighStation] = {}

    # ------------------------------------------------------------------ alarms

    def alarm(self, item: Alarm) -> None:
        """Keep an alarm for the booth and heartbeats."""
        self.alarms.append(item)
        del self.alarms[:-200]

    def stats(self) -> OutboxStats | None:
        """Outbox statistics (None before start)."""
        return None if self.outbox is None else self.outbox.stats()

    # ------------------------------------------------------------------ services

    async def _start_outbox(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.outbox = await asyncio.to_thread(
            Outbox,
            self.data / "outbox",
            agent_id=self.cfg.agent.id,
            settings=self.cfg.outbox,
            free_space=self._free_space,
            on_alarm=self.alarm,
        )
        log.info("agent.outbox_open", replayed=self.outbox.replayed, head=self.outbox.head()[0])

    async def _stop_outbox(self) -> None:
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)

    def _load_policy(self) -> ControlPolicy:
        cached = self.data / "policy.json"
        if cached.exists():
            return decode_policy(cached.read_bytes())
        if self.cfg.policy_file:
            return decode_policy(Path(self.cfg.policy_file).read_bytes())
        policy = default_policy()
        cached.write_bytes(encode_policy(policy))
        return policy

    async def _start_decision(self) -> None:
        registry_path = self.data / "registry.json"
        if not registry_path.exists() and self.cfg.registry_seed:
            seed = load_snapshot(Path(self.cfg.registry_seed))
            await asyncio.to_thread(save_snapshot, registry_path, seed)
        try:
            snapshot = load_snapshot(registry_path)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self.alarm(_alarm("registry_corrupt", f"本地车辆库文件损坏，按空库运行：{exc}"))
            snapshot = load_snapshot(self.data / "registry.absent")
        self.engine = DecisionEngine(
            registry=LocalRegistry(snapshot), policy=self._load_policy(), settings=self.cfg.policy
        )
        log.info("agent.decision_ready", registry=snapshot.version, vehicles=len(snapshot.vehicles))

    async def _noop(self) -> None:
        return None

    async def _start_journal(self) -> None:
        if self.cfg.agent.command_journal:
            self.journal = CommandJournal(self.data / "barrier-commands.log")

    async def _stop_journal(self) -> None:
        if self.journal is not None:
            self.journal.close()

    async def _start_devices(self) -> None:
        configs = device_configs(self.cfg)
        used = {n for lane in self.cfg.lanes for n in (lane.barrier, lane.led, lane.weighbridge) if n}
        for name in sorted(used):
            section, config = configs[name]
            device = _REGISTRIES[section].create(config)
            await device.start()
            self.devices[name] = device
            log.info("agent.device_started", device=name, kind=device.kind)

    async def _stop_devices(self) -> None:
        for name, device in reversed(list(self.devices.items())):
            try:
                await device.stop()
            except Exception:
                log.exception("agent.device_stop_failed", device=name)

    # ------------------------------------------------------------------ lanes

    def _source(self, lane: LaneConfig) -> ReadSource:
        if lane.source.type == "spool":
            assert lane.source.path is not None
            return SpoolReadSource(Path(lane.source.path), poll_s=lane.source.poll_s)
        if lane.source.type == "camera_push":  # the camera reads the plate and pushes it (issue 23)
            from agent.sources.push_formats.source import CameraPushReadSource  # noqa: PLC0415

            cam = next(c for c in self.cfg.cameras if c.id == lane.camera)
            assert lane.source.push_port is not None
            push = CameraPushReadSource(
                cam.id,
                host=lane.source.push_host,
                port=lane.source.push_port,
                push_format=cam.push_format,
                clock_skew_s=cam.clock_skew_s,
            )
            push.clock.health.add_listener(
                lambda h: self.alarm(_alarm("camera_clock_skew", h.message)) if h.code == "clock_skew" else None
            )
            return push
        from agent.runtime.motion import MotionGate  # noqa: PLC0415
        from agent.runtime.sources import VisionReadSource  # noqa: PLC0415
        from agent.sources.opencv import open_source  # noqa: PLC0415 - vision stack only when cameras are used
        from agent.sync.commands import load_roi_overrides  # noqa: PLC0415
        from agent.vision import PlateRecognizer, PlateVoter  # noqa: PLC0415

        camera = next(c for c in self.cfg.cameras if c.id == lane.camera)
        # A ROI set from the cloud's portal (set_lane_roi) wins over the configuration file's.
        roi = load_roi_overrides(self.data).get(lane.id, camera.roi)
        ring = self.rings.setdefault(
            camera.id,
            # Long enough for the late clip (before + after the pass) plus the wait for its last frames.
            FrameRing(
                seconds=self.cfg.evidence.clip_before_s + self.cfg.evidence.clip_after_s + 15.0,
                fps=self.cfg.evidence.clip_fps,
            ),
        )
        voter = PlateVoter(early=lane.early_read, duplicate_window_s=lane.duplicate_window_s)
        self._seed_duplicate_window(lane, voter)
        source = VisionReadSource(
            lane_id=lane.id,
            frames=open_source(camera.url, roi=roi),
            recognizer=PlateRecognizer(),
            # Early emission (lane.early_read, on by default): a confident consensus goes to the decision
            # while the truck is still approaching (issue 4: vehicle appears -> barrier command); weak
            # tracks wait for their end. The clip around the pass follows as a late attachment (ADR 0020).
            voter=voter,
            ring=ring,
            jpeg_quality=self.cfg.evidence.jpeg_quality,
            gate=MotionGate() if lane.motion_gate else None,
        )
        self.vision_sources[lane.id] = source
        return source

    def _seed_duplicate_window(self, lane: LaneConfig, voter: Any) -> None:
        """Rebuild the lane's duplicate window from the outbox (issue 16): a truck recorded just before
        a restart and still in front of the camera is the same pass, not a second record or opening.
        A source rebuilt before the outbox is open (the lane ROI applied live at start) has nothing to seed."""
        if self.outbox is None:
            return
        now_wall, now_mono = time.time(), time.monotonic()
        since = datetime.fromtimestamp(now_wall - lane.duplicate_window_s, UTC)
        for plate, at in self.outbox.recent_plates(lane.id, since):
            voter.remember(lane.id, plate, now_mono - (now_wall - at.timestamp()))

    def _build_lane(self, lane: LaneConfig) -> LanePipeline:
        assert self.engine is not None
        assert self.outbox is not None
        camera = next((c for c in self.cfg.cameras if c.id == lane.camera), None)
        barrier = self.devices.get(lane.barrier) if lane.barrier else None
        led = self.devices.get(lane.led) if lane.led else None
        ring = self.rings.get(lane.camera) if lane.camera else None
        scale = self.devices.get(lane.weighbridge) if lane.weighbridge else None
        weigh = None
        if lane.weighbridge and isinstance(scale, Weighbridge):
            weigh = self.weigh_stations.get(lane.weighbridge)
            if weigh is None:
                # One station per scale, shared by the lanes on it (docs/devices.md "Weighing ↔ pass").
                on_scale = [x for x in self.cfg.lanes if x.weighbridge == lane.weighbridge]
                weigh = WeighStation(
                    lane.weighbridge,
                    scale,
                    window_s=max(x.weigh_wait_s for x in on_scale),
                    before_s=max(x.weigh_before_s for x in on_scale),
                    on_unclaimed=functools.partial(self._unclaimed_weighing, lane.weighbridge),
                )
                self.weigh_stations[lane.weighbridge] = weigh
            weigh.start()
        return LanePipeline(
            lane_id=lane.id,
            lane_name=lane.name,
            direction=lane.direction,
            agent_id=self.cfg.agent.id,
            site_id=self.cfg.site.id,
            engine=self.engine,
            outbox=self.outbox,
            barrier=barrier if isinstance(barrier, Barrier) else None,
            led=led if isinstance(led, LedDisplay) else None,
            journal=self.journal,
            clips=ring if self.cfg.evidence.clip else None,
            clip_before_s=self.cfg.evidence.clip_before_s,
            clip_after_s=self.cfg.evidence.clip_after_s,
            nvr=(camera.nvr.nvr, camera.nvr.channel) if camera is not None and camera.nvr is not None else None,
            listeners=self.lane_listeners,
            on_alarm=self.alarm,
            weigh=weigh,
            pairer=self.pairer,
            max_read_age_s=lane.max_read_age_s,
        )

    async def _start_lanes(self) -> None:
        if any(lane.weighbridge for lane in self.cfg.lanes):
            assert self.outbox is not None
            weighings = await asyncio.to_thread(self._weighed_history)
            log.info("agent.trips_open", open=rebuild_pairer(self.pairer, weighings))
        for lane in self.cfg.lanes:
            pipeline = self._build_lane(lane)
            self.lanes[lane.id] = pipeline

            def make(lane: LaneConfig = lane, pipeline: LanePipeline = pipeline) -> Any:
                source = self._source(lane)
                if lane.camera and pipeline.clips is None and self.cfg.evidence.clip:
                    pipeline.clips = self.rings.get(lane.camera)
                return pipeline.run(source)

            self.supervisor.add_worker(f"lane-{lane.id}", make)

    def _weighed_history(self) -> list[PassWeighing]:
        """Stored weighings to rebuild the open trips after a restart: late weighing attachments of
        allowed passes (issue 15), and weights sealed in events by agents before them."""
        assert self.outbox is not None
        out: list[PassWeighing] = []
        after = 0
        while batch := self.outbox.events(after_seq=after, limit=1000):
            out.extend(w for e in batch if (w := legacy_weighing(e)) is not None)
            after = batch[-1].seq
        for stored in self.outbox.weighings():
            record = stored.record
            if stored.event_id is None or record is None or not record.plate or record.direction is None:
                continue
            out.append(
                PassWeighing(
                    event_id=stored.event_id,
                    plate=record.plate,
                    direction=record.direction,
                    kg=record.weight_kg,
                    at=record.at,
                    cargo=record.cargo,
                )
            )
        return out

    async def _unclaimed_weighing(self, scale: str, stable: Any, why: str) -> None:
        """A plateau no pass claimed: stored as an unattributed weighing (reviewed in the cloud)."""
        from agent_protocol.messages import WeighingRecord  # noqa: PLC0415

        assert self.outbox is not None
        record = WeighingRecord(
            weight_kg=round(stable.kg, 1),
            at=stable.at,
            indicator=scale[:32],
            min_kg=round(stable.min_kg, 1),
            max_kg=round(stable.max_kg, 1),
        )
        await asyncio.to_thread(self.outbox.add_unattributed_weighing, record, why)

    async def _stop_lanes(self) -> None:
        for pipeline in self.lanes.values():  # late clips still waiting: cut them with the frames so far
            await pipeline.flush_clips()
        for station in self.weigh_stations.values():
            await station.stop()  # claims with a plateau resolve; the rest become missing on the next start
        for pipeline in self.lanes.values():
            await pipeline.flush_weighings()

    async def _start_booth(self) -> None:
        if not self._booth_enabled:
            return
        try:
            booth = importlib.import_module("agent.booth.server")  # aiohttp app only when enabled
        except ImportError:
            log.warning("booth UI is not available in this build; continuing without it")
            return
        self._booth_runner = await booth.start_booth(self)

    async def _stop_booth(self) -> None:
        if self._booth_runner is not None:
            await self._booth_runner.cleanup()

    # ------------------------------------------------------------------ run

    def build(self) -> Supervisor:
        """Register the services in start order."""
        sup = self.supervisor
        sup.add_service("outbox", self._start_outbox, self._stop_outbox)
        sup.add_service("decision", self._start_decision, self._noop)
        sup.add_service("journal", self._start_journal, self._stop_journal)
        sup.add_service("devices", self._start_devices, self._stop_devices)
        sup.add_service("lanes", self._start_lanes, self._stop_lanes)
        sup.add_service("booth", self._start_booth, self._stop_booth)
        if self.cfg.cloud is not None:
            sup.add_worker("sync", self._run_sync)
        return sup

    # ------------------------------------------------------------------ cloud sync (issue 5)

    async def _run_sync(self) -> None:
        """Deliver the outbox and apply cloud commands until stop (a refused credential parks the worker)."""
        from agent.sync import commands as sync_commands  # noqa: PLC0415 - only with a [cloud] section
        from agent.sync import enroll  # noqa: PLC0415
        from agent.sync.client import SyncClient, SyncFatalError  # noqa: PLC0415
        from agent.sync.precheck import PrecheckBroker  # noqa: PLC0415

        cloud = self.cfg.cloud
        assert cloud is not None
        assert self.outbox is not None
        stop = self.supervisor.stop_event
        folder = Path(cloud.credential_file).parent if cloud.credential_file else self.data
        credential = enroll.load_credential(folder)
        if credential is None:
            self.alarm(_alarm("not_enrolled", "代理尚未注册，无法与云端同步：请运行 ecogate agent enroll"))
            await stop.wait()
            return
        handler = sync_commands.CommandHandler(
            self.data,
            self.engine,
            open_barrier=self._remote_open,
            snapshot=self._lane_snapshot,
            apply_roi=self._apply_roi,
        )
        sync = SyncClient(
            cloud.url or credential.hub_url,
            credential.token,
            self.outbox,
            batch_size=cloud.batch_size,
            heartbeat_s=cloud.heartbeat_s,
            commands=handler,
            prechecks=PrecheckBroker(
                budget_s=self.cfg.policy.precheck_timeout_s, exits=self.cfg.policy.enforce_on_exit
            ),
        )
        self.online = lambda: sync.connected
        if cloud.precheck and self.engine is not None:
            # Regulator pre-pass check through the cloud (issues 4/8); the engine bounds the wait.
            self.engine.regulator_check = sync.precheck
        try:
            await sync.run(stop)
        except SyncFatalError as exc:
            # Retrying cannot help (revoked credential, unsupported version): alarm and keep the gate running.
            self.alarm(_alarm("sync_refused", f"云端拒绝同步：{exc}"))
            await stop.wait()
        finally:
            self.online = lambda: False
            if self.engine is not None and self.engine.regulator_check == sync.precheck:
                self.engine.regulator_check = None
            handler.close()

    async def _remote_open(self, release: RemoteRelease) -> str:
        """A remote ``open_barrier``: a manual-release pass event, committed before the barrier opens.

        Filed under the portal user who asked (account and display name), with the plate they typed
        or confirmed and the lane's current frame (issue 15); never under the previous refused plate
        unless they confirmed it.
        """
        from agent_protocol.events import ManualReason, ReleaseChannel  # noqa: PLC0415

        pipeline = self.lanes.get(release.lane_id or "")
        if pipeline is None:
            raise ValueError(f"本代理没有车道 {release.lane_id}")
        event = await pipeline.manual_release(
            operator=release.operator or "云端用户",
            operator_name=release.operator_name,
            channel=ReleaseChannel.REMOTE,
            reason=ManualReason.SUPERVISOR_ORDER,
            text=release.reason,
            plate=release.plate,
            confirm_plate=release.confirm_plate,
            photo=await self.lane_frame(pipeline.lane_id),
        )
        if event is None:
            raise ValueError("放行事件未能保存，道闸未开启")
        return f"已开闸（事件 {event.event_id}，车牌 {event.plate or '未填写'}）"

    async def lane_frame(self, lane_id: str) -> bytes | None:
        """The lane camera's newest frame (JPEG) for a manual release's photo; None without a camera."""
        lane = next((x for x in self.cfg.lanes if x.id == lane_id), None)
        ring = self.rings.get(lane.camera) if lane is not None and lane.camera else None
        return ring.latest() if ring is not None else None

    async def _lane_snapshot(self, lane_id: str) -> bytes | None:
        """The latest frame of the lane's camera (JPEG) for the portal's ROI set-up."""
        lane = next((x for x in self.cfg.lanes if x.id == lane_id), None)
        if lane is None:
            raise ValueError(f"本代理没有车道 {lane_id}")
        if lane.camera is None:
            raise ValueError(f"车道 {lane_id} 没有配置相机")
        ring = self.rings.get(lane.camera)
        return ring.latest() if ring is not None else None

    async def _apply_roi(self, lane_id: str, roi: tuple[int, int, int, int]) -> str:
        """Use a new ROI for the lane's recognition from the next frame on (already kept on disk)."""
        if not any(x.id == lane_id for x in self.cfg.lanes):
            raise ValueError(f"本代理没有车道 {lane_id}")
        source = self.vision_sources.get(lane_id)
        if source is None:
            return "已保存，车道相机启动后生效"
        source.frames.roi = roi
        return "已生效"

    async def run(self, *, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or a fatal failure); return the exit code."""
        sup = self.build()
        if install_signals:
            sup.install_signal_handlers()
        return await sup.run()


def _alarm(code: str, message: str) -> Alarm:
    import time  # noqa: PLC0415

    return Alarm(code=code, message=message, at=time.time())
