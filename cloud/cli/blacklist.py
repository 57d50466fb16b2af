"""``ecogate blacklist import FILE``: import a regulator's list of excess-emission vehicles (CSV or .xlsx).

Columns: 车牌号码 (required), 号牌颜色, 车辆识别代号, 原因, 有效期至, 名单名称. Prints a report per row;
a row is imported whole or not at all, ``--all-or-nothing`` imports nothing when any row is wrong and
``--dry-run`` only checks. The agents of the enterprise are told when the transaction commits.
Exit code 0 = every row imported or skipped, 1 = some rows refused, 2 = the file was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from cloud.cli._common import fail

_STATUS = {
    "imported": "已导入",
    "skipped": "已跳过",
    "error": "错误",
    "valid": "校验通过",
    "not_imported": "未导入",
}


def main(argv: list[str]) -> int:
    """Run ``ecogate blacklist SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate blacklist", description="超标排放车辆黑名单")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="导入黑名单文件（CSV 或 Excel），逐行报告")
    imp.add_argument("file", help="CSV 或 .xlsx 文件")
    imp.add_argument("--tenant", required=True, help="企业（租户）ID")
    imp.add_argument("--source", choices=("regulator", "enterprise"), default="regulator", help="来源")
    imp.add_argument("--list-name", help="名单名称或来源文号")
    imp.add_argument("--dry-run", action="store_true", help="只校验，不导入")
    imp.add_argument("--all-or-nothing", action="store_true", help="有任何错误行则整批不导入")
    imp.add_argument("--json", action="store_true", help="输出 JSON 报告")
    args = parser.parse_args(argv)
    try:
        data = Path(args.file).read_bytes()
        report = asyncio.run(_import(args, data))
    except OSError as exc:
        fail(f"无法读取文件：{exc}")
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI reports every failure in Chinese
        detail = getattr(exc, "detail", None) or str(exc)
        fail(detail)
        for error in getattr(exc, "errors", []) or []:
            print(f"  - {error.field}：{error.message}", file=sys.stderr)  # noqa: T201
        return 2
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))  # noqa: T201
    else:
        for row in report["rows"]:
            status = _STATUS.get(row["status"], row["status"])
            print(f"第 {row['row']} 行 {row['key'] or '-'}：{status}{'，' + row['message'] if row['message'] else ''}")  # noqa: T201
        counts = "，".join(f"{_STATUS.get(k, k)} {v} 行" for k, v in sorted(report["counts"].items()))
        print(f"合计：{counts or '无数据行'}")  # noqa: T201
    return 1 if report["counts"].get("error") else 0


async def _import(args: argparse.Namespace, data: bytes) -> dict[str, Any]:
    from cloud.compliance import blacklist  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    tenant_id = uuid.UUID(args.tenant)
    principal = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="cli")
    database = Database.from_settings(Settings.from_env().database)
    try:
        async with database.session(principal) as session, session.begin():
            report = await blacklist.import_file(
                session,
                principal,
                data,
                Path(args.file).name,
                args.source,
                args.list_name,
                dry_run=args.dry_run,
                all_or_nothing=args.all_or_nothing,
            )
    finally:
        await database.dispose()
    return {
        "counts": report.counts,
        "rows": [
            {
                "row": r.row,
                "status": r.status,
                "key": r.key,
                "message": r.message,
                "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in r.errors],
            }
            for r in report.rows
        ],
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
