"""``ecogate demo`` (``make demo``): the whole system on embedded defaults; Ctrl-C stops everything.

Starts the embedded PostgreSQL (or uses ``DATABASE_URL``), applies migrations, seeds a demo
enterprise (a Hubei steel plant with two gates) and a 武汉市 regulator account, runs the cloud and
prints the URLs and logins. Later parts (regulator simulator, agent on generated video with serial
device simulators) join through :data:`EXTRA_PARTS`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

DEMO_PASSWORD = os.environ.get("ECOGATE_DEMO_PASSWORD", "EcoGate@2026")
DEMO_TENANT = {
    "name": "武汉青山示范钢铁有限公司",
    "uscc": "91420100177570439R",
    "industry": "steel",
    "region_code": "420107",
    "grade": "B",
}
LOGINS = {
    "demo-admin": "企业管理员",
    "demo-manager": "环保管理员",
    "demo-guard": "门岗",
    "wuhan-regulator": "武汉市生态环境局（只读）",
    "platform-admin": "平台管理员",
}


@dataclass
class DemoSeed:
    """What the seed created (or found)."""

    tenant_id: uuid.UUID
    created: bool


async def seed(settings: object) -> DemoSeed:
    """Create the demo tenant, users, sites, gates and lanes once; later runs find them."""
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import (  # noqa: PLC0415
        AccountSpec,
        TenantSpec,
        add_tenant_user,
        create_staff_account,
        onboard_tenant,
    )

    database = Database.from_settings(settings.database)  # type: ignore[attr-defined]
    try:
        async with database.login_session("demo-admin") as session:
            existing = await session.scalar(select(m.UserAccount).where(m.UserAccount.login == "demo-admin"))
        if existing is not None and existing.tenant_id is not None:
            return DemoSeed(existing.tenant_id, created=False)
        pw = hash_password(DEMO_PASSWORD)
        actor = Principal(user_id=uuid.UUID(int=0), role=Role.PLATFORM_ADMIN, login="demo-seed")
        tenant_id = await onboard_tenant(
            database.session,
            TenantSpec(**DEMO_TENANT, key_vehicle_unit=True),
            AccountSpec("demo-admin", "张工（企业管理员）", pw),
            actor,
        )
        await add_tenant_user(
            database.session, tenant_id, AccountSpec("demo-manager", "李工（环保管理员）", pw), Role.MANAGER, actor
        )
        await add_tenant_user(
            database.session, tenant_id, AccountSpec("demo-guard", "王师傅（门岗）", pw), Role.GUARD, actor
        )
        await create_staff_account(
            database.session, AccountSpec("wuhan-regulator", "武汉市生态环境局", pw), "regulator", "4201"
        )
        await create_staff_account(database.session, AccountSpec("platform-admin", "平台管理员", pw), "platform_admin")
        scope = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="demo-seed")
        async with database.session(scope) as session, session.begin():
            site = m.Site(tenant_id=tenant_id, name="青山厂区", address="湖北省武汉市青山区工人村路")
            session.add(site)
            await session.flush()
            for code, name in (("G1", "东门（原料入口）"), ("G2", "北门（成品出口）")):
                gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code=code, name=name)
                session.add(gate)
                await session.flush()
                for lane_code, direction, label in (("1", "in", "入口"), ("2", "out", "出口")):
                    session.add(
                        m.Lane(
                            tenant_id=tenant_id,
                            gate_id=gate.id,
                            code=f"{code}-{lane_code}",
                            name=f"{name}{label}",
                            direction=direction,
                        )
                    )
        return DemoSeed(tenant_id, created=True)
    finally:
        await database.dispose()


def _banner(url: str, seed_result: DemoSeed) -> str:
    lines = [
        "",
        "=" * 64,
        " EcoGate 环保门禁电子台账云平台 — 演示环境已启动",
        "=" * 64,
        f" 门户与 API:   {url}/",
        f" API 文档:     {url}/schema",
        f" 演示企业:     {DEMO_TENANT['name']}（{'新建' if seed_result.created else '已存在'}）",
        f" 登录账号（密码均为 {DEMO_PASSWORD}）:",
    ]
    lines += [f"   {login:<18} {label}" for login, label in LOGINS.items()]
    lines += [" 按 Ctrl-C 停止所有服务。", "=" * 64, ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the demo until Ctrl-C (or ``--seconds``)."""
    parser = argparse.ArgumentParser(prog="ecogate demo", description="一键演示")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ECOGATE_PORT", "8000")))
    parser.add_argument("--seconds", type=float, default=0, help="运行指定秒数后自动停止（用于冒烟测试）")
    args = parser.parse_args(argv)

    import uvicorn  # noqa: PLC0415

    from cloud.app import create_app  # noqa: PLC0415
    from cloud.cli._common import data_dir, ensure_dev_database  # noqa: PLC0415
    from cloud.db import migrate  # noqa: PLC0415
    from cloud.logging import configure_logging  # noqa: PLC0415
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415

    configure_logging()
    embedded = not os.environ.get("DATABASE_URL")
    print("正在启动内置 PostgreSQL 并迁移数据库 …", flush=True)
    settings = ensure_dev_database()
    try:
        migrate.upgrade(settings.database.owner_url)
        result = asyncio.run(seed(settings))
        url = f"http://127.0.0.1:{args.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=args.port, log_level="warning", ws="websockets-sansio"
        )
        server = uvicorn.Server(config)

        async def run() -> None:
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
                await asyncio.sleep(0.05)
            if server.started:
                print(_banner(url, result), flush=True)
            if args.seconds:
                await asyncio.wait({task}, timeout=args.seconds)
                server.should_exit = True
            await task

        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        if embedded:
            EmbeddedPostgres(data_dir() / "pg").stop()
        print("演示已停止，所有服务均已关闭。", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
