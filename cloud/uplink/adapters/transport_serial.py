"""The ``/transport/*`` family (REGULATION.md §2.5): the platform issues the pass serial and may decide admission.

``POST /transport/login`` → ``data.token`` (sent as header ``token`` afterwards); ``POST /transport/check``
→ ``isAllowPass`` and the platform's ``serialNum``; ``POST /transport/record/pass`` and then
``POST /transport/record/cargo`` against that serial. Envelope ``success``/``code``/``message``/``data``.

Assumptions where the public sources are silent (docs/uplink.md, "/transport/* family"):

* ``check`` also carries our record serial as ``clientSerial``; a platform that knows it answers the
  serial it issued before, so a re-send after a lost answer reuses the same platform serial (the
  adapter also remembers serials it was issued, per process). ``SendResult.platform_serial`` carries
  the platform serial so the worker stores it in ``uplink_outbox.platform_serial`` and passes it back in
  ``UplinkRecord.platform_serial`` on every later attempt (a worker restart between the pass record and
  the cargo still sends the cargo against the same serial);
* success is ``success is true`` and ``code == "200"``; a ``message`` naming an existing serial
  (``已存在``/``重复``) is a duplicate, i.e. delivered;
* code ``401`` or a message naming the token means it expired: log in again and send once more;
* codes ``400``/``422`` name the record invalid (permanent, reason in ``message``); ``429``/``5xx`` are
  transient; anything else, or a body that is not a JSON object with a ``code``, is retried;
* plate colours in scheme B (§3.1), ``passStatus`` ``1`` in / ``2`` out, weights in tonnes
  (``cargoWeightUnit`` ``吨（T）``); photos travel as base64 data URIs in ``imageUrl`` (one
  ``record/pass`` per photo with its ``imageNo``; without photos one call with ``imageNo`` ``0``);
* the cargo call is made only when the record has a cargo name or a net weight.
"""

from __future__ import annotations

import asyncio
import base64
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import aiohttp
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
from cloud.uplink.adapters.http import (
    RETRYABLE,
    AuthError,
    NotUnderstoodError,
    client_session,
    post_json,
    retry_result,
)
from cloud.uplink.adapters.photos import fit_photo
from hj1321.colours import ColourScheme, colour_to_scheme

log = structlog.get_logger(__name__)

LOGIN: Final = "/transport/login"
CHECK: Final = "/transport/check"
PASS: Final = "/transport/record/pass"  # noqa: S105 - a path, not a password
CARGO: Final = "/transport/record/cargo"
#: No published lifetime; refresh well before the 2 h seen in the sibling family (§2.4).
TOKEN_TTL_S: Final = 100 * 60
_MILLI: Final = Decimal("0.001")
_DUPLICATE_WORDS: Final = ("已存在", "重复", "duplicate")
_SERIAL_CACHE_MAX: Final = 100_000


