"""``ecogate cloud serve``: run the cloud application with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> int:
    """Run ``ecogate cloud serve [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="ecogate cloud", description="运行云端服务")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="启动 HTTP/WebSocket 服务")
    serve.add_argument("--host", default=None, help="监听地址（默认 127.0.0.1）")
    serve.add_argument("--port", type=int, default=None, help="端口（默认 8000）")
    serve.add_argument("--no-migrate", action="store_true", help="启动前不执行数据库迁移")
    args = parser.parse_args(argv)

    import uvicorn  # noqa: PLC0415

    from cloud.app import create_app  # noqa: PLC0415
    from cloud.cli._common import ensure_dev_database  # noqa: PLC0415
    from cloud.db import migrate  # noqa: PLC0415
    from cloud.logging import configure_logging  # noqa: PLC0415
    from cloud.settings import InsecureSettingsError, Settings  # noqa: PLC0415

    configure_logging()
    try:
        settings = Settings.from_env()
    except InsecureSettingsError as exc:
        print(f"错误：{exc}", file=sys.stderr)  # noqa: T201
        return 2
    if not settings.database.app_url:
        settings = ensure_dev_database()
    if not args.no_migrate and settings.database.owner_url:
        migrate.upgrade(settings.database.owner_url)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    try:
        app = create_app(settings)
    except InsecureSettingsError as exc:  # production mode without its secrets (issue 17)
        print(f"错误：{exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"EcoGate 云端服务：http://{host}:{port}/  （API 文档 /schema）")  # noqa: T201
    json_logs = os.environ.get("ECOGATE_LOG_JSON") == "1"  # uvicorn's lines through cloud.logging's JSON handler
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        ws="websockets-sansio",
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        access_log=not json_logs,  # RequestContext logs one http.request line with the ids instead
    )
    return 0
