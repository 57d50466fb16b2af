"""The 臻识 (Vzenith) VZ-series camera's TCP control protocol: JSON commands in a small binary frame (issue 23).

Frame (both directions, one JSON object per frame)::

    'V' 'Z'  type  sn    length (4 bytes, big endian)   JSON body (UTF-8)
    0x56 0x5A 0x00  0..255

``type`` 0 is a command or its answer, 1 a keep-alive (answered with the same frame, no body).
Every command carries ``"cmd"``; the answer names the same ``cmd`` (some firmware appends
``_resp``) and ``"state_code": 200`` when the camera took it. The commands used here:

* ``ioctl`` — drive a relay output (barrier): ``{"cmd": "ioctl", "io": 0, "value": 2, "delay": 500}``
  (``value`` 2 = pulse the output for ``delay`` ms);
* ``get_gpio_value`` — read an alarm input (a limit switch): ``{"cmd": "get_gpio_value", "gpio": 0}`` →
  ``{"value": 0|1}``;
* ``ttransmission`` — send bytes out of the camera's RS-485 port (the screen wired to the camera):
  ``{"cmd": "ttransmission", "subcmd": "send", "comm": "rs485-1", "data": "<base64>", "datalen": n}``.

ASSUMPTIONS (from the vendor's public "VZ 智能摄像机 TCP 通讯协议" as summarised in docs/devices.md,
not checked against hardware): port 8131, the header layout above, UTF-8 bodies, the ``value``
codes of ``ioctl``, and ``comm`` naming the first RS-485 port ``rs485-1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, Final

import msgspec

DEFAULT_PORT: Final = 8131
MAGIC: Final = b"VZ"
HEADER = struct.Struct(">2sBBI")
MAX_BODY: Final = 1 << 20
TYPE_DATA: Final = 0
TYPE_KEEPALIVE: Final = 1


class VzError(Exception):
    """The camera did not answer, closed the connection, or refused a command."""


def encode_vz_frame(body: dict[str, Any] | None, *, sn: int = 0, kind: int = TYPE_DATA) -> bytes:
    """One frame carrying ``body`` (None: an empty keep-alive)."""
    data = msgspec.json.encode(body) if body is not None else b""
    return HEADER.pack(MAGIC, kind, sn & 0xFF, len(data)) + data


async def read_vz_frame(reader: asyncio.StreamReader) -> tuple[int, int, dict[str, Any] | None]:
    """``(type, sn, body)`` of the next frame; :class:`VzError` on a broken stream or a bad frame."""
    try:
        head = await reader.readexactly(HEADER.size)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise VzError("相机断开了连接") from exc
    magic, kind, sn, length = HEADER.unpack(head)
    if magic != MAGIC or length > MAX_BODY:
        raise VzError(f"相机帧头无效：{head.hex()}")
    try:
        data = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise VzError("相机断开了连接") from exc
    if not data:
        return kind, sn, None
    try:
        body = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise VzError("相机应答不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise VzError("相机应答不是 JSON 对象")
    return kind, sn, body


class VzLink:
    """One TCP connection to a VZ camera, opened on first use and reopened after any error."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout_s: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._sn = 0

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return the camera's answer (``state_code`` 200), else :class:`VzError`."""
        async with self._lock:
            try:
                answer = await asyncio.wait_for(self._exchange(body), self.timeout_s)
            except (TimeoutError, OSError, VzError) as exc:
                self.close()
                if isinstance(exc, VzError):
                    raise
                raise VzError(f"相机 {self.host}:{self.port} 无应答（{type(exc).__name__}）") from exc
        code = answer.get("state_code")
        if code != 200:
            raise VzError(f"相机拒绝指令 {body.get('cmd')}：state_code={code}")
        return answer

    async def _exchange(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        self._sn = (self._sn + 1) & 0xFF
        writer.write(encode_vz_frame(body, sn=self._sn))
        await writer.drain()
        wanted = str(body.get("cmd"))
        while True:
            kind, _sn, answer = await read_vz_frame(reader)
            if kind == TYPE_KEEPALIVE or answer is None:
                continue
            if str(answer.get("cmd", "")).removesuffix("_resp") == wanted:
                return answer

    def close(self) -> None:
        """Drop the connection (the next request reconnects)."""
        streams, self._streams = self._streams, None
        if streams is not None:
            with contextlib.suppress(Exception):
                streams[1].close()
