"""``ecogate uplink …``: the regulator uplink from a shell.

* ``ecogate uplink configure --tenant ID --url URL --enterprise CODE --user U --password P [--profile P]``
  sets the tenant's platform (credentials encrypted at rest) and back-fills every record not yet queued;
* ``ecogate uplink run [--processes N] [--batch N] [--concurrency N] [--pipelines N]`` runs workers until Ctrl-C
  or SIGTERM: N worker processes (default 1; each its own event loop on uvloop, like ``ecogate cloud serve``),
  restarted when one dies; any number of them, on any number of machines, share the outbox through leases;
* ``ecogate uplink resend --tenant ID --from DATE --to DATE`` queues a period again (补传);
* ``ecogate uplink status --tenant ID [--from DATE --to DATE] [--json]`` prints the upload KPIs;
* ``ecogate uplink reconcile --tenant ID [--from DATE --to DATE] [--inspect URL] [--fix]`` compares our
  states with what the platform holds (cloud/uplink/reconcile.py: no family documents a query message, so
  only the simulator's inspection API ``--inspect`` can answer today);
* ``ecogate uplink rotate-key`` re-encrypts every tenant's platform credentials under the current master key
  ``ECOGATE_UPLINK_KEY`` (old keys in ``ECOGATE_UPLINK_OLD_KEYS``; cloud/uplink/platforms.py).

Dates are China days (``2026-11-28``). Exit codes: 0 done, 1 refused, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import signal
import threading
import uuid
from typing import Any

from cloud.cli._common import fail


def main(argv: list[str]) -> int:
    """Run ``ecogate uplink SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate uplink", description="监管平台上传：配置、运行、补传、统计")
    sub = parser.add_subparsers(dest="command", required=True)
    conf = sub.add_parser("configure", help="设置企业对接的监管平台并补齐待传记录")
    conf.add_argument("--tenant", required=True, help="企业（租户）ID")
    conf.add_argument("--profile", default="transport_control", help="平台协议族（默认 transport_control）")
    conf.add_argument("--url", required=True, help="平台地址，如 http://127.0.0.1:18080")
    conf.add_argument("--enterprise", required=True, help="平台分配的企业编号")
    conf.add_argument("--name", default="", help="企业名称")
    conf.add_argument("--user", required=True, help="平台账号")
    conf.add_argument("--password", required=True, help="平台密码")
    run = sub.add_parser("run", help="运行上传进程（Ctrl-C 停止）")
    run.add_argument("--processes", type=int, default=1, help="上传进程数（每个进程一个事件循环，默认 1）")
    run.add_argument("--batch", type=int, default=100, help="每次认领的记录数")
    run.add_argument("--concurrency", type=int, default=8, help="每个进程同时发送的记录数")
    run.add_argument("--pipelines", type=int, default=2, help="每个进程的认领-发送-结算流水线数")
    for name, text in (("resend", "补传某一时段的记录"), ("status", "上传率、及时率等指标")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--tenant", required=True, help="企业（租户）ID")
        p.add_argument("--from", dest="first", required=name == "resend", help="起始日期（含）")
        p.add_argument("--to", dest="last", required=name == "resend", help="结束日期（含）")
        p.add_argument("--json", action="store_true", help="输出 JSON")
    rec = sub.add_parser("reconcile", help="对账：比对本地上传状态与平台实际持有的记录")
    rec.add_argument("--tenant", required=True, help="企业（租户）ID")
    rec.add_argument("--from", dest="first", help="起始日期（含）")
    rec.add_argument("--to", dest="last", help="结束日期（含）")
    rec.add_argument("--inspect", help="模拟器检查接口地址（平台无查询报文时用于测试与演示）")
    rec.add_argument("--fix", action="store_true", help="按平台实际持有情况修正状态（重传或补传照片）")
    sub.add_parser("rotate-key", help="用当前主密钥重新加密所有企业的监管平台凭据（密钥轮换）")
    args = parser.parse_args(argv)
    if args.command == "run":
        if min(args.processes, args.batch, args.concurrency, args.pipelines) < 1:
            return fail("--processes、--batch、--concurrency、--pipelines 须为正整数")
        return _run_processes(args) if args.processes > 1 else _run_worker(args.batch, args.concurrency, args.pipelines)
    try:
        result = asyncio.run(_COMMANDS[args.command](args))
    except (ValueError, LookupError) as exc:
        return fail(str(exc))
    if result is not None:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))  # noqa: T201
    return 0


def _database() -> Any:
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415

    return Database.from_settings(Settings.from_env().database)


def _principal(tenant: str) -> Any:
    from tenants.context import Principal, Role  # noqa: PLC0415

    return Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=uuid.UUID(tenant), login="cli")


