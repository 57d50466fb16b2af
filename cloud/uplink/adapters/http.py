"""HTTP plumbing shared by the JSON-over-HTTP platform adapters (transportControl, /transport/*, Tianjin).

One place decides what an answer we do not understand is: a 429 or 5xx status, a body that is not
JSON, a JSON value without a ``code``, a refused login, a network error or a timeout all end as
``RETRY`` (docs/adr/0009: never delivered, never rejected on an answer we did not understand).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec

from cloud.uplink.adapters.base import Outcome, PlatformConfig, SendResult


class NotUnderstoodError(Exception):
    """An answer that is not a JSON object with a code."""


class TransientError(Exception):
    """A 429 or 5xx answer (with the platform's ``Retry-After`` when it gave one)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep the message and the delay the platform asked for."""
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(Exception):
    """The platform refused our credentials."""


_ENCODER = msgspec.json.Encoder()

#: Every failure of a call that means "try again later".
RETRYABLE = (TransientError, NotUnderstoodError, AuthError, aiohttp.ClientError, TimeoutError)


def retry_result(exc: BaseException) -> SendResult:
    """The ``RETRY`` result of one of :data:`RETRYABLE`."""
    if isinstance(exc, TransientError):
        return SendResult(Outcome.RETRY, str(exc), retry_after_s=exc.retry_after)
    if isinstance(exc, AuthError):
        return SendResult(Outcome.RETRY, f"鉴权失败：{exc}")
    if isinstance(exc, NotUnderstoodError):
        return SendResult(Outcome.RETRY, str(exc))
    return SendResult(Outcome.RETRY, f"网络错误：{type(exc).__name__} {exc}".strip())


def client_session(config: PlatformConfig) -> aiohttp.ClientSession:
    """A session on the platform's base URL with the configured total timeout.

    No cookie jar: no platform family keeps a session in cookies (tokens travel in the body or a header), and
    filtering the jar for every request was a tenth of the worker's CPU per record (issue 20 profile).
    """
    return aiohttp.ClientSession(
        base_url=config.base_url.rstrip("/") + "/",
        timeout=aiohttp.ClientTimeout(total=config.timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def post_json(
    session: aiohttp.ClientSession, path: str, body: object, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST ``body`` as JSON; the answer as a JSON object carrying ``code``.

    Raises:
        TransientError: 429 or 5xx.
        NotUnderstoodError: a body that is not a JSON object with a ``code``.
    """
    # msgspec encodes and decodes in one C call each (UTF-8 as is, no escapes): about a tenth of the worker's
    # CPU per record went into the standard library's encoder behind aiohttp's ``json=`` (issue 20 profile).
    data = _ENCODER.encode(body)
    with_type = {"Content-Type": "application/json", **(headers or {})}
    async with session.post(path.lstrip("/"), data=data, headers=with_type) as response:
        raw = await response.read()
        if response.status == 429 or response.status >= 500:
            raise TransientError(f"HTTP {response.status}", seconds(response.headers.get("Retry-After")))
    try:
        parsed = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        snippet = raw[:80].decode("utf-8", "replace").replace("\n", " ")
        raise NotUnderstoodError(f"应答不是 JSON：{snippet}") from exc
    if not isinstance(parsed, dict) or "code" not in parsed:
        raise NotUnderstoodError(f"应答缺少 code：{str(parsed)[:80]}")
    return parsed


def seconds(header: str | None) -> float | None:
    """A ``Retry-After`` value in seconds (None when absent or not a number)."""
    try:
        return float(header) if header else None
    except ValueError:
        return None
