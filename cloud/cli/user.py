"""``ecogate user …``: create staff accounts (platform admin, installer, regulator) and tenant users."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import uuid

from cloud.cli._common import fail

KINDS = ("platform_admin", "installer", "regulator", "tenant_admin", "manager", "guard", "viewer")


def main(argv: list[str]) -> int:
    """Run ``ecogate user SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate user", description="用户账号管理")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="创建账号")
    create.add_argument("--login", required=True, help="登录名")
    create.add_argument("--name", default="", help="姓名")
    create.add_argument("--role", required=True, choices=KINDS, help="角色")
    create.add_argument("--tenant", help="企业用户所属租户 ID")
    create.add_argument("--region", help="监管账号的行政区划代码，如 4201（武汉市）")
    create.add_argument("--password", help="密码（省略则交互输入）")
    args = parser.parse_args(argv)
    password = args.password or getpass.getpass("密码: ")
    try:
        user_id = asyncio.run(_create(args, password))
    except Exception as exc:  # noqa: BLE001 - the CLI reports every failure in Chinese
        return fail(str(exc))
    print(f"已创建账号 {args.login}（{args.role}，ID {user_id}）")  # noqa: T201
    return 0


async def _create(args: argparse.Namespace, password: str) -> uuid.UUID:
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from hj1321.regions import parse_region  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import AccountSpec, add_tenant_user, create_staff_account  # noqa: PLC0415

    database = Database.from_settings(Settings.from_env().database)
    account = AccountSpec(args.login, args.name or args.login, hash_password(password))
    try:
        if args.role in {"platform_admin", "installer", "regulator"}:
            region = parse_region(args.region).code if args.region else None
            return await create_staff_account(database.session, account, args.role, region)
        if not args.tenant:
            raise ValueError("企业用户必须用 --tenant 指定所属租户")
        actor = Principal(user_id=uuid.UUID(int=0), role=Role.PLATFORM_ADMIN, login="cli")
        return await add_tenant_user(database.session, uuid.UUID(args.tenant), account, Role(args.role), actor)
    finally:
        await database.dispose()
