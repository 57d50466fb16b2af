"""``python -m infra.regsim [--profile P] [--host H] [--port N]``: run a platform simulator until Ctrl-C.

``--profile transport_control`` (default) serves its own inspection API (``/_sim/*`` on the platform's
port). The other profiles (``transport_serial``, ``tianjin`` with ``--sm2-public-key``, ``hengshui``)
get a small inspection server on ``--admin-port``: ``GET /_sim/state`` (records held, duplicate
submissions, heartbeats, faults answered), ``POST /_sim/faults`` (set fault rates), ``POST /_sim/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from aiohttp import web

from infra.regsim.app import RegulatorSimulator
from infra.regsim.faults import holds_of

PROFILES = ("transport_control", "transport_serial", "tianjin", "hengshui")


def _simulator(args: argparse.Namespace) -> Any:
    if args.profile == "transport_serial":
        from infra.regsim.transport_serial import TransportSerialSimulator  # noqa: PLC0415

        return TransportSerialSimulator(host=args.host, port=args.port)
    if args.profile == "tianjin":
        from infra.regsim.tianjin import TianjinSimulator  # noqa: PLC0415

        return TianjinSimulator(args.sm2_public_key, host=args.host, port=args.port)
    if args.profile == "hengshui":
        from infra.regsim.hengshui import HengshuiSimulator  # noqa: PLC0415

        return HengshuiSimulator(host=args.host, port=args.port)
    return RegulatorSimulator(host=args.host, port=args.port, accounts={args.user: args.password})


def _admin(sim: Any) -> web.Application:
    """The inspection API of a simulator that has none of its own."""

    async def state(_: web.Request) -> web.Response:
        st = sim.state
        return web.json_response(
            {
                "records": len(sim.records),
                "duplicates": st.duplicates,
                "rejected": sum(st.rejected.values()),
                "heartbeats": getattr(st, "heartbeats", 0),
                "requests": dict(st.requests),
                "faults": sim.faults.public(),
            }
        )

    async def faults(request: web.Request) -> web.Response:
        for name, value in (await request.json()).items():
            sim.faults.set(name, value)
        return web.json_response(sim.faults.public())

    async def holds(request: web.Request) -> web.Response:
        return web.json_response(holds_of(sim, list((await request.json()).get("serials") or [])))

    async def reset(_: web.Request) -> web.Response:
        sim.state = type(sim.state)()
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/_sim/state", state)
    app.router.add_post("/_sim/faults", faults)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_post("/_sim/holds", holds)
    return app


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sim = _simulator(args)
    await sim.start()
    runner: web.AppRunner | None = None
    try:
        if args.profile != "transport_control":
            runner = web.AppRunner(_admin(sim), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, args.host, args.admin_port).start()
        print(f"监管平台模拟器已启动（{args.profile}）：{sim.url}", flush=True)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m infra.regsim", description="监管平台模拟器")
    parser.add_argument("--profile", choices=PROFILES, default="transport_control")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--admin-port", type=int, default=18081, help="inspection API of the other profiles")
    parser.add_argument("--sm2-public-key", default="", help="tianjin: the enterprise's registered SM2 public key")
    parser.add_argument("--user", default="ecogate")
    parser.add_argument("--password", default="EcoGate@2026")
    args = parser.parse_args(argv)
    if args.profile == "tianjin" and not args.sm2_public_key:
        parser.error("--profile tianjin 需要 --sm2-public-key")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
