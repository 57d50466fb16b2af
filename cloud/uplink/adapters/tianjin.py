"""The Tianjin profile (REGULATION.md §2.1): token plus SM2-signed requests with SM3 digests — profile ``tianjin``.

The body of the Tianjin networking spec is not public (§2.1.2); this follows the implementation plan
of §2.1.3 [I], every message an assumption written down in docs/uplink.md ("Tianjin"):

* ``POST /tj/api/login`` ``{companyCode, username, password}`` → ``data.token``; then header ``token``;
* every business request is the envelope ``{companyCode, timestamp, nonce, digest, data, sign}``:
  ``digest`` = SM3 (hex) of the canonical JSON of ``data`` (sorted keys, no spaces, UTF-8) and
  ``sign`` = SM2 signature (hex ``r||s``, with the SM3 ``Z`` pre-hash of GM/T 0009) by the enterprise
  key ``prksm2`` over ``companyCode|timestamp|nonce|digest``; the platform verifies with the registered
  public key ``puksm2`` (derived from the private key when not configured);
* ``/tj/api/pass`` pass records (photos inline as base64 JPEG), ``/tj/api/daily`` daily per-gate counts
  (天津日上报: ``gateSn``, ``entranceNo``, ``recordDate``, ``recordNum``), ``/tj/api/heartbeat`` gate status;
* answers ``{code, message, data}``: ``200`` delivered (``已存在``/``重复`` = duplicate), ``401``/token
  message = log in again and repeat once, ``400``/``422`` rejected, anything else (including ``403``
  signature failures — our configuration, not the record) retried;
* plate colours in scheme B (§3.1); every §1.4.2 (a) field the register holds travels with the record
  (:attr:`TianjinAdapter.REGISTRY_FIELDS`), engine model and maker (mandatory in Tianjin, §2.1.3) among
  them, from the vehicle version valid at the pass time.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import aiohttp
import structlog
from gmssl import func, sm2, sm3  # type: ignore[import-untyped]

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
    client_session,
    post_json,
    retry_result,
)
from cloud.uplink.adapters.photos import fit_photo
from hj1321.colours import ColourScheme, colour_to_scheme

log = structlog.get_logger(__name__)

LOGIN: Final = "/tj/api/login"
PASS: Final = "/tj/api/pass"  # noqa: S105 - a path, not a password
DAILY: Final = "/tj/api/daily"
HEARTBEAT: Final = "/tj/api/heartbeat"
TOKEN_TTL_S: Final = 100 * 60
_MILLI: Final = Decimal("0.001")
_DUPLICATE_WORDS: Final = ("已存在", "重复", "duplicate")


def canonical(data: object) -> bytes:
    """The canonical JSON bytes a digest is computed over."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sm3_hex(data: bytes) -> str:
    """SM3 digest, lowercase hex."""
    return str(sm3.sm3_hash(func.bytes_to_list(data)))


def sm2_crypt(private_key_hex: str, public_key_hex: str) -> Any:
    """A gmssl ``CryptSM2`` holding exactly these keys (public: 128 hex, no ``04`` prefix).

    gmssl's constructor removes a ``04`` prefix with ``str.lstrip("04")``, which also eats every
    further leading ``0``/``4`` digit of the key's x coordinate: for about 1 key in 256 the signer
    then signs over a wrong key (rejected signatures) or fails with "Odd-length string". The key
    is therefore set after construction.
    """
    crypt = sm2.CryptSM2(private_key=private_key_hex, public_key="")
    crypt.public_key = public_key_hex
    return crypt


def normalise_public_key(public_key_hex: str) -> str:
    """``04`` + 128 hex (uncompressed point) or 128 hex → 128 lowercase hex."""
    key = public_key_hex.strip().lower().removeprefix("0x")
    return key[2:] if len(key) == 130 and key.startswith("04") else key


def public_key_of(private_key_hex: str) -> str:
    """The uncompressed SM2 public key (128 hex, no ``04`` prefix) of a private key."""
    crypt = sm2_crypt(private_key_hex, "")
    return str(crypt._kg(int(private_key_hex, 16), sm2.default_ecc_table["g"]))  # noqa: SLF001 - gmssl's point mult


def signing_string(company: str, timestamp: str, nonce: str, digest: str) -> bytes:
    """What the SM2 signature covers."""
    return f"{company}|{timestamp}|{nonce}|{digest}".encode()


