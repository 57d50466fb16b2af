"""``python -m agent.devices.sim``: start a lane's device simulators and print where drivers find them.

The first stdout line is JSON (device → path or URL); then commands are read from stdin, one per
line (``help`` lists them). Runs until SIGINT/SIGTERM; end of stdin only stops command reading.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from agent.devices.scale_protocols import SCALE_PROTOCOLS
from agent.devices.sim.camera_relay import DahuaCameraSimulator, HikvisionCameraSimulator, VzenithCameraSimulator
from agent.devices.sim.endpoints import PtyEndpoint, TcpEndpoint
from agent.devices.sim.lane import LaneSimulators, Transport
from agent.devices.sim.led_families import FamilyScreenSimulator

if TYPE_CHECKING:
    from collections.abc import Sequence

HELP = """命令（每行一条）:
  truck KG            一辆车上磅、稳定、下磅，同时压地感 0
  weight KG           地磅显示固定重量
  garbage             在地磅数据流中插入乱码
  corrupt N           接下来 N 帧校验错误
  silent on|off       地磅停止/恢复发送
  vanish DEVICE       设备串口消失（weighbridge|barrier|led|loop）
  restore DEVICE      设备串口恢复
  loop CH on|off      地感通道有车/无车
  fault on|off        道闸控制器故障信号
  mute DEVICE on|off  设备不应答（barrier|led|loop）
  status              输出当前状态（JSON）