def _span(first: str | None, last: str | None) -> tuple[dt.datetime, dt.datetime]:
    from cloud.domain.common import CHINA_TZ  # noqa: PLC0415

    start = dt.date.fromisoformat(first) if first else dt.date(2000, 1, 1)
    end = dt.date.fromisoformat(last) if last else dt.datetime.now(CHINA_TZ).date()
    if end < start:
        raise ValueError("结束日期早于起始日期")
    return dt.datetime.combine(start, dt.time(), CHINA_TZ), dt.datetime.combine(
        end + dt.timedelta(days=1), dt.time(), CHINA_TZ
    )


async def _configure(args: argparse.Namespace) -> dict[str, Any]:
    from cloud.uplink import outbox, platforms  # noqa: PLC0415

    database, principal = _database(), _principal(args.tenant)
    try:
        async with database.session(principal) as session, session.begin():
            await platforms.configure(
                session,
                principal.tenant_id,
                profile=args.profile,
                base_url=args.url,
                enterprise_code=args.enterprise,
                enterprise_name=args.name,
                credentials={"username": args.user, "password": args.password},
            )
            start, end = _span(None, None)
            queued = await outbox.resend_period(session, principal.tenant_id, start, end + dt.timedelta(days=3650))
    finally:
        await database.dispose()
    return {"tenant": args.tenant, "profile": args.profile, "queued": queued}


def _run_worker(batch: int, concurrency: int, pipelines: int) -> int:
    """One worker process until SIGINT/SIGTERM, on uvloop when installed (as uvicorn runs the cloud)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:  # pragma: no cover - uvloop is in the cloud lock (uvicorn[standard])
        asyncio.run(_run(batch, concurrency, pipelines))
    else:
        uvloop.run(_run(batch, concurrency, pipelines))
    return 0


def _run_processes(args: argparse.Namespace) -> int:
    """``--processes N``: N worker processes (one event loop each: a worker's Python is single-threaded, so a
    busy outbox needs processes to use more than one core); one that dies is started again after a second.
    SIGINT/SIGTERM stop them all (each settles what it has in flight)."""
    ctx = multiprocessing.get_context("spawn")
    worker_args = (args.batch, args.concurrency, args.pipelines)
    stopping = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    procs = [
        ctx.Process(target=_run_worker, args=worker_args, name=f"ecogate-uplink-{i}") for i in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    print(f"上传进程 {args.processes} 个已启动：{', '.join(str(p.pid) for p in procs)}（Ctrl-C 停止）")  # noqa: T201
    while not stopping.wait(1.0):
        for i, proc in enumerate(procs):
            if not proc.is_alive():
                print(f"上传进程 {proc.pid} 已退出（代码 {proc.exitcode}），重新启动")  # noqa: T201
                procs[i] = ctx.Process(target=_run_worker, args=worker_args, name=proc.name)
                procs[i].start()
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.join(60)
    return 0


async def _run(batch: int, concurrency: int, pipelines: int) -> None:
    from cloud.blobs import open_store  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from cloud.uplink.worker import UplinkWorker  # noqa: PLC0415

    database = _database()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    worker = UplinkWorker(
        database,
        open_store(Settings.from_env().blobs),
        batch=batch,
        concurrency=concurrency,
        pipelines=pipelines,
    )
    try:
        await worker.run(stop)
    finally:
        await database.dispose()


async def _resend(args: argparse.Namespace) -> dict[str, Any]:
    from cloud.uplink import outbox  # noqa: PLC0415

    database, principal = _database(), _principal(args.tenant)
    start, end = _span(args.first, args.last)
    try:
        async with database.session(principal) as session, session.begin():
            queued = await outbox.resend_period(session, principal.tenant_id, start, end)
    finally:
        await database.dispose()
    return {"tenant": args.tenant, "from": args.first, "to": args.last, "queued": queued}


async def _status(args: argparse.Namespace) -> dict[str, Any] | None:
    from cloud.uplink import outbox  # noqa: PLC0415

    database, principal = _database(), _principal(args.tenant)
    start, end = _span(args.first, args.last)
    try:
        async with database.session(principal) as session, session.begin():
            status = await outbox.upload_status(session, principal.tenant_id, start, end)
    finally:
        await database.dispose()
    if status is None:
        raise LookupError("该企业尚未配置监管平台")
    return status


async def _rotate_key(_args: argparse.Namespace) -> dict[str, object]:
    from cloud.uplink import platforms  # noqa: PLC0415

    database = _database()
    try:
        return await platforms.rotate_all(database)
    finally:
        await database.dispose()


async def _reconcile(args: argparse.Namespace) -> dict[str, Any]:
    from cloud.uplink import reconcile  # noqa: PLC0415

    database, principal = _database(), _principal(args.tenant)
    start, end = _span(args.first, args.last)
    try:
        return await reconcile.reconcile(
            database, principal.tenant_id, start, end, inspect_url=args.inspect, fix=args.fix
        )
    finally:
        await database.dispose()


_COMMANDS = {
    "configure": _configure,
    "resend": _resend,
    "status": _status,
    "rotate-key": _rotate_key,
    "reconcile": _reconcile,
}
