"""Discovery for commissioning (issue 23): cameras on the lane's LAN segment, devices on serial ports.

Cameras: every host of the segment is tried on the given TCP ports; a port that accepts is
identified by what it answers — the 臻识 VZ control protocol (``getsn``), the Dahua CGI
(``magicBox.cgi?action=getDeviceType``, also recognised by its digest realm when the password is
not known yet), the generic HTTP barrier profile (``GET /api/barrier``), or Hikvision ISAPI
(``/ISAPI/System/deviceInfo``, push only).

Serial ports (device paths, globs, ``socket://`` serial servers): listened to first (a weighbridge
indicator sends continuously: the frame format that decodes names the protocol), then asked the
way each screen family answers (EG-LED/1, BX, 灵信). Probing writes short frames to ports nobody
claimed; it is meant for the installer's session, not for a running lane.
"""

from __future__ import annotations

import asyncio
import glob
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from serial.tools import list_ports

from agent.devices import led_protocols as lp
from agent.devices.led import LedFrame, LedFrameDecoder, encode_led_frame
from agent.devices.scale_protocols import ScaleProtocol, make_parser
from agent.devices.serial_link import LinkError, SerialLink
from agent.devices.vz_link import VzError, VzLink

#: Camera family → barrier driver type through that camera (None: the family has no barrier driver).
BARRIER_TYPE: dict[str, str | None] = {
    "dahua-itc": "dahua_itc",
    "vzenith-vz": "vzenith_vz",
    "generic-json": "http_anpr",
    "hikvision-isapi": "hikvision_isapi",
}
DEFAULT_CAMERA_PORTS = (80, 8080, 8131)


@dataclass(frozen=True, slots=True)
class CameraFound:
    """A camera that answered."""

    family: str
    host: str
    port: int
    detail: str = ""
    needs_login: bool = False

    @property
    def base_url(self) -> str:
        """HTTP base URL (or ``tcp://`` for the VZ control port)."""
        scheme = "tcp" if self.family == "vzenith-vz" else "http"
        return f"{scheme}://{self.host}:{self.port}"


@dataclass(slots=True)
class SerialFound:
    """What a serial port turned out to be: ``kind`` weighbridge / led / unknown, ``type`` the driver."""

    port: str
    kind: str = "unknown"
    type: str = ""
    detail: str = ""
    kg: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


def segment_hosts(segment: str, *, limit: int = 1024) -> list[str]:
    """The host addresses of ``segment`` (CIDR or one address); at most ``limit``."""
    net = ipaddress.ip_network(segment, strict=False)
    hosts = [str(net.network_address)] if net.num_addresses == 1 else [str(h) for h in net.hosts()]
    if len(hosts) > limit:
        raise ValueError(f"网段 {segment} 太大（{len(hosts)} 个地址，上限 {limit}）：请指定车道所在的 /24 网段")
    return hosts


async def _open(host: str, port: int, timeout_s: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def identify_camera(  # noqa: PLR0911 - one answer per family
    host: str, port: int, *, timeout_s: float = 1.0, auth: tuple[str, str] | None = None
) -> CameraFound | None:
    """What answers on ``host:port`` (None: nothing we know)."""
    link = VzLink(host, port, timeout_s=timeout_s)
    try:
        answer = await link.request({"cmd": "getsn"})
        return CameraFound("vzenith-vz", host, port, detail=f"序列号 {answer.get('value', '?')}")
    except VzError:
        pass
    finally:
        link.close()
    base = f"http://{host}:{port}"
    middlewares = (aiohttp.DigestAuthMiddleware(*auth),) if auth else ()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s), middlewares=middlewares) as http:
        probes = (
            ("dahua-itc", "/cgi-bin/magicBox.cgi?action=getDeviceType"),
            ("generic-json", "/api/barrier"),
            ("hikvision-isapi", "/ISAPI/System/deviceInfo"),
        )
        for family, path in probes:
            try:
                async with http.get(base + path) as resp:
                    text = (await resp.read())[:2048].decode("utf-8", errors="replace")
                    challenge = resp.headers.get("WWW-Authenticate", "")
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return None  # not HTTP either
            if family == "dahua-itc" and resp.status == 200 and text.startswith("type="):
                return CameraFound(family, host, port, detail=text.strip().removeprefix("type="))
            if family == "dahua-itc" and resp.status == 401 and "Login to" in challenge:
                return CameraFound(
                    family, host, port, detail="需要登录（--camera-user/--camera-password）", needs_login=True
                )
            if family == "generic-json" and resp.status == 200 and '"state"' in text:
                return CameraFound(family, host, port, detail="通用 HTTP 道闸接口")
            if family == "hikvision-isapi" and (
                (resp.status == 200 and "<DeviceInfo" in text) or (resp.status == 401 and challenge)
            ):
                return CameraFound(family, host, port, detail="海康 ISAPI")
    return None


