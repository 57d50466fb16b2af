"""``ecogate retention run|hold|release``: the daily retention of evidence (cloud/retention.py, issue 21)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid

from cloud.cli._common import fail


def _print(text: str) -> None:
    print(text)  # noqa: T201


async def _run(now: dt.datetime, dry_run: bool) -> int:
    from cloud import retention  # noqa: PLC0415
    from cloud.blobs import open_store  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415

    settings = Settings.from_env()
    database = Database.from_settings(settings.database)
    try:
        store = open_store(settings.blobs)
        runs = await retention.run_all(
            database,
            store,
            now,
            dry_run=dry_run,
            hot_months=settings.blobs.hot_months,
            job_keep_days=settings.jobs.file_keep_days,
        )
    finally:
        await database.dispose()
    verb = "将清除" if dry_run else "已清除"
    for run in runs:
        if run.held:
            _print(f"{run.tenant_id}：司法保全中，未做任何清除")
        elif run.photos or run.videos:
            _print(
                f"{run.tenant_id}：{verb}照片 {run.photos} 个、视频 {run.videos} 个，"
                f"共 {run.bytes_purged / 2**20:.1f} MB"
                f"（删除文件 {run.files_deleted} 个，其他企业仍保存的 {run.files_shared} 个保留）"
            )
        if run.moved:
            moved = "将转存" if dry_run else "已转存"
            _print(f"{run.tenant_id}：{moved} {run.moved} 个超过热存期的对象至低频存储（{store.cold_class}）")
        if run.jobs_expired:
            expired = "将过期" if dry_run else "已过期"
            _print(
                f"{run.tenant_id}：{expired}导出文件 {run.jobs_expired} 个"
                f"（超过 {settings.jobs.file_keep_days} 天，删除文件 {run.job_files_deleted} 个）"
            )
    total = sum(r.photos + r.videos for r in runs)
    _print(f"保存期限处理完成：{len(runs)} 家企业，{verb} {total} 个对象；所有台账记录均保留")
    return 0


async def _hold(tenant_id: uuid.UUID, active: bool, reason: str) -> int:
    from cloud import retention  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    actor = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="cli")
    database = Database.from_settings(Settings.from_env().database)
    try:
        async with database.session(actor) as session, session.begin():
            await retention.set_hold(session, actor, tenant_id, active, reason)
    finally:
        await database.dispose()
    _print("已设置司法保全：该企业的照片与视频不会被清除" if active else "已解除司法保全")
    return 0


def main(argv: list[str]) -> int:
    """Run ``ecogate retention …``."""
    parser = argparse.ArgumentParser(
        prog="ecogate retention", description="照片与视频保存期限（照片≥24个月、视频≥12个月）"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="清除超过保存期限的照片与视频字节（记录永久保留），每天运行一次")
    run.add_argument("--now", help="以此时刻为“现在”（ISO 8601，演练用）")
    run.add_argument("--dry-run", action="store_true", help="只列出将清除的对象")
    for name, text in (("hold", "对企业设置司法保全（暂停一切清除）"), ("release", "解除司法保全")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--tenant", required=True, type=uuid.UUID, help="企业（租户）ID")
        command.add_argument("--reason", required=True, help="原因（如保全令文号）")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
            if now.tzinfo is None:
                now = now.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
            return asyncio.run(_run(now, args.dry_run))
        return asyncio.run(_hold(args.tenant, args.command == "hold", args.reason))
    except (ValueError, RuntimeError) as exc:
        return fail(str(exc))