class TransportSerialAdapter:
    """``/transport/*`` client for one tenant's platform."""

    profile = "transport_serial"

    def __init__(self, config: PlatformConfig) -> None:
        """Prepare (the HTTP session opens on first use)."""
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_at = 0.0
        self._token_lock = asyncio.Lock()
        self._serials: dict[str, str] = {}  # our serial -> platform serial issued by check

    # ------------------------------------------------------------------ transport

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = client_session(self.config)
        return self._session

    async def _post(self, path: str, body: dict[str, Any], *, token: bool = True) -> dict[str, Any]:
        headers = {"token": await self._access_token()} if token else {}
        return await post_json(self._http(), path, body, headers)

    async def _access_token(self, *, renew: bool = False) -> str:
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() - self._token_at < TOKEN_TTL_S
            if fresh and not renew and self._token is not None:
                return self._token
            creds = self.config.credentials
            answer = await self._post(
                LOGIN,
                {
                    "companyCode": self.config.enterprise_code,
                    "companynum": creds.get("username", ""),
                    "companypassword": creds.get("password", ""),
                },
                token=False,
            )
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            token = data.get("token") if isinstance(data, dict) else None
            if not _ok(answer) or not isinstance(token, str) or not token:
                raise AuthError(str(answer.get("message") or "获取令牌失败"))
            self._token, self._token_at = token, time.monotonic()
            return token

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One authenticated call; an expired token is renewed once."""
        answer = await self._post(path, body)
        if _token_expired(answer):
            await self._access_token(renew=True)
            answer = await self._post(path, body)
        return answer

    # ------------------------------------------------------------------ interface

    async def send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        """``check`` (for the platform serial), ``record/pass`` per photo, then ``record/cargo``."""
        try:
            return await self._send(record, photos)
        except RETRYABLE as exc:
            return retry_result(exc)

    async def _send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        # A serial issued on an earlier attempt (kept in memory, or stored on the outbox row and passed
        # back by the worker after a restart) is reused: a second ``check`` could issue a second serial.
        serial = self._serials.get(record.serial) or record.platform_serial
        if serial is None:
            answer = await self._call(
                CHECK,
                self._check_body(record.plate, record.plate_colour, record.gate_code, record.direction, record.serial),
            )
            if not _ok(answer):
                return _classify(answer)
            serial = _data(answer).get("serialNum")
            if not isinstance(serial, str) or not serial:
                raise NotUnderstoodError("核验应答缺少 serialNum")
            if len(self._serials) >= _SERIAL_CACHE_MAX:
                self._serials.clear()
            self._serials[record.serial] = serial
        try:
            result = await self._pass(record, serial, photos)
            if not result.delivered:
                return _with_serial(result, serial)
            if record.cargo_name or record.net_kg is not None:
                cargo = _classify(await self._call(CARGO, self.cargo_body(record, serial)))
                if not cargo.delivered:
                    failed = SendResult(cargo.outcome, f"货物：{cargo.message}", cargo.platform_code)
                    return _with_serial(failed, serial)
        except RETRYABLE as exc:  # the serial is kept (stored on the outbox row) for the next attempt
            return _with_serial(retry_result(exc), serial)
        return _with_serial(result, serial)

    async def _pass(self, record: UplinkRecord, serial: str, photos: PhotoLoader) -> SendResult:
        images: list[tuple[int, str, bytes]] = []
        for number, photo in enumerate(record.photos, start=1):
            data = await photos(photo.sha256)
            if data is not None:  # a photo that never reached the cloud: the record stands without it
                images.append((number, photo.role, fit_photo(data, self.config.photo_max_bytes)))
        if not images:
            return _classify(await self._call(PASS, self.pass_body(record, serial, None)))
        first: SendResult | None = None
        for image in images:
            result = _classify(await self._call(PASS, self.pass_body(record, serial, image)))
            if not result.delivered:
                outcome = result.outcome
                if first is not None:  # the first call stored the record: only this photo is missing
                    outcome = Outcome.PHOTO_REFUSED if outcome is Outcome.REJECTED else Outcome.PHOTO_PENDING
                return SendResult(outcome, f"照片{image[0]}：{result.message}", result.platform_code)
            first = first or result
        assert first is not None
        return first

    async def heartbeat(self, gate_codes: list[str]) -> SendResult:
        """The profile has no heartbeat (§2.5): delivered at once."""
        del gate_codes
        return SendResult(Outcome.DELIVERED, "本协议无心跳")

    async def pre_pass_check(self, plate: str, colour: str, gate_code: str) -> PrePassResult | None:
        """``/transport/check``: ``isAllowPass == 1`` allowed; the platform serial comes back too."""
        answer = await self._call(CHECK, self._check_body(plate, colour, gate_code, "in", None))
        if not _ok(answer):
            raise NotUnderstoodError(str(answer.get("message") or answer.get("code")))
        data = _data(answer)
        serial = data.get("serialNum")
        return PrePassResult(
            str(data.get("isAllowPass", "1")) == "1",
            str(data.get("passReason") or ""),
            serial if isinstance(serial, str) and serial else None,
        )

    async def fetch_downlink(self) -> list[DownlinkItem]:
        """The profile has no downlink (§2.5)."""
        return []

    async def ack_downlink(self, item_ids: list[str]) -> None:
        """Nothing to acknowledge."""
        del item_ids

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ payloads

    def _check_body(
        self, plate: str, colour: str, gate_code: str, direction: str, client_serial: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "license": plate,
            "companyCode": self.config.enterprise_code,
            "licenseColor": str(colour_to_scheme(colour, ColourScheme.HENAN)),
            "passStatus": "1" if direction == "in" else "2",
            "gateCode": gate_code,
        }
        if client_serial is not None:
            body["clientSerial"] = client_serial
        return body

    def pass_body(self, record: UplinkRecord, serial: str, image: tuple[int, str, bytes] | None) -> dict[str, Any]:
        """The ``record/pass`` body (one photo, or none)."""
        when = _when(record)
        number, role, data = image if image is not None else (0, "", b"")
        return {
            "serialNum": serial,
            "companyCode": self.config.enterprise_code,
            "gateCode": record.gate_code,
            "license": record.plate,
            "licenseColor": str(colour_to_scheme(record.plate_colour, ColourScheme.HENAN)),
            "passStatus": "1" if record.direction == "in" else "2",
            "gateSignal": "1" if record.decision == "allow" else "0",
            "passTime": when,
            "imageNo": str(number),
            "imageType": {"scene": "1", "plate": "2"}.get(role, ""),
            "imageUrl": "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") if data else "",
            "imageRecordTime": when if data else "",
        }

    def cargo_body(self, record: UplinkRecord, serial: str) -> dict[str, Any]:
        """The ``record/cargo`` body (net weight in tonnes, 3 decimals)."""
        weight = "" if record.net_kg is None else str((record.net_kg / 1000).quantize(_MILLI, rounding=ROUND_HALF_UP))
        return {
            "serialNum": serial,
            "companyCode": self.config.enterprise_code,
            "gateCode": record.gate_code,
            "license": record.plate,
            "licenseColor": str(colour_to_scheme(record.plate_colour, ColourScheme.HENAN)),
            "cargoName": record.cargo_name or "",
            "cargoWeight": weight,
            "cargoRecordTime": _when(record),
            "cargoWeightUnit": "吨（T）",
        }


def _when(record: UplinkRecord) -> str:
    return record.occurred_at.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _ok(answer: dict[str, Any]) -> bool:
    return str(answer.get("code")) == "200" and answer.get("success") is True


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


def _with_serial(result: SendResult, serial: str) -> SendResult:
    return SendResult(result.outcome, result.message, result.platform_code, serial, result.retry_after_s)


def _token_expired(answer: dict[str, Any]) -> bool:
    message = str(answer.get("message") or "")
    return str(answer.get("code")) == "401" or "token" in message.lower() or "令牌" in message


def _classify(answer: dict[str, Any]) -> SendResult:
    code = str(answer.get("code"))
    message = str(answer.get("message") or "")
    if code == "200":
        if answer.get("success") is not True:
            return SendResult(Outcome.RETRY, f"应答码 200 但 success 不为 true：{message}"[:200], code)
        if any(word in message for word in _DUPLICATE_WORDS):
            return SendResult(Outcome.DUPLICATE, message, code)
        return SendResult(Outcome.DELIVERED, message, code)
    if code in ("400", "422"):
        return SendResult(Outcome.REJECTED, message or "平台拒收", code)
    if code == "429" or code.startswith("5"):
        return SendResult(Outcome.RETRY, message or f"平台忙（{code}）", code)
    return SendResult(Outcome.RETRY, f"未识别的应答码 {code}：{message}"[:200], code)
