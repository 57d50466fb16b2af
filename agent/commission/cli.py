"""``ecogate agent commission CONFIG``: install one lane in minutes (issue 23).

1. reads the agent config and picks the lane (``--lane``, else the first);
2. finds the cameras on the lane's LAN segment (``--segment``, else the /24 of the lane's push address
   or of its camera's address) and the devices on the serial ports (the machine's, plus ``--serial``
   paths, globs or ``socket://`` serial servers) — see :mod:`agent.commission.discover`;
3. puts what it found into the lane: the camera and its push family, the barrier through that camera
   (when the lane has none or only a virtual one), the weighbridge and the LED screen (when the lane
   has none);
4. tests them: saves a camera snapshot with the lane ROI drawn on it, opens and closes the barrier
   with confirmation, reads the weighbridge, writes a test line to the screen;
5. writes the config (``--out``, default: the same file, the old one kept as ``.bak``) after
   validating it exactly as ``ecogate agent check-config`` does.

Everything printed is Chinese; the exit code is 0 when every test passed, 1 when a test failed (the
config is still written), 2 when the config is invalid or nothing could be written.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import shutil
import sys
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from agent.commission.discover import (
    BARRIER_TYPE,
    DEFAULT_CAMERA_PORTS,
    CameraFound,
    SerialFound,
    discover_cameras,
    probe_serial,
    segment_hosts,
    serial_candidates,
)
from agent.commission.toml_out import dumps
from agent.devices.camera_barrier import VzenithBarrier
from agent.devices.interfaces import Barrier, LedDisplay, Weighbridge
from agent.devices.registry import BARRIERS, LED_DISPLAYS, WEIGHBRIDGES
from agent.devices.types import BarrierState, LedColour, LedLine
from agent.runtime.config import AgentConfig, ConfigError, LaneConfig, parse_config

Say = Callable[[str], None]
DEFAULT_PUSH_PORT = 8099


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the installer's console


class Commission:
    """One commissioning run; ``results`` collects (test, ok, text)."""

    def __init__(self, args: argparse.Namespace, raw: dict[str, Any], cfg: AgentConfig, say: Say = _say) -> None:
        self.args = args
        self.raw = raw
        self.cfg = cfg
        self.say = say
        self.lane = self._pick_lane()
        self.results: list[tuple[str, bool, str]] = []
        self.auth = (args.camera_user, args.camera_password or "") if args.camera_user else None

    def _pick_lane(self) -> LaneConfig:
        for lane in self.cfg.lanes:
            if self.args.lane in {None, lane.id}:
                return lane
        raise ConfigError([f"配置中没有车道“{self.args.lane}”"])

    def segment(self) -> str:
        """The LAN segment to search."""
        if self.args.segment:
            return str(self.args.segment)
        candidates = [self.lane.source.push_host]
        camera = next((c for c in self.cfg.cameras if c.id == self.lane.camera), None)
        if camera is not None:
            candidates.append(urlsplit(camera.url).hostname or "")
        for host in candidates:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                continue
            if not address.is_unspecified:
                return str(ipaddress.ip_network(f"{address}/24", strict=False))
        raise ValueError("无法从配置得知车道网段：请用 --segment 指定（如 192.168.1.0/24）")

    # --- discovery ------------------------------------------------------------------------------

    async def discover(self) -> tuple[CameraFound | None, list[SerialFound]]:
        """Find the cameras and serial devices; return the lane's camera and every serial result."""
        segment = self.segment()
        ports = tuple(int(p) for p in self.args.ports.split(",")) if self.args.ports else DEFAULT_CAMERA_PORTS
        self.say(f"在网段 {segment} 的端口 {','.join(map(str, ports))} 上查找相机…")
        cameras = await discover_cameras(segment_hosts(segment), ports, timeout_s=self.args.timeout, auth=self.auth)
        for cam in cameras:
            self.say(f"  相机 {cam.host}:{cam.port} — {_FAMILY_TEXT[cam.family]}（{cam.detail}）")
        if not cameras:
            self.say("  未发现相机")
        chosen = self._choose_camera(cameras)
        serials = []
        for port in serial_candidates(self.args.serial or []):
            found = await probe_serial(port, listen_s=self.args.listen, answer_s=self.args.answer)
            serials.append(found)
            self.say(f"  串口 {port} — {found.detail}")
        if not serials:
            self.say("  未发现串口")
        return chosen, serials

    def _choose_camera(self, cameras: list[CameraFound]) -> CameraFound | None:
        if self.args.camera:
            host, _, port = str(self.args.camera).rpartition(":")
            match = [c for c in cameras if c.host == host and c.port == int(port)]
            if not match:
                self.say(f"  指定的相机 {self.args.camera} 未应答")
            return match[0] if match else None
        current = next((c for c in self.cfg.cameras if c.id == self.lane.camera), None)
        if current is not None:
            parts = urlsplit(current.url)
            for cam in cameras:
                if cam.host == parts.hostname and (parts.port in {None, cam.port}):
                    return cam
        return cameras[0] if cameras else None

    # --- the new config -------------------------------------------------------------------------

    def apply(self, camera: CameraFound | None, serials: list[SerialFound]) -> dict[str, Any]:
        """The raw config with the lane's discovered devices put in."""
        raw = self.raw
        lane_raw = next(item for item in raw["lanes"] if item["id"] == self.lane.id)
        devices = raw.setdefault("devices", {})
        configured = {d["name"]: d for section in devices.values() for d in section}
        if camera is not None:
            camera_id = self.lane.camera or f"{self.lane.id}-cam"
            cams = raw.setdefault("cameras", [])
            entry = next((c for c in cams if c["id"] == camera_id), None)
            if entry is None:
                entry = {"id": camera_id}
                cams.append(entry)
            entry["url"], entry["push_format"] = camera.base_url, camera.family
            lane_raw["camera"] = camera_id
            source = lane_raw.setdefault("source", {})
            source["type"] = "camera_push"
            source.setdefault("push_port", self.args.push_port)
            barrier_type = BARRIER_TYPE[camera.family]
            current = configured.get(lane_raw.get("barrier", ""))
            if barrier_type and (current is None or current.get("type") == "virtual"):
                lane_raw["barrier"] = self._put(devices, "barriers", self._barrier(camera, barrier_type))
        if self.args.roi:
            camera_id = lane_raw.get("camera")
            for cam in raw.get("cameras", []):
                if cam["id"] == camera_id:
                    cam["roi"] = [int(v) for v in self.args.roi.split(",")]
        scale = next((s for s in serials if s.kind == "weighbridge"), None)
        if scale is not None and "weighbridge" not in lane_raw:
            lane_raw["weighbridge"] = self._put(
                devices, "weighbridges", {"type": scale.type, "name": f"{self.lane.id}-scale", "port": scale.port}
            )
        led = next((s for s in serials if s.kind == "led"), None)
        if led is not None and "led" not in lane_raw:
            item: dict[str, Any] = {"type": led.type, "name": f"{self.lane.id}-led", "port": led.port, **led.extra}
            if led.type != "serial_led":
                item["templates"] = {}  # the HJ 1321 wording, ready to edit
            lane_raw["led"] = self._put(devices, "leds", item)
        return raw

    def _barrier(self, camera: CameraFound, barrier_type: str) -> dict[str, Any]:
        item: dict[str, Any] = {"type": barrier_type, "name": f"{self.lane.id}-barrier"}
        if barrier_type == "vzenith_vz":
            item |= {"host": camera.host, "port": camera.port}
        else:
            item["base_url"] = f"http://{camera.host}:{camera.port}"
        if barrier_type in {"dahua_itc", "hikvision_isapi"} and self.auth:
            item |= {"username": self.auth[0], "password": self.auth[1]}
        return item

    @staticmethod
    def _put(devices: dict[str, Any], section: str, item: dict[str, Any]) -> str:
        items = [d for d in devices.get(section, []) if d["name"] != item["name"]]
        devices[section] = [*items, item]
        return str(item["name"])

    # --- tests ----------------------------------------------------------------------------------

    def _result(self, test: str, text: str, *, ok: bool) -> None:
        self.results.append((test, ok, text))
        self.say(f"  [{'通过' if ok else '失败'}] {test}：{text}")

    async def run_tests(self, cfg: AgentConfig, camera: CameraFound | None) -> None:
        """Snapshot, barrier, weighbridge and LED tests of the lane in ``cfg``."""
        lane = next(lane for lane in cfg.lanes if lane.id == self.lane.id)
        devices = {d.get("name"): d for section in self.raw.get("devices", {}).values() for d in section}
        self.say(f"测试车道 {lane.id}（{lane.name}）…")
        await self._snapshot(cfg, lane, camera)
        if lane.barrier and not self.args.no_barrier_test:
            await self._barrier_test(BARRIERS.create(devices[lane.barrier]))
        if lane.weighbridge:
            await self._scale_test(WEIGHBRIDGES.create(devices[lane.weighbridge]))
        if lane.led:
            await self._led_test(LED_DISPLAYS.create(devices[lane.led]), lane.name)

    async def _snapshot(self, cfg: AgentConfig, lane: LaneConfig, camera: CameraFound | None) -> None:
        cam = next((c for c in cfg.cameras if c.id == lane.camera), None)
        if cam is None:
            return
        image = None
        try:
            if camera is not None and camera.family in _SNAPSHOT:
                image = await self._http_snapshot(camera)
            elif not cam.url.startswith(("http://", "tcp://")):
                image = await asyncio.to_thread(_grab_frame, cam.url)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            self._result("相机画面", f"无法取得画面：{exc}", ok=False)
            return
        if image is None:
            self._result("相机画面", "该相机型号不提供抓图接口，请在相机网页上确认画面与识别区域", ok=True)
            return
        folder = Path(self.args.snapshot_dir or cfg.data_path / "commission")
        path = await asyncio.to_thread(_save_with_roi, image, cam.roi, folder / f"{lane.id}-snapshot.jpg")
        roi = f"识别区域 {list(cam.roi)}" if cam.roi else "未设识别区域（全画面）"
        self._result("相机画面", f"已保存 {path}（{roi}，用 --roi x1,y1,x2,y2 调整）", ok=True)

    async def _http_snapshot(self, camera: CameraFound) -> bytes:
        middlewares = (aiohttp.DigestAuthMiddleware(*self.auth),) if self.auth else ()
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout, middlewares=middlewares) as http,
            http.get(f"http://{camera.host}:{camera.port}{_SNAPSHOT[camera.family]}") as resp,
        ):
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            return await resp.read()

    async def _barrier_test(self, barrier: Barrier) -> None:
        try:
            opened = await barrier.open()
            if not opened.confirmed:
                self._result("抬杆", opened.message or "未确认", ok=False)
                return
            up = await barrier.wait_for(BarrierState.OPEN, 10.0)
            where = "道闸已抬起" if up.state is BarrierState.OPEN else f"指令已确认，道闸状态 {up.state.value}"
            self._result("抬杆", f"{where}（相机/继电器已确认）", ok=True)
            if isinstance(barrier, VzenithBarrier) and barrier.close_io is None:
                self._result("落杆", "未配置落杆输出（close_io），由道闸控制器自动落杆", ok=True)
                return
            closed = await barrier.close()
            if closed.confirmed:
                self._result("落杆", "指令已确认", ok=True)
            else:
                self._result("落杆", closed.message or "未确认", ok=False)
        finally:
            await barrier.stop()

    async def _scale_test(self, scale: Weighbridge) -> None:
        await scale.start()
        try:
            for _ in range(60):
                if scale.latest is not None:
                    self._result("地磅读数", f"{scale.latest.kg:g} kg", ok=True)
                    return
                await asyncio.sleep(0.1)
            self._result("地磅读数", scale.health.message, ok=False)
        finally:
            await scale.stop()

    async def _led_test(self, led: LedDisplay, lane_name: str) -> None:
        try:
            line = f"调试 {datetime.now().astimezone():%H:%M:%S}"
            ok = await led.show([LedLine(lane_name, LedColour.YELLOW), LedLine(line, LedColour.GREEN)])
            self._result("LED 测试行", f"已显示“{line}”" if ok else led.health.message, ok=ok)
        finally:
            await led.stop()


