"""``ecogate agent commission`` (issue 23) against the simulators: cameras found on the segment over real
TCP, a weighbridge and two screens on real ptys / a TCP serial server; the lane's barrier tested through
the camera with confirmation, the weighbridge read, a test line on the screen, a snapshot with the ROI,
and a saved config that ``check-config`` accepts."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from agent.cli import main as agent_main
from agent.devices.sim.anpr_http import AnprHttpBarrierSimulator
from agent.devices.sim.camera_relay import DahuaCameraSimulator, HikvisionCameraSimulator, VzenithCameraSimulator
from agent.devices.sim.endpoints import PtyEndpoint, TcpEndpoint
from agent.devices.sim.led_families import FamilyScreenSimulator
from agent.devices.sim.weighbridge import WeighbridgeSimulator
from agent.runtime import cli_check

pytestmark = pytest.mark.anyio

START = """\
[agent]
id = "agent-commission"
data_dir = "{data}"

[site]
id = "site-1"
name = "青山厂区"

[booth]
enabled = false

[[cameras]]
id = "in-1-cam"
url = "http://127.0.0.1:1"

[[lanes]]
id = "in-1"
name = "1号门入口"
direction = "in"
camera = "in-1-cam"

[lanes.source]
type = "camera_push"
push_host = "127.0.0.1"
push_port = 8099
"""


async def test_commission_finds_tests_and_saves_a_lane(tmp_path: Path) -> None:
    dahua = DahuaCameraSimulator(password="pw", travel_s=0.1, hold_s=3.0)
    vz = VzenithCameraSimulator()
    generic = AnprHttpBarrierSimulator()
    hik = HikvisionCameraSimulator(password="other")
    scale = WeighbridgeSimulator(PtyEndpoint(tmp_path / "ttyScale"), "xk3190_a9", interval_s=0.1)
    bx = FamilyScreenSimulator("bx", PtyEndpoint(tmp_path / "ttyLed"))
    lingxin = FamilyScreenSimulator("lingxin", TcpEndpoint())
    sims = (dahua, vz, generic, hik, scale, bx, lingxin)
    for sim in sims:
        await sim.start()
    scale.set_weight(15_230)
    config = tmp_path / "agent.toml"
    config.write_text(START.format(data=tmp_path / "data"), encoding="utf-8")
    out = tmp_path / "commissioned.toml"
    said: list[str] = []
    argv = [
        "commission",
        str(config),
        "--segment",
        "127.0.0.1/32",
        "--ports",
        f"{dahua.port},{vz.port},{generic.port},{hik.port}",
        "--camera",
        f"127.0.0.1:{dahua.port}",
        "--camera-user",
        "admin",
        "--camera-password",
        "pw",
        "--serial",
        str(tmp_path / "ttyScale"),
        "--serial",
        str(tmp_path / "ttyLed"),
        "--serial",
        lingxin.url,
        "--roi",
        "100,150,540,330",
        "--out",
        str(out),
        "--listen",
        "1.0",
        "--answer",
        "1.5",  # a loaded machine: an answer ends the wait at once anyway
    ]
    try:
        from agent.commission import cli  # noqa: PLC0415 - the subcommand's own entry with a printer

        assert agent_main(["--help"]) == 0
        code = await asyncio.to_thread(cli.main, argv[1:], said.append)
        text = "\n".join(said)
        assert code == 0, text
        assert "大华 ITC" in text
        assert "臻识 VZ" in text
        assert "通用 JSON/HTTP" in text
        assert "海康 ISAPI" in text
        assert "地磅仪表 xk3190_a9，当前 15230 kg" in text
        assert "灵信协议显示屏" in text
        assert "[通过] 抬杆" in text
        assert "[通过] 落杆" in text
        assert "[通过] 地磅读数：15230 kg" in text
        assert "[通过] LED 测试行" in text
        assert dahua.commands == ["openStrobe", "closeStrobe"]
        assert bx.current.texts[0] == "1号门入口"
        assert bx.current.texts[1].startswith("调试 ")
        saved = tomllib.loads(out.read_text(encoding="utf-8"))
        lane = saved["lanes"][0]
        assert (lane["camera"], lane["barrier"], lane["weighbridge"], lane["led"]) == (
            "in-1-cam",
            "in-1-barrier",
            "in-1-scale",
            "in-1-led",
        )
        assert saved["cameras"] == [
            {
                "id": "in-1-cam",
                "url": f"http://127.0.0.1:{dahua.port}",
                "push_format": "dahua-itc",
                "roi": [100, 150, 540, 330],
            }
        ]
        assert saved["devices"]["barriers"][0]["type"] == "dahua_itc"
        assert saved["devices"]["leds"][0]["type"] == "bx_led"
        snapshot = tmp_path / "data" / "commission" / "in-1-snapshot.jpg"
        assert snapshot.read_bytes()[:2] == b"\xff\xd8"
        # the saved file passes check-config, probes included (ports open, camera reachable)
        assert await asyncio.to_thread(cli_check.main, [str(out)]) == 0
    finally:
        for sim in sims:
            await sim.stop()


async def test_commission_reports_an_unconfirmed_barrier(tmp_path: Path) -> None:
    dahua = DahuaCameraSimulator(travel_s=0.05)
    await dahua.start()
    dahua.stuck_relay = True
    config = tmp_path / "agent.toml"
    config.write_text(START.format(data=tmp_path / "data"), encoding="utf-8")
    said: list[str] = []
    from agent.commission import cli  # noqa: PLC0415

    try:
        argv = [str(config), "--segment", "127.0.0.1", "--ports", str(dahua.port)]
        code = await asyncio.to_thread(cli.main, argv, said.append)
    finally:
        await dahua.stop()
    assert code == 1
    assert any(line.startswith("  [失败] 抬杆") for line in said)
    assert (tmp_path / "agent.toml.bak").exists()  # the file itself was rewritten, the old one kept
    assert "dahua_itc" in config.read_text(encoding="utf-8")


async def test_commission_with_a_vzenith_camera_and_its_rs485_screen_left_alone(tmp_path: Path) -> None:
    vz = VzenithCameraSimulator(travel_s=0.05)
    await vz.start()
    config = tmp_path / "agent.toml"
    config.write_text(START.format(data=tmp_path / "data"), encoding="utf-8")
    said: list[str] = []
    from agent.commission import cli  # noqa: PLC0415

    try:
        argv = [str(config), "--segment", "127.0.0.1", "--ports", str(vz.port), "--out", str(tmp_path / "o.toml")]
        code = await asyncio.to_thread(cli.main, argv, said.append)
    finally:
        await vz.stop()
    assert code == 0, "\n".join(said)
    assert "  [通过] 落杆：未配置落杆输出（close_io），由道闸控制器自动落杆" in said
    assert any("该相机型号不提供抓图接口" in line for line in said)
    saved = tomllib.loads((tmp_path / "o.toml").read_text(encoding="utf-8"))
    assert saved["devices"]["barriers"][0] == {
        "type": "vzenith_vz",
        "name": "in-1-barrier",
        "host": "127.0.0.1",
        "port": vz.port,
    }
    assert saved["cameras"][0]["url"] == f"tcp://127.0.0.1:{vz.port}"
