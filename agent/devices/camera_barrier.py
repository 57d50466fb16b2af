"""Barrier control through the ANPR camera's own relay output, per camera family (issue 23).

Same confirmation rules as the Modbus relay (:mod:`agent.devices.barrier`): a command is
``confirmed`` only when the camera answered that it took it **and**, where the family can report
it, the relay output reads back energised; with ``confirm_position_s > 0`` the open limit switch
(wired to one of the camera's alarm inputs) must also report the arm up. Unconfirmed commands are
retried ``retries`` times, then the status is a fault ("抬杆指令未送达").

Families (sources and assumptions in docs/devices.md, "Barrier through the camera"):

* ``dahua_itc`` — Dahua ITC/ITSE HTTP API (CGI, HTTP digest auth):
  ``GET /cgi-bin/trafficSnap.cgi?action=openStrobe&channel=1&info.openType=Normal`` → ``OK``;
  ``action=closeStrobe`` to lower; relay read-back ``GET /cgi-bin/alarm.cgi?action=getOutState`` →
  ``result=<bit mask of alarm outputs>``; limit switches ``action=getInState`` → ``result=<mask>``.
* ``vzenith_vz`` — 臻识 VZ TCP control protocol (:mod:`agent.devices.vz_link`): ``ioctl`` pulses the
  relay, the answer ``state_code: 200`` is the confirmation (the protocol has no output read-back);
  ``get_gpio_value`` reads a limit switch.
* ``hikvision_isapi`` — Hikvision ISAPI (digest auth): ``PUT /ISAPI/Parking/channels/1/barrierGate`` with
  ``<BarrierGate><ctrlMode>open|close</ctrlMode></BarrierGate>`` → ``ResponseStatus`` ``statusCode`` 1;
  relay read-back ``GET /ISAPI/System/IO/outputs/<n>/status`` → ``ioState`` ``active``; limit switches
  ``/ISAPI/System/IO/inputs/<n>/status`` (IO ports count from 1).
* the generic profile is :class:`agent.devices.barrier.HttpAnprBarrier` (``http_anpr``).

Without a limit switch wired, the camera cannot tell where the arm is: the state is the last
*confirmed* command (``unknown`` after a restart, so a crash-recovered open is never assumed done).
"""

from __future__ import annotations

import re

import aiohttp

from agent.devices.barrier import Action, BarrierError, HttpClient, _PolledBarrier
from agent.devices.types import BarrierState
from agent.devices.vz_link import DEFAULT_PORT, VzError, VzLink


class _CameraRelayBarrier(_PolledBarrier):
    """Position from limit-switch inputs when wired, else the last confirmed command."""

    def __init__(
        self,
        *,
        name: str,
        open_input: int | None,
        closed_input: int | None,
        poll_s: float,
        travel_timeout_s: float,
        retries: int,
        confirm_position_s: float,
    ) -> None:
        super().__init__(
            name=name,
            poll_s=poll_s,
            travel_timeout_s=travel_timeout_s,
            retries=retries,
            confirm_position_s=confirm_position_s,
        )
        self.open_input = open_input
        self.closed_input = closed_input
        self._commanded = BarrierState.UNKNOWN

    async def _send(self, action: Action) -> None:
        await self._command_camera(action)
        self._commanded = BarrierState.OPEN if action == "open" else BarrierState.CLOSED

    async def _read(self) -> tuple[BarrierState, bool]:
        if self.open_input is None and self.closed_input is None:
            await self._ping()  # the camera must still answer: no answer is a fault
            return self._commanded, False
        is_open = await self._input(self.open_input) if self.open_input is not None else False
        is_closed = await self._input(self.closed_input) if self.closed_input is not None else False
        if is_open and is_closed:
            return BarrierState.UNKNOWN, True
        if is_open:
            return BarrierState.OPEN, False
        if is_closed:
            return BarrierState.CLOSED, False
        if self.open_input is None or self.closed_input is None:
            # one switch only: "not open" is closed (open switch) / "not closed" is open (closed switch)
            return (BarrierState.CLOSED if self.open_input is not None else BarrierState.OPEN), False
        return BarrierState.MOVING, False

    async def _command_camera(self, action: Action) -> None:
        raise NotImplementedError

    async def _input(self, index: int) -> bool:
        raise NotImplementedError

    async def _ping(self) -> None:
        raise NotImplementedError