async def discover_cameras(
    hosts: list[str],
    ports: tuple[int, ...] = DEFAULT_CAMERA_PORTS,
    *,
    timeout_s: float = 0.5,
    auth: tuple[str, str] | None = None,
    concurrency: int = 128,
) -> list[CameraFound]:
    """Every camera that answers on ``hosts`` × ``ports``, in address order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(host: str, port: int) -> CameraFound | None:
        async with gate:
            if not await _open(host, port, timeout_s):
                return None
            return await identify_camera(host, port, timeout_s=max(timeout_s, 1.0), auth=auth)

    found = await asyncio.gather(*(one(h, p) for h in hosts for p in ports))
    return [f for f in found if f is not None]


def serial_candidates(patterns: list[str]) -> list[str]:
    """The machine's serial ports plus the given paths, globs and ``socket://`` URLs (deduplicated)."""
    ports = [p.device for p in list_ports.comports()]
    for pattern in patterns:
        if pattern.startswith("socket://"):
            ports.append(pattern)
        else:
            matches = sorted(glob.glob(pattern))  # noqa: PTH207 - absolute patterns from the command line
            ports.extend(matches or [pattern])
    return list(dict.fromkeys(ports))


async def _listen(link: SerialLink, seconds: float, done: Callable[[bytes], bool] | None = None) -> bytes:
    """Bytes heard for ``seconds`` (or until ``done`` says what was heard is enough)."""
    data = bytearray()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        data += await link.read()
        if done is not None and done(bytes(data)):
            break
    return bytes(data)


async def _ask(link: SerialLink, frame: bytes, seconds: float, done: Callable[[bytes], bool]) -> bytes:
    await link.reset_input()
    await link.write(frame)
    return await _listen(link, seconds, done)


def _eg_answer(data: bytes) -> bool:
    return any(f.command == "A" for f in LedFrameDecoder().feed(data))


def _bx_answer(data: bytes) -> int | None:
    return next((src for _dst, src, body in lp.BxDecoder().feed(data) if body[:2] == b"\xa0\x01"), None)


def _lx_answer(data: bytes) -> bool:
    return bool(lp.LxDecoder().feed(data))


async def probe_serial(port: str, *, listen_s: float = 1.5, answer_s: float = 0.5) -> SerialFound:
    """Identify the device on ``port`` (see module docstring); an answer ends each wait at once."""
    found = SerialFound(port)
    link = SerialLink(port, None, read_timeout=0.05, name="commission")
    try:
        await link.open()
        heard = await _listen(link, listen_s)
        protocols: tuple[ScaleProtocol, ...] = ("xk3190_a9", "xk3190_a12", "toledo")
        for protocol in protocols:
            frames = make_parser(protocol).feed(heard)
            if len(frames) >= 2:
                found.kind, found.type, found.kg = "weighbridge", protocol, frames[-1].kg
                found.detail = f"地磅仪表 {protocol}，当前 {frames[-1].kg:g} kg"
                return found
        if _eg_answer(await _ask(link, encode_led_frame(LedFrame(1, "P")), answer_s, _eg_answer)):
            found.kind, found.type, found.detail = "led", "serial_led", "EG-LED/1 显示屏（地址 1）"
            return found
        ping = lp.bx_frame(0xFFFE, b"\xa1\x00\x01\x00\x00")
        src = _bx_answer(await _ask(link, ping, answer_s, lambda data: _bx_answer(data) is not None))
        if src is not None:
            found.kind, found.type, found.detail = "led", "bx_led", f"仰邦 BX 控制器（地址 {src}）"
            found.extra = {"address": src}
            return found
        for address in (0, 1):
            if _lx_answer(await _ask(link, lp.lx_frame(address, lp.LX_PING), answer_s, _lx_answer)):
                found.kind, found.type, found.detail = "led", "lingxin_led", f"灵信协议显示屏（地址 {address}）"
                found.extra = {"address": address}
                return found
        found.detail = "有数据或无应答，未识别" if heard else "无数据、无应答"
    except LinkError as exc:
        found.detail = f"无法打开：{exc}"
    finally:
        await link.shutdown()
    return found