"""


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.devices.sim", description="启动道闸、地磅、LED、地感模拟器")
    parser.add_argument("--dir", type=Path, default=None, help="伪终端符号链接目录（默认新建临时目录）")
    parser.add_argument("--transport", choices=get_args(Transport), default="pty", help="pty 或 tcp（串口服务器）")
    parser.add_argument("--weighbridge", choices=(*SCALE_PROTOCOLS, "none"), default="xk3190_a9", help="地磅协议")
    parser.add_argument("--no-barrier", action="store_true", help="不启动 Modbus 道闸继电器板")
    parser.add_argument("--no-led", action="store_true", help="不启动 LED 显示屏")
    parser.add_argument("--loops", type=int, default=2, help="地感通道数（0 = 不启动）")
    parser.add_argument("--anpr-http", action="store_true", help="同时启动 HTTP 相机道闸模拟器")
    parser.add_argument("--barrier-travel", type=float, default=1.0, help="道闸动作时间（秒）")
    parser.add_argument("--truck-every", type=float, default=0.0, help="每隔 N 秒自动来一辆车（0 = 关闭）")
    parser.add_argument(
        "--camera", choices=("hikvision", "dahua", "vzenith"), default=None, help="同时启动经相机控制道闸的相机模拟器"
    )
    parser.add_argument("--screen", choices=("bx", "lingxin"), default=None, help="同时启动仰邦 BX 或灵信协议显示屏")
    parser.add_argument("--ports-file", type=Path, default=None, help="把端口 JSON 另存到此文件")
    return parser.parse_args(argv)


def _status(lane: LaneSimulators) -> dict[str, object]:
    out: dict[str, object] = {}
    if lane.weighbridge is not None:
        out["weight_kg"] = round(lane.weighbridge.weight_kg)
    if lane.barrier is not None:
        out["barrier"] = "open" if lane.barrier.is_open else "closed" if lane.barrier.is_closed else "moving"
    if lane.led is not None:
        out["led"] = list(lane.led.current.texts)
    if lane.loop is not None:
        out["loops"] = lane.loop.slave.discrete_inputs
    if lane.anpr_http is not None:
        out["anpr_barrier"] = str(lane.anpr_http.state)
    return out


async def _command(lane: LaneSimulators, line: str) -> str:  # noqa: C901, PLR0911, PLR0912 - a flat command table
    words = line.split()
    if not words:
        return ""
    cmd, args = words[0].lower(), words[1:]
    wb, devices = lane.weighbridge, {"weighbridge": lane.weighbridge, "barrier": lane.barrier, "led": lane.led}
    devices_all: dict[str, object] = {**devices, "loop": lane.loop}
    try:
        if cmd == "help":
            return HELP
        if cmd == "status":
            return json.dumps(_status(lane), ensure_ascii=False)
        if cmd == "truck" and args:
            lane.truck_passes(float(args[0]))
        elif cmd == "weight" and wb is not None and args:
            wb.set_weight(float(args[0]))
        elif cmd == "garbage" and wb is not None:
            wb.inject_garbage(b"\x02\xff\x00garbage\x03\r\n")
        elif cmd == "corrupt" and wb is not None:
            wb.corrupt_next(int(args[0]) if args else 1)
        elif cmd == "silent" and wb is not None and args:
            wb.silence(args[0] == "on")
        elif cmd in {"vanish", "restore"} and args and devices_all.get(args[0]) is not None:
            sim = devices_all[args[0]]
            await getattr(sim, cmd)()
        elif cmd == "loop" and lane.loop is not None and len(args) == 2:
            lane.loop.set_present(int(args[0]), args[1] == "on")
        elif cmd == "fault" and lane.barrier is not None and args:
            lane.barrier.set_fault(args[0] == "on")
        elif cmd == "mute" and len(args) == 2:
            target = {"barrier": lane.barrier, "led": lane.led, "loop": lane.loop}.get(args[0])
            if target is None:
                return f"未知设备: {args[0]}"
            if hasattr(target, "set_responding"):
                target.set_responding(args[1] != "on")
            else:
                target.respond = args[1] != "on"
        else:
            return f"无法执行: {line.strip()}（输入 help 查看命令）"
    except (ValueError, IndexError) as exc:
        return f"参数错误: {exc}"
    return "ok"


class _Extras:
    """The issue-23 simulators started beside the lane (a camera that drives the barrier, a family screen)."""

    def __init__(self) -> None:
        self.camera: DahuaCameraSimulator | VzenithCameraSimulator | None = None
        self.screen: FamilyScreenSimulator | None = None
        self.urls: dict[str, str] = {}

    async def start(self, args: argparse.Namespace, directory: Path) -> None:
        if args.camera == "vzenith":
            vz = VzenithCameraSimulator(travel_s=args.barrier_travel)
            await vz.start()
            self.camera, self.urls["camera_vzenith"] = vz, f"tcp://127.0.0.1:{vz.port}"
        elif args.camera is not None:
            kind = HikvisionCameraSimulator if args.camera == "hikvision" else DahuaCameraSimulator
            http = kind(travel_s=args.barrier_travel)
            await http.start()
            self.camera, self.urls[f"camera_{args.camera}"] = http, http.base_url
        if args.screen is not None:
            endpoint = PtyEndpoint(directory / "screen") if args.transport == "pty" else TcpEndpoint()
            self.screen = FamilyScreenSimulator(args.screen, endpoint)
            await self.screen.start()
            self.urls[f"screen_{args.screen}"] = self.screen.url

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.camera is not None:
            out["camera_barrier"] = str(self.camera.arm.state)
        if self.screen is not None:
            out["screen"] = list(self.screen.current.texts)
            out["screen_spoken"] = self.screen.spoken[-1:]
        return out

    async def stop(self) -> None:
        for sim in (self.camera, self.screen):
            if sim is not None:
                await sim.stop()


async def _read_commands(lane: LaneSimulators, extras: _Extras | None = None) -> None:
    # stdin is read by a daemon thread: a blocked readline must never keep the process from exiting
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def _pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    threading.Thread(target=_pump, name="sim-stdin", daemon=True).start()
    while line := await lines.get():
        reply = await _command(lane, line)
        if extras is not None and line.strip() == "status":
            reply = json.dumps({**json.loads(reply), **extras.status()}, ensure_ascii=False)
        if reply:
            print(reply, flush=True)  # noqa: T201 - the CLI's output


async def _main(args: argparse.Namespace) -> int:
    directory = args.dir or Path(tempfile.mkdtemp(prefix="ecogate-sim-"))
    lane = await LaneSimulators.start(
        directory,
        transport=args.transport,
        weighbridge=None if args.weighbridge == "none" else args.weighbridge,
        barrier=not args.no_barrier,
        led=not args.no_led,
        loop_channels=max(args.loops, 0),
        anpr_http=args.anpr_http,
        barrier_travel_s=args.barrier_travel,
    )
    extras = _Extras()
    await extras.start(args, directory)
    urls = {**lane.urls, **extras.urls}
    ports = json.dumps(urls, ensure_ascii=False)
    if args.ports_file is not None:
        args.ports_file.write_text(ports + "\n", encoding="utf-8")
    print(ports, flush=True)  # noqa: T201 - the CLI's output
    for device, url in urls.items():
        print(f"{device:<12} {url}", file=sys.stderr, flush=True)  # noqa: T201
    if args.truck_every > 0:
        lane.auto_trucks(args.truck_every)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.create_task(_read_commands(lane, extras))
    await stop.wait()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await lane.stop()
    await extras.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(_main(_parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
