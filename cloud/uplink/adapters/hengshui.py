"""The Hengshui-style persistent-TCP JSON profile with heartbeats (REGULATION.md §2.2) — profile ``hengshui``.

§2.2 tells us the link is a long-lived TCP connection carrying JSON with heartbeats; the message bodies
are not public. The protocol designed here (docs/uplink.md, "Hengshui"), every part an assumption:

* framing: one JSON object per line, UTF-8, ``\\n``-terminated, at most 8 MiB a line;
* ``{"type": "login", "msgId", "enterpriseCode", "username", "password"}`` →
  ``{"type": "login_ack", "msgId", "code", "message"}``; ``code == "200"`` opens the session;
* ``{"type": "record", "msgId", "serial", "data": {…}}`` → ``{"type": "ack", "serial", "code", "message"}``
  — acks are matched **by serial**, in any order; ``200`` delivered, ``409`` or a message naming an
  existing serial = duplicate, ``400``/``422`` rejected (reason verbatim), ``401`` = session expired
  (log in again on the same connection, send once more), anything else retry;
* ``{"type": "heartbeat", "msgId", "gates": [...]}`` → ``{"type": "heartbeat_ack", "msgId", "code"}``,
  sent by :meth:`heartbeat` and every :data:`HEARTBEAT_S` seconds while the link is idle;
* one connection per adapter; a lost connection is re-opened at the next call; a record without an ack
  within ``timeout_s`` (or whose connection dropped) is ``RETRY`` — the platform de-duplicates on the
  serial, so the re-send cannot double it; a line that is not a JSON object is logged and ignored
  (the record it may have answered then times out: RETRY, never delivered);
* photos inline in ``data.photos`` as base64 JPEG (``{"no", "role", "image"}``), shrunk to the limit;
  plate colours in scheme B (§3.1), times ``yyyy-MM-dd HH:mm:ss`` China time, weights in tonnes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
import structlog

from cloud.domain.common import CHINA_TZ as _CHINA
from cloud.uplink.adapters.base import (
    DownlinkItem,
    Outcome,
    PhotoLoader,
    PlatformConfig,
    PrePassResult,
    SendResult,
    UplinkRecord,
)
from cloud.uplink.adapters.photos import fit_photo
from hj1321.colours import ColourScheme, colour_to_scheme

log = structlog.get_logger(__name__)

HEARTBEAT_S: Final = 30.0
LINE_LIMIT: Final = 8 * 1024 * 1024
#: Wait for the socket to drain when more than this is buffered (lines with photos run to megabytes).
_DRAIN_ABOVE: Final = 256 * 1024
_MILLI: Final = Decimal("0.001")
_DUPLICATE_WORDS: Final = ("已存在", "重复", "duplicate")
_ENCODER: Final = msgspec.json.Encoder()


class _LinkError(Exception):
    """The connection could not be opened, was lost, or an answer did not come in time."""


class _AuthError(Exception):
    """The platform refused our login."""


class HengshuiAdapter:
    """Persistent TCP JSON-lines client for one tenant's platform (``base_url`` = ``tcp://host:port``)."""

    profile = "hengshui"

    def __init__(self, config: PlatformConfig) -> None:
        """Prepare (the connection opens on first use)."""
        self.config = config
        # ``tcp://host:port``; any other scheme is read for its host and port only (the enterprise API
        # accepts http(s) URLs today, so ``http://host:port`` works as well).
        address = urlsplit(config.base_url if "//" in config.base_url else "tcp://" + config.base_url)
        if address.hostname is None or address.port is None:
            raise ValueError(f"衡水平台地址应为 tcp://主机:端口：{config.base_url}")
        self._host, self._port = address.hostname, address.port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}  # serial or msgId -> answer
        self._lock = asyncio.Lock()  # connect/login one at a time
        self._ids = itertools.count(1)
        # Lines written in one turn of the event loop leave in one write (one syscall, one wake-up of the
        # platform's reader) instead of one each: with 16 records in flight this is most of the link's cost.
        self._out: list[bytes] = []
        self._out_writer: asyncio.StreamWriter | None = None

    # ------------------------------------------------------------------ link

    @property
    def connected(self) -> bool:
        """True while a logged-in connection is open."""
        return self._writer is not None and not self._writer.is_closing()

    async def _ensure(self) -> None:
        async with self._lock:
            if self.connected:
                return
            await self._drop("重新连接")
            try:
                reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self._host, self._port, limit=LINE_LIMIT), self.config.timeout_s
                )
            except (OSError, TimeoutError) as exc:
                raise _LinkError(f"网络错误：连接失败 {type(exc).__name__}") from exc
            self._reader = reader
            self._reader_task = asyncio.create_task(self._read_loop(reader))
            await self._login()
            self._beat_task = asyncio.create_task(self._beat_loop())

    async def _login(self) -> None:
        creds = self.config.credentials
        answer = await self._request(
            {
                "type": "login",
                "enterpriseCode": self.config.enterprise_code,
                "username": creds.get("username", ""),
                "password": creds.get("password", ""),
            }
        )
        if str(answer.get("code")) != "200":
            await self._drop("登录失败")
            raise _AuthError(str(answer.get("message") or "登录失败"))

    async def _request(self, message: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """Write one line and wait for the answer matched by ``key`` (the serial) or a fresh ``msgId``."""
        msg_id = f"{next(self._ids):x}"  # unique on the link; acks of records are matched by serial anyway
        message = {**message, "msgId": msg_id}
        wait_key = key or msg_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[wait_key] = future
        try:
            writer = self._writer
            if writer is None or writer.is_closing():
                raise _LinkError("网络错误：连接已断开")
            line = _ENCODER.encode(message) + b"\n"  # compact UTF-8 JSON, one C call
            self._queue_line(writer, line)
            if writer.transport.get_write_buffer_size() > _DRAIN_ABOVE:
                try:
                    await writer.drain()
                except OSError as exc:
                    raise _LinkError(f"网络错误：发送失败 {type(exc).__name__}") from exc
            try:
                return await asyncio.wait_for(future, self.config.timeout_s)
            except TimeoutError as exc:
                raise _LinkError(f"{self.config.timeout_s:g} 秒内未收到应答") from exc
        finally:
            if self._waiting.get(wait_key) is future:
                del self._waiting[wait_key]

    def _queue_line(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        """Queue ``line`` for ``writer``; the queue is written at the end of this turn of the event loop."""
        if self._out_writer is not writer:
            self._flush()  # lines of a previous connection: written there if it still stands, else dropped
            self._out_writer = writer
        self._out.append(line)
        if len(self._out) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        lines, writer = self._out, self._out_writer
        self._out = []
        if lines and writer is not None and not writer.is_closing():
            writer.write(b"".join(lines))  # a failed write closes the link: the read loop fails the waiters

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    answer = msgspec.json.decode(line)
                except msgspec.DecodeError:
                    log.warning("hengshui: line is not JSON", line=line[:80].decode("utf-8", "replace"))
                    continue
                if not isinstance(answer, dict):
                    log.warning("hengshui: line is not a JSON object")
                    continue
                key = str(answer.get("serial") or "") if answer.get("type") == "ack" else str(answer.get("msgId") or "")
                future = self._waiting.get(key)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            log.info("hengshui: link lost", error=str(exc))
        finally:
            if self._writer is not None:
                self._writer.close()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(_LinkError("网络错误：连接已断开"))

    async def _beat_loop(self) -> None:
        while self.connected:
            await asyncio.sleep(HEARTBEAT_S)
            with contextlib.suppress(_LinkError):
                await self._request({"type": "heartbeat", "gates": []})

    async def _drop(self, why: str) -> None:
        for task in (self._beat_task, self._reader_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._beat_task = self._reader_task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
            log.debug("hengshui: connection closed", why=why)
        self._reader = self._writer = None

    # ------------------------------------------------------------------ interface

    async def send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        """One ``record`` line; the ack with its serial decides."""
        try:
            message = {"type": "record", "serial": record.serial, "data": await self.record_data(record, photos)}
            await self._ensure()
            answer = await self._request(message, record.serial)
            if str(answer.get("code")) == "401":
                async with self._lock:
                    await self._login()
                answer = await self._request(message, record.serial)
            return _classify(answer)
        except _LinkError as exc:
            return SendResult(Outcome.RETRY, str(exc))
        except _AuthError as exc:
            return SendResult(Outcome.RETRY, f"鉴权失败：{exc}")

    async def heartbeat(self, gate_codes: list[str]) -> SendResult:
        """A ``heartbeat`` line naming the gates."""
        try:
            await self._ensure()
            answer = await self._request({"type": "heartbeat", "gates": gate_codes})
        except (_LinkError, _AuthError) as exc:
            return SendResult(Outcome.RETRY, str(exc))
        if str(answer.get("code")) == "200":
            return SendResult(Outcome.DELIVERED, str(answer.get("message") or ""), "200")
        return SendResult(Outcome.RETRY, str(answer.get("message") or answer.get("code")))

    async def pre_pass_check(self, plate: str, colour: str, gate_code: str) -> PrePassResult | None:
        """The profile has no pre-pass check (§2.2)."""
        del plate, colour, gate_code
        return None

    async def fetch_downlink(self) -> list[DownlinkItem]:
        """No downlink is known for this profile."""
        return []

    async def ack_downlink(self, item_ids: list[str]) -> None:
        """Nothing to acknowledge."""
        del item_ids

    async def close(self) -> None:
        """Close the connection."""
        await self._drop("关闭")

    # ------------------------------------------------------------------ payload

    #: The record keys that come from the vehicle registry (§2.2: the V2.0 field list is not public, [I]).
    REGISTRY_FIELDS: Final = {"vin": "vin", "emissionStage": "emission_stage", "fuelType": "fuel_type"}

    async def record_data(self, record: UplinkRecord, photos: PhotoLoader) -> dict[str, Any]:
        """The ``data`` object of a record line."""
        images = []
        for number, photo in enumerate(record.photos, start=1):
            raw = await photos(photo.sha256)
            if raw is not None:  # a photo that never reached the cloud: the record stands without it
                data = fit_photo(raw, self.config.photo_max_bytes)
                images.append({"no": number, "role": photo.role, "image": base64.b64encode(data).decode("ascii")})
        weight = "" if record.net_kg is None else str((record.net_kg / 1000).quantize(_MILLI, rounding=ROUND_HALF_UP))
        return {
            "enterpriseCode": self.config.enterprise_code,
            "gateCode": record.gate_code,
            "laneCode": record.lane_code,
            "plate": record.plate,
            "plateColor": str(colour_to_scheme(record.plate_colour, ColourScheme.HENAN)),
            "direction": "1" if record.direction == "in" else "2",
            "passed": "1" if record.decision == "allow" else "0",
            "passTime": record.occurred_at.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            **{key: getattr(record, field) or "" for key, field in self.REGISTRY_FIELDS.items()},
            "cargoName": record.cargo_name or "",
            "netWeightT": weight,
            "photos": images,
        }


def _classify(answer: dict[str, Any]) -> SendResult:
    code = str(answer.get("code"))
    message = str(answer.get("message") or "")
    if code == "200":
        if any(word in message for word in _DUPLICATE_WORDS):
            return SendResult(Outcome.DUPLICATE, message, code)
        return SendResult(Outcome.DELIVERED, message, code)
    if code == "409":
        return SendResult(Outcome.DUPLICATE, message or "记录已存在", code)
    if code in ("400", "422"):
        return SendResult(Outcome.REJECTED, message or "平台拒收", code)
    return SendResult(Outcome.RETRY, f"未识别的应答码 {code}：{message}"[:200], code)
