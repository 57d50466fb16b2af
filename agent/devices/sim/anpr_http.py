"""A camera that drives its own barrier, speaking the generic HTTP profile of :mod:`agent.devices.barrier`."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from agent.devices.types import BarrierState


class AnprHttpBarrierSimulator:
    """Loopback HTTP server; ``fail`` answers 500, ``hang`` never answers, ``fault`` reports a fault."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, travel_s: float = 0.3, token: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.travel_s = travel_s
        self.token = token
        self.state = BarrierState.CLOSED
        self.fail = False
        self.hang = False
        self.fault = False
        self.commands: list[str] = []
        self._runner: web.AppRunner | None = None
        self._motion: asyncio.Task[None] | None = None
        self._released = asyncio.Event()

    @property
    def base_url(self) -> str:
        """What the driver is configured with."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on loopback (a free port unless one was given)."""
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/barrier", self._command)
        app.router.add_get("/api/barrier", self._status)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving."""
        self._released.set()
        if self._motion is not None:
            self._motion.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _gate(self, request: web.Request) -> web.Response | None:
        if self.hang:
            await self._released.wait()
        if self.fail:
            return web.json_response({"ok": False, "error": "internal"}, status=500)
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "unauthorised"}, status=401)
        return None

    async def _command(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        with contextlib.suppress(ValueError):
            body = await request.json()
            action = body.get("action") if isinstance(body, dict) else None
            if action in {"open", "close"}:
                self.commands.append(action)
                if self._motion is not None:
                    self._motion.cancel()
                self._motion = asyncio.create_task(self._move(action == "open"))
                return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": "bad action"}, status=400)

    async def _status(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        return web.json_response({"state": str(self.state), "fault": self.fault})

    async def _move(self, opening: bool) -> None:
        target = BarrierState.OPEN if opening else BarrierState.CLOSED
        if self.state == target:
            return
        self.state = BarrierState.MOVING
        await asyncio.sleep(self.travel_s)
        self.state = target
