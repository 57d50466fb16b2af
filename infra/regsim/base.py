"""What every HTTP platform simulator shares: its aiohttp server's lifecycle, ``down``, token expiry, faults.

Subclasses set ``state`` (with a ``tokens`` dict) and add their routes to ``self.app``; the answers a
fault gives differ per platform family only in the body of a malformed answer (:attr:`MALFORMED_BODY`).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar, Self

import structlog
from aiohttp import web

from infra.regsim.faults import Faults

log = structlog.get_logger(__name__)


class HttpPlatformSimulator:
    """An aiohttp platform on loopback: start/stop, ``async with``, ``set_down``, fault answers."""

    #: A JSON body cut short, in the family's envelope.
    MALFORMED_BODY: ClassVar[str] = '{"code": "200", "status": '
    #: Answers of an unexpected shape (status, body): none of them says the record was taken.
    ODD_ANSWERS: ClassVar[tuple[tuple[int, str], ...]] = (
        (200, '{"code": "302", "status": "请求已转移"}'),
        (200, '{"status": "成功"}'),
        (200, "[]"),
        (404, "<html><body>404 Not Found</body></html>"),
    )
    state: Any

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None) -> None:
        """Prepare; nothing listens until :meth:`start`."""
        self.host, self.port = host, port
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.down = False

        @web.middleware
        async def cut_when_down(request: web.Request, handler: Any) -> web.StreamResponse:
            if self.down and not request.path.startswith("/_sim/"):  # open connections cut at their next request
                if request.transport is not None:
                    request.transport.close()
                raise web.HTTPServiceUnavailable
            response: web.StreamResponse = await handler(request)
            return response

        self.app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[cut_when_down])

    @property
    def url(self) -> str:
        """Base URL of the platform."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (a free port when ``port`` is 0)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            server = self._site._server  # noqa: SLF001 - aiohttp keeps the bound socket here
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        log.info("platform simulator listening", simulator=type(self).__name__, url=self.url)

    async def set_down(self, down: bool) -> None:
        """Refuse connections (platform down) or listen again on the same port."""
        self.down = down
        if down and self._site is not None:
            await self._site.stop()
            self._site = None
        elif not down and self._site is None:
            await self._listen()

    async def stop(self) -> None:
        """Stop listening and free the application."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> Self:
        """Start."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop."""
        await self.stop()

    def expire_tokens(self) -> None:
        """Every token issued so far expires now."""
        self.state.tokens.clear()

    async def _check_fault(self) -> web.Response | None:
        """The pre-pass check's own faults: a slow answer (``check_delay_s``), or 503 (``check_error``)."""
        if self.faults.check_delay_s > 0:
            self.state.requests["fault:check_delay"] += 1
            await asyncio.sleep(self.faults.check_delay_s)
        if self.faults.check_error:
            self.state.requests["fault:check_error"] += 1
            return web.Response(status=503, text="Service Unavailable")
        return None

    async def _fault(self) -> web.Response | None:
        """A fault to answer instead of the real handling, per the configured rates."""
        f, rng = self.faults, self._rng
        roll = rng.random()
        for rate, kind in (
            (f.timeout_rate, "timeout"),
            (f.error_rate, "5xx"),
            (f.malformed_rate, "malformed"),
            (f.html_rate, "html"),
            (f.odd_rate, "odd"),
        ):
            if roll < rate:
                self.state.requests[f"fault:{kind}"] += 1
                if kind == "timeout":
                    await asyncio.sleep(f.timeout_s)
                    return web.Response(status=504, text="gateway timeout")
                if kind == "5xx":
                    return web.Response(status=rng.choice([500, 502, 503]), text="Internal Server Error")
                if kind == "malformed":
                    return web.Response(status=200, text=self.MALFORMED_BODY, content_type="application/json")
                if kind == "odd":
                    status, body = rng.choice(self.ODD_ANSWERS)
                    kind_type = "text/html" if body.startswith("<") else "application/json"
                    return web.Response(status=status, text=body, content_type=kind_type)
                return web.Response(
                    status=200, text="<html><body><h1>系统维护中</h1></body></html>", content_type="text/html"
                )
            roll -= rate
        return None