class DahuaItcBarrier(_CameraRelayBarrier):
    """A Dahua ITC/ITSE camera's strobe (barrier) output over its HTTP CGI API."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "barrier",
        username: str | None = None,
        password: str | None = None,
        channel: int = 1,
        relay_output: int | None = 0,
        open_input: int | None = None,
        closed_input: int | None = None,
        timeout_s: float = 2.0,
        poll_s: float = 1.0,
        travel_timeout_s: float = 8.0,
        retries: int = 2,
        confirm_position_s: float = 0.0,
    ) -> None:
        super().__init__(
            name=name,
            open_input=open_input,
            closed_input=closed_input,
            poll_s=poll_s,
            travel_timeout_s=travel_timeout_s,
            retries=retries,
            confirm_position_s=confirm_position_s,
        )
        self._http = HttpClient(base_url, timeout_s, digest=(username, password or "") if username else None)
        self.base_url = self._http.base_url
        self.channel = channel
        #: Alarm output that drives the barrier; read back after an open (None: no read-back).
        self.relay_output = relay_output
        self.timeout_s = timeout_s

    def _client(self) -> aiohttp.ClientSession:
        return self._http.session()

    async def _get(self, path: str, params: dict[str, str]) -> str:
        try:
            async with self._client().get(f"{self.base_url}{path}", params=params) as resp:
                text = (await resp.read())[:4096].decode("utf-8", errors="replace").strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BarrierError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status != 200:
            raise BarrierError(f"相机应答 HTTP {resp.status}：{text[:80]}")
        return text

    async def _mask(self, action: str) -> int:
        text = await self._get("/cgi-bin/alarm.cgi", {"action": action})
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "result":
                try:
                    return int(value.strip(), 0)
                except ValueError:
                    break
        raise BarrierError(f"相机 {action} 应答无法解析：{text[:80]}")

    async def _command_camera(self, action: Action) -> None:
        verb = "openStrobe" if action == "open" else "closeStrobe"
        params = {"action": verb, "channel": str(self.channel)}
        if action == "open":
            params["info.openType"] = "Normal"
        text = await self._get("/cgi-bin/trafficSnap.cgi", params)
        if text != "OK":
            raise BarrierError(f"相机未接受{verb}指令：{text[:80]}")
        if (
            action == "open"
            and self.relay_output is not None
            and not (await self._mask("getOutState") >> self.relay_output) & 1
        ):
            raise BarrierError(f"相机报警输出 {self.relay_output} 回读未吸合")

    async def _input(self, index: int) -> bool:
        return bool((await self._mask("getInState") >> index) & 1)

    async def _ping(self) -> None:
        await self._mask("getOutState")

    async def _release(self) -> None:
        await self._http.close()


class VzenithBarrier(_CameraRelayBarrier):
    """A 臻识 VZ camera's relay output over its TCP control protocol (``ioctl``)."""

    def __init__(
        self,
        host: str,
        *,
        port: int = DEFAULT_PORT,
        name: str = "barrier",
        open_io: int = 0,
        close_io: int | None = None,
        pulse_ms: int = 500,
        open_input: int | None = None,
        closed_input: int | None = None,
        timeout_s: float = 2.0,
        poll_s: float = 1.0,
        travel_timeout_s: float = 8.0,
        retries: int = 2,
        confirm_position_s: float = 0.0,
    ) -> None:
        super().__init__(
            name=name,
            open_input=open_input,
            closed_input=closed_input,
            poll_s=poll_s,
            travel_timeout_s=travel_timeout_s,
            retries=retries,
            confirm_position_s=confirm_position_s,
        )
        self.open_io = open_io
        #: Output wired to the controller's "close" input (None: the barrier closes by itself).
        self.close_io = close_io
        self.pulse_ms = pulse_ms
        self._link = VzLink(host, port, timeout_s=timeout_s)

    async def _request(self, body: dict[str, object]) -> dict[str, object]:
        try:
            return await self._link.request(body)
        except VzError as exc:
            raise BarrierError(str(exc)) from exc

    async def _command_camera(self, action: Action) -> None:
        io = self.open_io if action == "open" else self.close_io
        if io is None:
            raise BarrierError("未配置落杆输出（close_io），道闸由控制器自动落杆")
        await self._request({"cmd": "ioctl", "io": io, "value": 2, "delay": self.pulse_ms})

    async def _input(self, index: int) -> bool:
        answer = await self._request({"cmd": "get_gpio_value", "gpio": index})
        return answer.get("value") == 1

    async def _ping(self) -> None:
        await self._request({"cmd": "getsn"})

    async def _release(self) -> None:
        self._link.close()


_STATUS_CODE = re.compile(r"<statusCode>\s*(\d+)\s*</statusCode>")
_IO_STATE = re.compile(r"<ioState>\s*(\w+)\s*</ioState>")
_BARRIER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<BarrierGate version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><ctrlMode>{mode}</ctrlMode></BarrierGate>'
)


class HikvisionIsapiBarrier(DahuaItcBarrier):
    """A Hikvision parking/ANPR camera's barrier output over ISAPI (answers read with anchored patterns:
    small bounded bodies, no XML parser, so no entity expansion). IO ports count from 1: pass
    ``relay_output=1`` (the registry's default for ``hikvision_isapi``)."""

    async def _request(self, method: str, path: str, data: str | None = None) -> str:
        try:
            async with self._client().request(
                method, f"{self.base_url}{path}", data=data, headers={"Content-Type": "application/xml"}
            ) as resp:
                text = (await resp.read())[:4096].decode("utf-8", errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BarrierError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status != 200:
            raise BarrierError(f"相机应答 HTTP {resp.status}")
        return text

    async def _io_active(self, kind: str, port: int) -> bool:
        text = await self._request("GET", f"/ISAPI/System/IO/{kind}/{port}/status")
        match = _IO_STATE.search(text)
        if match is None:
            raise BarrierError(f"相机 IO 状态应答无法解析：{text[:80]}")
        return match.group(1) == "active"

    async def _command_camera(self, action: Action) -> None:
        body = _BARRIER_XML.format(mode="open" if action == "open" else "close")
        text = await self._request("PUT", f"/ISAPI/Parking/channels/{self.channel}/barrierGate", body)
        match = _STATUS_CODE.search(text)
        if match is None or match.group(1) != "1":
            raise BarrierError(f"相机未接受道闸指令：{text[:80]}")
        if (
            action == "open"
            and self.relay_output is not None
            and not await self._io_active("outputs", self.relay_output)
        ):
            raise BarrierError(f"相机继电器输出 {self.relay_output} 回读未吸合")

    async def _input(self, index: int) -> bool:
        return await self._io_active("inputs", index)

    async def _ping(self) -> None:
        await self._io_active("outputs", self.relay_output or 1)
