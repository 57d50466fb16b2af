"""Camera simulators that drive a barrier through their relay output (issue 23), over real TCP.

* :class:`DahuaCameraSimulator` — the Dahua ITC HTTP CGI subset of :mod:`agent.devices.camera_barrier`
  (digest auth when a password is set), plus ``snapshot.cgi`` and ``magicBox.cgi?action=getDeviceType``
  (commissioning probes them).
* :class:`VzenithCameraSimulator` — the 臻识 VZ TCP control protocol of :mod:`agent.devices.vz_link`:
  ``ioctl``, ``get_gpio_value``, ``getsn`` and ``ttransmission`` (bytes for the camera's RS-485
  screen, handed to ``on_rs485``, e.g. an LED simulator's decoder).

Both move a simulated arm: the relay pulse (``hold_s``) raises it after ``travel_s``; alarm input 0 is
the open limit switch, input 1 the closed one. ``fail`` refuses commands, ``stuck_relay`` answers but
never energises the output (Dahua read-back then fails), ``hang`` never answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from agent.devices.types import BarrierState
from agent.devices.vz_link import TYPE_KEEPALIVE, VzError, encode_vz_frame, read_vz_frame


def scene_jpeg(width: int = 640, height: int = 360) -> bytes:
    """A grey test scene with a dark "plate" block, as the camera's snapshot."""
    import cv2  # noqa: PLC0415 - only the snapshot needs OpenCV
    import numpy as np  # noqa: PLC0415

    image = np.full((height, width, 3), 128, np.uint8)
    cv2.rectangle(image, (width // 2 - 60, height // 2), (width // 2 + 60, height // 2 + 30), (40, 40, 40), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data)


class _Arm:
    """The barrier arm behind the camera's relay."""

    def __init__(self, travel_s: float, hold_s: float) -> None:
        self.travel_s = travel_s
        self.hold_s = hold_s
        self.state = BarrierState.CLOSED
        self.relay_on = False
        self.opens = 0
        self.closes = 0
        self._task: asyncio.Task[None] | None = None

    def pulse(self, *, opening: bool, hold_s: float | None = None, energise: bool = True) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._run(opening, hold_s or self.hold_s, energise))

    async def _run(self, opening: bool, hold_s: float, energise: bool) -> None:
        target = BarrierState.OPEN if opening else BarrierState.CLOSED
        self.relay_on = energise
        try:
            if not energise:
                return
            if opening:
                self.opens += 1
            else:
                self.closes += 1
            if self.state != target:
                self.state = BarrierState.MOVING
                await asyncio.sleep(self.travel_s)
                self.state = target
            await asyncio.sleep(max(0.0, hold_s - self.travel_s))
        finally:
            self.relay_on = False

    @property
    def inputs(self) -> int:
        """Alarm input mask: bit 0 open limit switch, bit 1 closed limit switch."""
        return (1 if self.state == BarrierState.OPEN else 0) | (2 if self.state == BarrierState.CLOSED else 0)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class DahuaCameraSimulator:
    """Loopback HTTP server speaking the Dahua ITC CGI subset (see module docstring)."""

    realm = "Login to SIMDAHUA"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        password: str | None = None,
        travel_s: float = 0.3,
        hold_s: float = 1.5,
        snapshot: bytes | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.arm = _Arm(travel_s, hold_s)
        self.snapshot = snapshot if snapshot is not None else scene_jpeg()
        self.fail = False
        self.stuck_relay = False
        self.hang = False
        self.commands: list[str] = []
        self.auth_failures = 0
        self._nonces: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    @property
    def base_url(self) -> str:
        """What the driver is configured with."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on loopback (a free port unless one was given)."""
        self._released = asyncio.Event()
        app = web.Application()
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        if server is not None and self.port == 0:
            self.port = (getattr(server, "sockets", None) or [])[0].getsockname()[1]

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/cgi-bin/trafficSnap.cgi", self._traffic)
        app.router.add_get("/cgi-bin/alarm.cgi", self._alarm)
        app.router.add_get("/cgi-bin/snapshot.cgi", self._snapshot)
        app.router.add_get("/cgi-bin/magicBox.cgi", self._magic)

    async def stop(self) -> None:
        """Stop serving."""
        self._released.set()
        self.arm.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorised(self, request: web.Request) -> bool:
        if self.password is None:
            return True
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        fields: dict[str, str] = {}
        for part in header[7:].split(","):
            key, _, value = part.strip().partition("=")
            fields[key] = value.strip('"')
        if fields.get("username") != self.username or fields.get("nonce") not in self._nonces:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = md5(f"{request.method}:{fields.get('uri', '')}")
        nonce, nc, cnonce, qop = (fields.get(k, "") for k in ("nonce", "nc", "cnonce", "qop"))
        expected = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}") if qop else md5(f"{ha1}:{nonce}:{ha2}")
        return secrets.compare_digest(expected, fields.get("response", ""))

    async def _gate(self, request: web.Request) -> web.Response | None:
        if self.hang:
            await self._released.wait()
        if not self._authorised(request):
            self.auth_failures += 1
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            challenge = f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", opaque="{secrets.token_hex(8)}"'
            return web.Response(status=401, text="Error\r\nUnauthorized\r\n", headers={"WWW-Authenticate": challenge})
        if self.fail:
            return web.Response(status=500, text="Error\r\nInternal Error\r\n")
        return None

    async def _traffic(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        action = request.query.get("action")
        if action not in {"openStrobe", "closeStrobe"}:
            return web.Response(status=400, text="Error\r\nBad Request!\r\n")
        self.commands.append(action)
        self.arm.pulse(opening=action == "openStrobe", energise=not self.stuck_relay)
        return web.Response(text="OK\r\n")

    async def _alarm(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        action = request.query.get("action")
        if action == "getOutState":
            return web.Response(text=f"result={1 if self.arm.relay_on else 0}\r\n")
        if action == "getInState":
            return web.Response(text=f"result={self.arm.inputs}\r\n")
        return web.Response(status=400, text="Error\r\nBad Request!\r\n")

    async def _snapshot(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        return refused or web.Response(body=self.snapshot, content_type="image/jpeg")

    async def _magic(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        if request.query.get("action") == "getDeviceType":
            return web.Response(text="type=ITC237-PW6M-IRLZF\r\n")
        return web.Response(status=400, text="Error\r\nBad Request!\r\n")


_ISAPI_OK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
    "<requestURL>{url}</requestURL><statusCode>1</statusCode><statusString>OK</statusString>"
    "<subStatusCode>ok</subStatusCode></ResponseStatus>"
)
_ISAPI_IO = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<IOPortStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
    "<ioPortID>{id}</ioPortID><ioPortType>{kind}</ioPortType><ioState>{state}</ioState></IOPortStatus>"
)


class HikvisionCameraSimulator(DahuaCameraSimulator):
    """The Hikvision ISAPI subset of :class:`agent.devices.camera_barrier.HikvisionIsapiBarrier`: ``PUT
    /ISAPI/Parking/channels/1/barrierGate`` (``ctrlMode`` open/close), IO port status (output 1 = the
    barrier relay, input 1 / 2 = open / closed limit switch), ``/ISAPI/System/deviceInfo``, a snapshot."""

    realm = "IP Camera(SIMHIK)"

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_put("/ISAPI/Parking/channels/{channel}/barrierGate", self._barrier_gate)
        app.router.add_get("/ISAPI/System/IO/outputs/{port}/status", self._io)
        app.router.add_get("/ISAPI/System/IO/inputs/{port}/status", self._io)
        app.router.add_get("/ISAPI/System/deviceInfo", self._device_info)
        app.router.add_get("/ISAPI/Streaming/channels/101/picture", self._snapshot)

    async def _barrier_gate(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        body = (await request.read())[:4096].decode("utf-8", errors="replace")
        match = re.search(r"<ctrlMode>\s*(\w+)\s*</ctrlMode>", body)
        if match is None or match.group(1) not in {"open", "close"}:
            return web.Response(status=400, text="<ResponseStatus><statusCode>4</statusCode></ResponseStatus>")
        self.commands.append(match.group(1))
        self.arm.pulse(opening=match.group(1) == "open", energise=not self.stuck_relay)
        return web.Response(text=_ISAPI_OK.format(url=request.path), content_type="application/xml")

    async def _io(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        port = int(request.match_info["port"])
        if "/outputs/" in request.path:
            active, kind = port == 1 and self.arm.relay_on, "output"
        else:
            active, kind = bool((self.arm.inputs >> (port - 1)) & 1), "input"
        text = _ISAPI_IO.format(id=port, kind=kind, state="active" if active else "inactive")
        return web.Response(text=text, content_type="application/xml")

    async def _device_info(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        text = '<?xml version="1.0"?><DeviceInfo><deviceName>SIM</deviceName><model>iDS-TCM403-BI</model></DeviceInfo>'
        return web.Response(text=text, content_type="application/xml")


class VzenithCameraSimulator:
    """Loopback TCP server speaking the VZ control protocol subset (see module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        travel_s: float = 0.3,
        serial_no: str = "e2f3a4b5-7c8d9e0f",
        on_rs485: Callable[[bytes], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.serial_no = serial_no
        self.arm = _Arm(travel_s, 0.5)
        self.on_rs485 = on_rs485
        self.rs485: list[bytes] = []
        self.fail = False
        self.hang = False
        self.commands: list[dict[str, Any]] = []
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on loopback."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving and drop every connection."""
        self.arm.stop()
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while True:
                kind, sn, body = await read_vz_frame(reader)
                if kind == TYPE_KEEPALIVE:
                    writer.write(encode_vz_frame(None, sn=sn, kind=TYPE_KEEPALIVE))
                    continue
                if body is None or self.hang:
                    continue
                writer.write(encode_vz_frame(self._answer(body), sn=sn))
                await writer.drain()
        except (VzError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0911 - one answer per command
        cmd = str(body.get("cmd", ""))
        self.commands.append(body)
        if self.fail:
            return {"cmd": cmd, "state_code": 500}
        if cmd == "ioctl" and body.get("value") == 2 and isinstance(body.get("io"), int):
            hold_s = max(float(body.get("delay", 500)) / 1000, self.arm.travel_s)
            self.arm.pulse(opening=body["io"] == 0, hold_s=hold_s)
            return {"cmd": cmd, "state_code": 200}
        if cmd == "get_gpio_value" and isinstance(body.get("gpio"), int):
            return {"cmd": cmd, "state_code": 200, "gpio": body["gpio"], "value": (self.arm.inputs >> body["gpio"]) & 1}
        if cmd == "getsn":
            return {"cmd": cmd, "state_code": 200, "value": self.serial_no}
        if cmd == "ttransmission" and body.get("subcmd") == "send":
            try:
                data = base64.b64decode(str(body.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                return {"cmd": cmd, "state_code": 400}
            if len(data) != body.get("datalen"):
                return {"cmd": cmd, "state_code": 400}
            self.rs485.append(data)
            if self.on_rs485 is not None:
                self.on_rs485(data)
            return {"cmd": cmd, "state_code": 200}
        return {"cmd": cmd, "state_code": 400}