class TianjinAdapter:
    """Tianjin client for one tenant's platform."""

    profile = "tianjin"

    def __init__(self, config: PlatformConfig) -> None:
        """Prepare the signer (the HTTP session opens on first use)."""
        self.config = config
        private = config.credentials.get("prksm2", "").strip().lower().removeprefix("0x")
        public = normalise_public_key(config.credentials.get("puksm2", ""))
        if private and not public:
            public = public_key_of(private)
        self._signer = sm2_crypt(private, public) if private else None
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_at = 0.0
        self._token_lock = asyncio.Lock()

    # ------------------------------------------------------------------ transport

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = client_session(self.config)
        return self._session

    def envelope(self, data: object) -> dict[str, Any]:
        """The signed envelope of a business request."""
        if self._signer is None:
            raise AuthError("未配置 SM2 私钥（prksm2）")
        company = self.config.enterprise_code
        timestamp = dt.datetime.now(_CHINA).strftime("%Y-%m-%d %H:%M:%S")
        nonce = secrets.token_hex(8)
        digest = sm3_hex(canonical(data))
        sign = self._signer.sign_with_sm3(signing_string(company, timestamp, nonce, digest))
        return {
            "companyCode": company,
            "timestamp": timestamp,
            "nonce": nonce,
            "digest": digest,
            "data": data,
            "sign": sign,
        }

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
                    "username": creds.get("username", ""),
                    "password": creds.get("password", ""),
                },
                token=False,
            )
            data = answer.get("data")
            token = data.get("token") if isinstance(data, dict) else None
            if str(answer.get("code")) != "200" or not isinstance(token, str) or not token:
                raise AuthError(str(answer.get("message") or "获取令牌失败"))
            self._token, self._token_at = token, time.monotonic()
            return token

    async def _call(self, path: str, data: object) -> SendResult:
        """One signed, authenticated call (signed afresh for the retry after a token renewal)."""
        try:
            answer = await self._post(path, self.envelope(data))
            if _token_expired(answer):
                await self._access_token(renew=True)
                answer = await self._post(path, self.envelope(data))
            return _classify(answer)
        except RETRYABLE as exc:
            return retry_result(exc)

    # ------------------------------------------------------------------ interface

    async def send(self, record: UplinkRecord, photos: PhotoLoader) -> SendResult:
        """One signed ``pass`` request with the photos inline."""
        return await self._call(PASS, await self.record_data(record, photos))

    async def send_daily_counts(self, record_date: dt.date, counts: list[tuple[str, str, int]]) -> SendResult:
        """天津日上报: one row per (gate, entrance) with the day's pass-record count."""
        rows = [
            {"gateSn": gate, "entranceNo": entrance, "recordDate": record_date.isoformat(), "recordNum": count}
            for gate, entrance, count in counts
        ]
        return await self._call(DAILY, {"recordDate": record_date.isoformat(), "rows": rows})

    async def heartbeat(self, gate_codes: list[str]) -> SendResult:
        """Gate status: every gate's barrier and camera normal."""
        return await self._call(HEARTBEAT, {"gates": [{"gateSn": g, "status": "0"} for g in gate_codes]})

    async def pre_pass_check(self, plate: str, colour: str, gate_code: str) -> PrePassResult | None:
        """No pre-pass check is known for Tianjin (the front-end's lookup is a blacklist query)."""
        del plate, colour, gate_code
        return None

    async def fetch_downlink(self) -> list[DownlinkItem]:
        """No downlink is known for this profile."""
        return []

    async def ack_downlink(self, item_ids: list[str]) -> None:
        """Nothing to acknowledge."""
        del item_ids

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ payload

    #: The pass-record keys that come from the vehicle registry (REGULATION.md §1.4.2 (a), §2.1.3), with the
    #: ``UplinkRecord`` field each is filled from (tests/uplink/test_registry_completeness.py).
    REGISTRY_FIELDS: Final = {
        "vin": "vin",
        "plateType": "plate_type",
        "vehicleType": "vehicle_type",
        "registerDate": "register_date",
        "brandModel": "brand_model",
        "engineModel": "engine_model",
        "engineMaker": "engine_maker",
        "engineNo": "engine_no",
        "fuelType": "fuel_type",
        "emissionStandard": "emission_stage",
        "useNature": "use_nature",
        "networkStatus": "network_status",
        "envListNo": "env_list_no",
        "fleetName": "fleet_name",
    }

    async def record_data(self, record: UplinkRecord, photos: PhotoLoader) -> dict[str, Any]:
        """The ``data`` of a pass request."""
        images = []
        for number, photo in enumerate(record.photos, start=1):
            raw = await photos(photo.sha256)
            if raw is not None:  # a photo that never reached the cloud: the record stands without it
                data = fit_photo(raw, self.config.photo_max_bytes)
                images.append({"no": number, "role": photo.role, "image": base64.b64encode(data).decode("ascii")})
        weight = "" if record.net_kg is None else str((record.net_kg / 1000).quantize(_MILLI, rounding=ROUND_HALF_UP))
        return {
            "serialNum": record.serial,
            "gateSn": record.gate_code,
            "entranceNo": record.lane_code,
            "license": record.plate,
            "licenseColor": str(colour_to_scheme(record.plate_colour, ColourScheme.HENAN)),
            "passStatus": "1" if record.direction == "in" else "2",
            "authStatus": "1" if record.decision == "allow" else "0",
            "passTime": record.occurred_at.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            **{key: _text(getattr(record, field)) for key, field in self.REGISTRY_FIELDS.items()},
            "cargoName": record.cargo_name or "",
            "cargoWeight": weight,
            "cargoWeightUnit": "T" if weight else "",
            "photos": images,
        }


def _text(value: object) -> str:
    """A registry value as the platform's text (dates ``YYYY-MM-DD``; absent = empty)."""
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _token_expired(answer: dict[str, Any]) -> bool:
    message = str(answer.get("message") or "")
    return str(answer.get("code")) == "401" or "token" in message.lower() or "令牌" in message


def _classify(answer: dict[str, Any]) -> SendResult:
    code = str(answer.get("code"))
    message = str(answer.get("message") or "")
    if code == "200":
        if any(word in message for word in _DUPLICATE_WORDS):
            return SendResult(Outcome.DUPLICATE, message, code)
        return SendResult(Outcome.DELIVERED, message, code)
    if code in ("400", "422"):
        return SendResult(Outcome.REJECTED, message or "平台拒收", code)
    if code == "429" or code.startswith("5"):
        return SendResult(Outcome.RETRY, message or f"平台忙（{code}）", code)
    return SendResult(Outcome.RETRY, f"未识别的应答码 {code}：{message}"[:200], code)
