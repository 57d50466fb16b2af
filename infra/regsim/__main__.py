"""``python -m infra.regsim [--host H] [--port N]``: run the regulator platform simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from infra.regsim.app import RegulatorSimulator


async def _serve(host: str, port: int, user: str, password: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with RegulatorSimulator(host=host, port=port, accounts={user: password}) as sim:
        print(f"监管平台模拟器已启动：{sim.url}（账号 {user}；状态 {sim.url}/_sim/state）", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m infra.regsim", description="监管平台模拟器（transportControl）")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--user", default="ecogate")
    parser.add_argument("--password", default="EcoGate@2026")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.user, args.password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