#: Snapshot call of the families that have one.
_SNAPSHOT = {
    "dahua-itc": "/cgi-bin/snapshot.cgi?channel=1",
    "hikvision-isapi": "/ISAPI/Streaming/channels/101/picture",
}
_FAMILY_TEXT = {
    "dahua-itc": "大华 ITC",
    "vzenith-vz": "臻识 VZ",
    "generic-json": "通用 JSON/HTTP",
    "hikvision-isapi": "海康 ISAPI",
}


def _grab_frame(url: str) -> bytes | None:
    import cv2  # noqa: PLC0415 - only snapshots need OpenCV

    path = Path(url)
    if path.is_dir():
        pictures = sorted(p for p in path.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        return pictures[0].read_bytes() if pictures else None
    capture = cv2.VideoCapture(url)
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        return None
    ok, data = cv2.imencode(".jpg", frame)
    return bytes(data) if ok else None


def _save_with_roi(image: bytes, roi: tuple[int, int, int, int] | None, path: Path) -> Path:
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    frame = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError("相机返回的不是图片")
    if roi is not None:
        cv2.rectangle(frame, (roi[0], roi[1]), (roi[2], roi[3]), (0, 255, 0), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), frame):
        raise OSError(f"无法写入 {path}")
    return path


def _write(out: Path, original: Path, text: str) -> None:
    if out.exists() and out.resolve() == original.resolve():
        shutil.copy2(original, original.with_suffix(original.suffix + ".bak"))
    out.write_text(text, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecogate agent commission", description="车道调试：发现相机与串口设备、测试并保存配置"
    )
    p.add_argument("config", help="代理配置文件（TOML）")
    p.add_argument("--lane", help="要调试的车道标识（缺省为第一条）")
    p.add_argument("--segment", help="相机所在网段，如 192.168.1.0/24（缺省取车道推送地址或相机地址的 /24）")
    p.add_argument("--ports", help="探测的相机端口，逗号分隔（缺省 80,8080,8131）")
    p.add_argument("--camera", help="指定车道使用的相机 主机:端口（发现多台时）")
    p.add_argument("--camera-user", help="相机登录用户（大华）")
    p.add_argument("--camera-password", help="相机登录密码（大华）")
    p.add_argument("--serial", action="append", help="额外探测的串口：路径、通配符或 socket://主机:端口（可多次）")
    p.add_argument("--roi", help="识别区域 x1,y1,x2,y2（像素），写入相机配置")
    p.add_argument("--push-port", type=int, default=DEFAULT_PUSH_PORT, help="本机接收相机推送的端口（车道未设置时）")
    p.add_argument("--out", help="保存到此文件（缺省覆盖原文件，旧文件另存为 .bak）")
    p.add_argument("--snapshot-dir", help="相机画面保存目录（缺省 数据目录/commission）")
    p.add_argument("--no-barrier-test", action="store_true", help="不测试抬杆/落杆（车道上有车时）")
    p.add_argument("--timeout", type=float, default=0.5, help="相机端口连接超时（秒）")
    p.add_argument("--listen", type=float, default=1.5, help="每个串口先监听的秒数（识别地磅）")
    p.add_argument("--answer", type=float, default=0.5, help="等待显示屏应答的秒数（每种协议）")
    return p


