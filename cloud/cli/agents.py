"""``ecogate agents …``: enrollment codes and the agent list for installers working from a shell.

* ``ecogate agents code --tenant ID --site ID --name NAME [--ttl-hours 24] [--json]`` prints a
  one-time enrollment code (``ecogate agent enroll CODE --cloud URL`` on the gate PC uses it).
* ``ecogate agents list --tenant ID [--json]`` lists the tenant's agents with their health flags.

Exit codes: 0 done, 1 refused (unknown site, database unavailable), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import uuid
from typing import Any

from cloud.cli._common import fail


def main(argv: list[str]) -> int:
    """Run ``ecogate agents SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate agents", description="边缘代理：注册码与运行状态")
    sub = parser.add_subparsers(dest="command", required=True)
    code = sub.add_parser("code", help="为厂区生成一次性注册码")
    code.add_argument("--tenant", required=True, help="企业（租户）ID")
    code.add_argument("--site", required=True, help="厂区 ID")
    code.add_argument("--name", required=True, help="代理名称，如“东门岗亭”")
    code.add_argument("--ttl-hours", type=int, default=24, choices=range(1, 169), metavar="1-168", help="有效小时数")
    code.add_argument("--json", action="store_true", help="输出 JSON")
    listing = sub.add_parser("list", help="列出企业的代理及健康状态")
    listing.add_argument("--tenant", required=True, help="企业（租户）ID")
    listing.add_argument("--json", action="store_true", help="输出 JSON")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(_code(args) if args.command == "code" else _list(args))
    except LookupError as exc:
        return fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - the CLI reports every failure in Chinese
        return fail(getattr(exc, "detail", None) or str(exc))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))  # noqa: T201
    elif args.command == "code":
        print(f"注册码：{result['code']}（有效期至 {result['expires_at']}，仅可使用一次）")  # noqa: T201
    else:
        for agent in result["agents"]:
            flags = "，".join(k for k, v in agent["flags"].items() if v) or "正常"
            state = "在线" if agent["online"] else "离线"
            print(f"{agent['id']}  {agent['name']}  {agent['status']}  {state}  {flags}")  # noqa: T201
    return 0


def _scope(tenant: str) -> tuple[Any, Any]:
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    principal = Principal(user_id=uuid.UUID(int=0), role=Role.INSTALLER, tenant_id=uuid.UUID(tenant), login="cli")
    return Database.from_settings(Settings.from_env().database), principal


async def _code(args: argparse.Namespace) -> dict[str, Any]:
    from cloud.domain import audit  # noqa: PLC0415
    from cloud.hub.credentials import create_enrollment_code  # noqa: PLC0415

    database, principal = _scope(args.tenant)
    try:
        async with database.session(principal) as session, session.begin():
            row, code = await create_enrollment_code(
                session, principal, uuid.UUID(args.site), args.name, dt.timedelta(hours=args.ttl_hours)
            )
            audit.record(
                session, principal, "agent.enrollment_code", "agent_enrollment_code", row.id, {"site_id": args.site}
            )
    finally:
        await database.dispose()
    return {
        "id": str(row.id),
        "site_id": args.site,
        "name": args.name,
        "code": code,
        "expires_at": row.expires_at.isoformat(),
    }


async def _list(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.db import models as m  # noqa: PLC0415
    from cloud.hub import health  # noqa: PLC0415

    database, principal = _scope(args.tenant)
    try:
        async with database.session(principal) as session, session.begin():
            rows = list(await session.scalars(select(m.Agent).order_by(m.Agent.created_at)))
    finally:
        await database.dispose()
    now = dt.datetime.now(dt.UTC)
    out = []
    for agent in rows:
        state = health.assess(agent, now)
        out.append(
            {
                "id": str(agent.id),
                "site_id": str(agent.site_id),
                "name": agent.name,
                "status": agent.status,
                "online": state.online,
                "last_seen_at": agent.last_seen_at.isoformat() if agent.last_seen_at else None,
                "flags": {"silent": state.silent, "clock_skew": state.clock_skew, "queue_growing": state.queue_growing},
            }
        )
    return {"agents": out}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
