"""``ecogate tenant …``: onboard an enterprise with its first administrator."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import uuid

from cloud.cli._common import fail


def main(argv: list[str]) -> int:
    """Run ``ecogate tenant SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate tenant", description="企业（租户）管理")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="开通企业并创建首个企业管理员")
    create.add_argument("--name", required=True, help="企业名称")
    create.add_argument("--uscc", required=True, help="统一社会信用代码（18 位）")
    create.add_argument("--industry", required=True, help="行业代码，如 steel")
    create.add_argument("--region", required=True, help="行政区划代码（GB/T 2260），如 420102")
    create.add_argument("--grade", default="B", help="绩效分级 A/B/B-/C/D/引领性")
    create.add_argument("--not-key-unit", action="store_true", help="不是重点用车单位")
    create.add_argument("--admin-login", required=True, help="企业管理员登录名")
    create.add_argument("--admin-name", default="企业管理员", help="企业管理员姓名")
    create.add_argument("--admin-password", help="企业管理员密码（省略则交互输入）")
    args = parser.parse_args(argv)
    password = args.admin_password or getpass.getpass("企业管理员密码: ")
    try:
        tenant_id = asyncio.run(_create(args, password))
    except Exception as exc:  # noqa: BLE001 - the CLI reports every failure in Chinese
        return fail(str(exc))
    print(f"已开通企业 {args.name}（租户 ID {tenant_id}），管理员账号 {args.admin_login}")  # noqa: T201
    return 0


async def _create(args: argparse.Namespace, password: str) -> uuid.UUID:
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from hj1321.identifiers import parse_uscc  # noqa: PLC0415
    from hj1321.regions import parse_region  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import AccountSpec, TenantSpec, onboard_tenant  # noqa: PLC0415

    uscc = parse_uscc(args.uscc)
    region = parse_region(args.region)
    database = Database.from_settings(Settings.from_env().database)
    try:
        spec = TenantSpec(
            name=args.name,
            uscc=uscc,
            industry=args.industry,
            region_code=region.code,
            grade=args.grade,
            key_vehicle_unit=not args.not_key_unit,
        )
        admin = AccountSpec(args.admin_login, args.admin_name, hash_password(password))
        actor = Principal(user_id=uuid.UUID(int=0), role=Role.PLATFORM_ADMIN, login="cli")
        return await onboard_tenant(database.session, spec, admin, actor)
    finally:
        await database.dispose()