async def _commission(args: argparse.Namespace, say: Say) -> int:
    path = Path(args.config)
    try:
        raw = tomllib.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        cfg = parse_config(raw)
        run = Commission(args, raw, cfg, say)
        camera, serials = await run.discover()
        new_raw = run.apply(camera, serials)
        text = dumps(new_raw)
        new_cfg = parse_config(tomllib.loads(text))  # exactly what check-config will read
    except ConfigError as exc:
        for error in exc.errors:
            print(f"配置错误：{error}", file=sys.stderr)  # noqa: T201
        return 2
    except (OSError, ValueError) as exc:
        print(f"调试失败：{exc}", file=sys.stderr)  # noqa: T201
        return 2
    await run.run_tests(new_cfg, camera)
    out = Path(args.out) if args.out else path
    await asyncio.to_thread(_write, out, path, text)
    failed = [name for name, ok, _ in run.results if not ok]
    say(f"配置已保存：{out}（可用 ecogate agent check-config {out} 复核）")
    if camera is not None:
        lane = next(lane for lane in new_cfg.lanes if lane.id == run.lane.id)
        say(
            f"请在相机网页中把识别结果推送地址设为 http://<本机车道网口地址>:{lane.source.push_port}"
            f"/camera-push/{lane.camera}"
        )
    say("全部测试通过" if not failed else f"未通过：{'、'.join(failed)}")
    return 0 if not failed else 1


def main(argv: list[str], say: Say = _say) -> int:
    """Run the commissioning; exit code as in the module docstring."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    return asyncio.run(_commission(args, say))
