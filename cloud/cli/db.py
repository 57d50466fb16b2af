"""``ecogate db …``: the embedded PostgreSQL, roles and database, and migrations."""

from __future__ import annotations

import argparse
import signal
import threading

from cloud.cli._common import data_dir, ensure_dev_database, fail


def main(argv: list[str]) -> int:
    """Run ``ecogate db SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate db", description="数据库管理")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap", help="启动内置数据库（未设置 DATABASE_URL 时）并创建角色与数据库")
    up = sub.add_parser("upgrade", help="迁移到最新版本（或指定版本）")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="回退到指定版本")
    down.add_argument("revision")
    sub.add_parser("serve", help="在前台运行内置 PostgreSQL，Ctrl-C 停止")
    sub.add_parser("stop", help="停止内置 PostgreSQL")
    args = parser.parse_args(argv)

    from cloud.db import migrate  # noqa: PLC0415
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415

    if args.command == "stop":
        EmbeddedPostgres(data_dir() / "pg").stop()
        print("内置数据库已停止")  # noqa: T201
        return 0
    settings = ensure_dev_database()
    if args.command == "bootstrap":
        print(f"数据库就绪：{settings.database.app_url.split('@')[-1]}")  # noqa: T201
        return 0
    if args.command == "upgrade":
        migrate.upgrade(settings.database.owner_url, args.revision)
        print(f"已迁移到 {args.revision}")  # noqa: T201
        return 0
    if args.command == "downgrade":
        migrate.downgrade(settings.database.owner_url, args.revision)
        print(f"已回退到 {args.revision}")  # noqa: T201
        return 0
    if args.command == "serve":
        migrate.upgrade(settings.database.owner_url)
        print(f"内置 PostgreSQL 运行中：{settings.database.app_url.split('@')[-1]}，按 Ctrl-C 停止")  # noqa: T201
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        EmbeddedPostgres(data_dir() / "pg").stop()
        return 0
    return fail(f"未知命令 {args.command}")
