"""The Henan-style ``transportControl`` family (REGULATION.md §2.4), over HTTP POST + JSON.

Envelope ``{"organ": <enterprise code>, "ipctype": <message type>, "access_token": <token>, "value": {…}}``
to ``/restapi/transportControl/get_data`` (token, vehicle check) and ``put_data`` (pass records,
heartbeats); photos to ``put_file`` (``sharePhotoInfo``). Success is ``code == "200"``.

Assumptions where the public sources are silent (docs/uplink.md):

* the record serial ``lsh`` is our event id without dashes (32 hex characters) — the platform
  de-duplicates on it, so a re-send after a lost answer cannot double a record; an answer ``200`` whose
  ``status`` says the serial exists (``已存在``/``重复``) is a duplicate, i.e. delivered;
* code ``401`` or a status naming the token means the token expired: fetch a new one and send once
  more within the same attempt;
* codes ``400``/``422`` name the record invalid (permanent, reason in ``status``); ``429`` and ``5xx``
  are transient; any other code, or a body that is not a JSON object, is not understood → retry;
* plate colours in scheme B (§3.1, 2 = white, 3 = black), stages and fuels as platform codes (§3.2, §3.3);
* the pass record is accepted before its photos; a photo refused later does not undo the record: the
  attempt is ``PHOTO_REFUSED`` (or ``PHOTO_PENDING`` for a transient failure) and the worker sends the
  photos again per the family's rule (the record answer is then ``已存在``; issue 16 finding 5).
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

GET_DATA: Final = "/restapi/transportControl/get_data"
PUT_DATA: Final = "/restapi/transportControl/put_data"
PUT_FILE: Final = "/restapi/transportControl/put_file"
#: Tokens are cached ~2 h by the clients seen (§2.4); refresh a little earlier.
TOKEN_TTL_S: Final = 100 * 60
_MILLI: Final = Decimal("0.001")
_DUPLICATE_WORDS: Final = ("已存在", "重复", "duplicate")


class TransportControlAdapter:
    """``transportControl`` client for one tenant's platform."""

    profile = "transport_control"

    def __init__(self, config: PlatformConfig) -> None:
        """Prepare (the HTTP session opens on first use)."""
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_at = 0.0
        self._token_lock = asyncio.Lock()

    # ------------------------------------------------------------------ transport

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = client_session(self.config)
        return self._session

    async def _post(self, path: str, ipctype: str, value: object, *, token: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"organ": self.config.enterprise_code, "ipctype": ipctype, "value": value}
        if token:
            body["access_token"] = await self._access_token()
        return await post_json(self._http(), path, body)

    async def _access_token(self, *, renew: bool = False) -> str:
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() - self._token_at < TOKEN_TTL_S
            if fresh and not renew:
                assert self._token is not None
                return self._token
            creds = self.config.credentials
            answer = await self._post(
                GET_DATA,
                "getAccessToken",
                {"username": creds.get("username", ""), "password": creds.get("password", "")},
                token=False,
            )
            token = answer.get("access_token") or (answer.get("value") or {}).get("access_token")
            if str(answer.get("code")) != "200" or not isinstance(token, str) or not token:
                raise AuthError(str(answer.get("status") or answer.get("message") or "获取令牌失败"))
            self._token, self._token_at = token, time.monotonic()
            return token

    async def _put(self, path: str, ipctype: str, value: object) -> dict[str, Any]:
        """One authenticated put; an expired token is renewed once."""
        answer = await self._post(path, ipctype, value)
        if _token_expired(answer):
            await self._access_token(renew=True)
            answer = await self._post(path, ipctype, value)
        return answer

    # ------------------------------------------------------------------ interface

    async def send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        """``shareDrivingRecord``, then ``sharePhotoInfo`` for each photo."""
        try:
            return await self._send(record, photos)
        except RETRYABLE as exc:
            return retry_result(exc)

    async def _send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        result = _classify(await self._put(PUT_DATA, "shareDrivingRecord", self.record_value(record)))
        if not result.delivered:
            return result
        for number, photo in enumerate(record.photos, start=1):
            data = await photos(photo.sha256)
            if data is None:
                continue  # the photo never reached the cloud; the record stands without it
            value = self.photo_value(record, number, photo.role, fit_photo(data, self.config.photo_max_bytes))
            try:
                photo_result = _classify(await self._put(PUT_FILE, "sharePhotoInfo", value))
            except RETRYABLE as exc:  # the record is held already: only the photos are sent again
                photo_result = retry_result(exc)
            if not photo_result.delivered:  # the record stays held: only the photo is refused or pending
                refused = photo_result.outcome is Outcome.REJECTED
                outcome = Outcome.PHOTO_REFUSED if refused else Outcome.PHOTO_PENDING
                return SendResult(outcome, f"照片{number}：{photo_result.message}", photo_result.platform_code)
        return result

    async def heartbeat(self, gate_codes: list[str]) -> SendResult:
        """``putdcstatus``: every gate's barrier and plate camera normal (``0``)."""
        value = [{"dzbh": code, "bgzt": "0", "vlpzt": "0"} for code in gate_codes]
        try:
            return _classify(await self._put(PUT_DATA, "putdcstatus", value))
        except RETRYABLE as exc:
            return retry_result(exc)

    async def pre_pass_check(self, plate: str, colour: str, gate_code: str) -> PrePassResult | None:
        """``getCheckVehicle``: ``isControl == 0`` means allowed; errors propagate to the caller's fallback."""
        value = {
            "license": plate,
            "licenseColor": str(colour_to_scheme(colour, ColourScheme.HENAN)),
            "enterpriseID": self.config.enterprise_code,
            "gateCodeB": gate_code,
        }
        answer = await self._put(GET_DATA, "getCheckVehicle", value)
        if str(answer.get("code")) != "200":
            raise NotUnderstoodError(str(answer.get("status") or answer.get("code")))
        data = answer.get("value") if isinstance(answer.get("value"), dict) else answer
        assert isinstance(data, dict)
        return PrePassResult(str(data.get("isControl", "0")) == "0", str(data.get("controlReason") or ""))

    async def fetch_downlink(self) -> list[DownlinkItem]:
        """``getPushData``: warnings and over-emission vehicles the platform holds for the enterprise.

        Assumed shape (§2.7 lists the fields, not the message): ``value`` is a list of objects with ``id``,
        ``type`` (``warning`` | ``overEmission``) and the Chinese-documented fields in pinyin-free keys.
        Items of an unknown type are skipped (and stay unacknowledged, so nothing is lost).
        """
        answer = await self._put(GET_DATA, "getPushData", {"enterpriseID": self.config.enterprise_code})
        if str(answer.get("code")) != "200":
            raise NotUnderstoodError(str(answer.get("status") or answer.get("code")))
        items = answer.get("value")
        out: list[DownlinkItem] = []
        for raw in items if isinstance(items, list) else []:
            if not isinstance(raw, dict) or not raw.get("id"):
                continue
            kind = {"warning": "warning", "overEmission": "over_emission_vehicle"}.get(str(raw.get("type")))
            if kind is None:
                log.warning("unknown downlink item type", type=raw.get("type"))
                continue
            out.append(DownlinkItem(str(raw["id"]), kind, raw))  # type: ignore[arg-type]
        return out

    async def ack_downlink(self, item_ids: list[str]) -> None:
        """``ackPushData``: the items are applied (sent after our transaction committed)."""
        answer = await self._put(PUT_DATA, "ackPushData", {"ids": item_ids})
        if str(answer.get("code")) != "200":
            raise NotUnderstoodError(str(answer.get("status") or answer.get("code")))

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ payloads

    #: The ``shareDrivingRecord`` keys that come from the vehicle registry, with the ``UplinkRecord`` field
    #: each is filled from (tests/uplink/test_registry_completeness.py checks each against the registry).
    REGISTRY_FIELDS: Final = {
        "cdmc": "fleet_name",
        "vin": "vin",
        "registerDate": "register_date",
        "model": "brand_model",
        "fuelType": "fuel_type",
        "emissionStandard": "emission_stage",
        "useCharacter": "use_nature",
        "networkStatus": "network_status",
    }

    def record_value(self, record: UplinkRecord) -> dict[str, object]:
        """The ``shareDrivingRecord`` value: 安车 pinyin keys plus the English aliases (§2.4)."""
        when = record.occurred_at.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S")
        colour = str(colour_to_scheme(record.plate_colour, ColourScheme.HENAN))
        direction = "1" if record.direction == "in" else "2"
        weight_t = "" if record.net_kg is None else str((record.net_kg / 1000).quantize(_MILLI, rounding=ROUND_HALF_UP))
        return {
            "lsh": record.serial,
            "qybh": self.config.enterprise_code,
            "qymc": self.config.enterprise_name,
            "dzbh": record.gate_code,
            "cphm": record.plate,
            "cpys": colour,
            "tgsjq": when,
            "tgsjz": when,
            "bgzt": "1" if record.decision == "allow" else "0",
            "tgzt": direction,
            "serialNum": record.serial,
            "enterpriseID": self.config.enterprise_code,
            "gateCodeB": record.gate_code,
            "inOutComStatus": direction,
            "date": when,
            "license": record.plate,
            "licenseColor": colour,
            "rollType": "0",
            "cdmc": record.fleet_name or "",
            "vin": record.vin or "",
            "registerDate": record.register_date.isoformat() if record.register_date else "",
            "model": record.brand_model or "",
            "fuelType": record.fuel_type or "",
            "emissionStandard": record.emission_stage or "",
            "useCharacter": record.use_nature or "",
            "networkStatus": record.network_status or "",
            "ysl": weight_t,
            "ysldw": "吨" if weight_t else "",
            "hwmc": record.cargo_name or "",
        }

    def photo_value(self, record: UplinkRecord, number: int, role: str, data: bytes) -> dict[str, object]:
        """The ``sharePhotoInfo`` value of one photo (base64 JPEG as a data URI, §6 note 4)."""
        return {
            "lsh": record.serial,
            "qybh": self.config.enterprise_code,
            "dzbh": record.gate_code,
            "cphm": record.plate,
            "zpbh": str(number),
            "zplx": "1" if record.direction == "in" else "2",
            "zpjs": role,
            "base64Image": "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"),
            "pzsj": record.occurred_at.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        }


def _token_expired(answer: dict[str, Any]) -> bool:
    status = str(answer.get("status") or answer.get("message") or "")
    return str(answer.get("code")) == "401" or "token" in status.lower() or "令牌" in status


def _classify(answer: dict[str, Any]) -> SendResult:
    code = str(answer.get("code"))
    status = str(answer.get("status") or answer.get("message") or "")
    if code == "200":
        if any(word in status for word in _DUPLICATE_WORDS):
            return SendResult(Outcome.DUPLICATE, status, code)
        return SendResult(Outcome.DELIVERED, status, code)
    if code in ("400", "422"):
        return SendResult(Outcome.REJECTED, status or "平台拒收", code)
    if code == "429" or code.startswith("5"):
        return SendResult(Outcome.RETRY, status or f"平台忙（{code}）", code)
    return SendResult(Outcome.RETRY, f"未识别的应答码 {code}：{status}"[:200], code)
