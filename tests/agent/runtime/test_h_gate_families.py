"""One lane per camera family, end to end (issue 23): the running agent receives the camera's push over
TCP, records the pass with its pictures, opens the barrier *through that camera* (confirmed by the
camera simulator over TCP) and shows the HJ 1321 lines on a screen of another family (BX or 灵信 on a pty,
灵信 over TCP, or the screen behind the 臻识 camera's RS-485 port)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim.anpr_http import AnprHttpBarrierSimulator
from agent.devices.sim.camera_push import PushSender, build_push
from agent.devices.sim.camera_relay import DahuaCameraSimulator, HikvisionCameraSimulator, VzenithCameraSimulator
from agent.devices.sim.endpoints import PtyEndpoint, TcpEndpoint
from agent.devices.sim.led_families import FamilyScreenSimulator
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent_protocol.events import Decision, SnapshotRole
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

pytestmark = pytest.mark.anyio

KNOWN, UNKNOWN = "鄂A1B234", "鄂AD5678"
SCENE = b"\xff\xd8\xff\xe0scene" + bytes(range(256)) * 8 + b"\xff\xd9"
CROP = b"\xff\xd8\xff\xe0crop" + bytes(range(100)) + b"\xff\xd9"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Rig:
    """The camera (push + barrier) and screen simulators of one family's lane."""

    def __init__(self, family: str, tmp_path: Path) -> None:
        self.family = family
        self.tmp_path = tmp_path
        self.screen: FamilyScreenSimulator
        self.sims: list[Any] = []

    async def start(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(barrier config, LED config) for the family."""
        templates: dict[str, Any] = {}  # the HJ 1321 defaults
        if self.family == "dahua-itc":
            self.camera: Any = DahuaCameraSimulator(password="pw", travel_s=0.1, hold_s=3.0)
            self.screen = FamilyScreenSimulator("bx", PtyEndpoint(self.tmp_path / "led"))
            barrier = {"type": "dahua_itc", "base_url": "", "username": "admin", "password": "pw"}
            led = {"type": "bx_led", "port": self.screen.url, "screen_voice": True}
        elif self.family == "hikvision-isapi":
            self.camera = HikvisionCameraSimulator(password="pw", travel_s=0.1, hold_s=3.0)
            self.screen = FamilyScreenSimulator("lingxin", PtyEndpoint(self.tmp_path / "led"))
            barrier = {"type": "hikvision_isapi", "base_url": "", "username": "admin", "password": "pw"}
            led = {"type": "lingxin_led", "port": self.screen.url, "screen_voice": True}
        elif self.family == "vzenith-vz":
            self.screen = FamilyScreenSimulator("lingxin")
            self.camera = VzenithCameraSimulator(travel_s=0.1, on_rs485=self.screen.feed)
            barrier = {"type": "vzenith_vz", "host": "127.0.0.1"}
            led = {"type": "camera_rs485_led", "host": "127.0.0.1", "screen_voice": True}
        else:
            self.camera = AnprHttpBarrierSimulator(travel_s=0.1)
            self.screen = FamilyScreenSimulator("lingxin", TcpEndpoint())
            barrier = {"type": "http_anpr", "base_url": ""}
            led = {"type": "lingxin_led", "port": "", "screen_voice": True}
        await self.camera.start()
        await self.screen.start()
        if self.family == "vzenith-vz":
            barrier["port"] = led["camera_port"] = self.camera.port
        else:
            barrier["base_url"] = self.camera.base_url
        if self.family == "generic-json":
            led["port"] = self.screen.url
        return {"name": "gate", **barrier}, {"name": "screen", "templates": templates, "timeout_s": 3.0, **led}

    def opens(self) -> int:
        if isinstance(self.camera, HikvisionCameraSimulator):
            return self.camera.commands.count("open")
        if isinstance(self.camera, DahuaCameraSimulator):
            return self.camera.commands.count("openStrobe")
        if isinstance(self.camera, VzenithCameraSimulator):
            return sum(1 for c in self.camera.commands if c["cmd"] == "ioctl")
        return int(self.camera.commands.count("open"))

    async def stop(self) -> None:
        await self.camera.stop()
        await self.screen.stop()


def _config(tmp_path: Path, family: str, port: int, barrier: dict[str, Any], led: dict[str, Any]) -> dict[str, Any]:
    seed = tmp_path / "seed.json"
    vehicle = RegistryVehicle(
        registry_id="v1",
        category=VehicleCategory.TRANSPORT,
        plate=KNOWN,
        plate_colour=PlateColour.YELLOW,
        fuel=FuelType.DIESEL,
        emission_stage=EmissionStage("6"),
    )
    save_snapshot(seed, RegistrySnapshot(vehicles=(vehicle,)))
    return {
        "registry_seed": str(seed),
        "agent": {"id": "agent-h", "data_dir": str(tmp_path / "data")},
        "site": {"id": "site-1", "name": "青山厂区"},
        "booth": {"enabled": False},
        "devices": {"barriers": [barrier], "leds": [led]},
        "cameras": [{"id": "cam1", "url": "http://192.168.1.108", "push_format": family}],
        "lanes": [
            {
                "id": "push-in",
                "name": "东门入口",
                "direction": "in",
                "camera": "cam1",
                "barrier": "gate",
                "led": "screen",
                "source": {"type": "camera_push", "push_host": "127.0.0.1", "push_port": port},
            }
        ],
        "policy": {"unknown_vehicle": "refuse_prompt", "emergency_level": "orange"},
    }


async def _until(predicate: Any, what: str, deadline: float) -> None:
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("family", ["hikvision-isapi", "dahua-itc", "vzenith-vz", "generic-json"])
async def test_family_lane_push_pass_barrier_through_camera_and_screen(tmp_path: Path, family: str) -> None:
    rig = _Rig(family, tmp_path)
    barrier, led = await rig.start()
    port = _free_port()
    agent = Agent(parse_config(_config(tmp_path, family, port, barrier, led)))
    task = asyncio.create_task(agent.run(install_signals=False))
    sender = PushSender(f"http://127.0.0.1:{port}/camera-push/cam1")
    deadline = time.monotonic() + 30
    try:
        while True:  # until the receiver listens
            try:
                status, _ = await sender.send(*build_push(family, KNOWN, scene_jpeg=SCENE, plate_jpeg=CROP))
                break
            except OSError:
                assert time.monotonic() < deadline, "receiver never listened"
                await asyncio.sleep(0.1)
        assert status == 200
        await _until(lambda: rig.screen.current.texts[-1:] == ("请通行",), "allowed screen not shown", deadline)
        # HJ 1321: plate, stage, the current control status (the pass's warning level), verdict
        assert rig.screen.current.texts == (KNOWN, "国六", "橙色预警 管控中", "请通行")
        assert rig.opens() == 1
        assert (await sender.send(*build_push(family, UNKNOWN, colour="blue", scene_jpeg=SCENE)))[0] == 200
        await _until(lambda: rig.screen.current.texts[-1:] == ("禁止通行",), "refusal not shown", deadline)
        assert rig.opens() == 1  # a refused vehicle never opens the barrier
        assert rig.screen.spoken[0].endswith("国六，请通行")
        await _until(lambda: agent.outbox is not None and len(agent.outbox.events()) >= 2, "no passes", deadline)
        assert agent.outbox is not None
        known, unknown = agent.outbox.events()[:2]
    finally:
        agent.supervisor.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
        await rig.stop()
    assert (known.plate, known.decision) == (KNOWN, Decision.ALLOW)
    assert {s.role: s.sha256 for s in known.evidence.snapshots} == {
        SnapshotRole.SCENE: hashlib.sha256(SCENE).hexdigest(),
        SnapshotRole.PLATE: hashlib.sha256(CROP).hexdigest(),
    }
    assert (unknown.plate, unknown.decision) == (UNKNOWN, Decision.REFUSE)
    journal = (tmp_path / "data" / "barrier-commands.log").read_text()
    assert "open_ok" in journal
    assert "open_failed" not in journal
