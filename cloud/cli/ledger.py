"""``ecogate ledger …``: verify the tamper evidence of an enterprise's ledger, anchor chain heads, run checks.

``verify`` works two ways:

* against the database (operators; ``DATABASE_APP_URL``), or
* through the portal API with a login (``--url``), which is how an enterprise user or a regulator
  checks an enterprise of their region without database access.

Both can take the anchors the verifier kept (``--anchors FILE``, the JSON list that ``anchors --out``
or the portal gives): deleting the newest records or re-hashing a whole chain is caught only against
an anchor kept outside the database. Exit code 0 = intact, 1 = broken (the first bad record is
printed), 2 = could not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloud.cli._common import fail

if TYPE_CHECKING:
    from cloud.db.engine import Database


def _print(text: str) -> None:
    print(text)  # noqa: T201 - command-line output


def _load_anchors(path: str | None) -> list[dict[str, Any]]:
    if not path:
        return []
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(x, dict) for x in items):
        raise ValueError("锚点文件应为锚点对象或其列表（JSON）")
    return items


def _show(report: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print(report["summary"])
        for problem in report["problems"]:
            where = f"（{problem['record_type']} {problem['record_id']}）" if problem.get("record_id") else ""
            _print(f"  - [{problem['chain']}] {problem['code']}: {problem['message']}{where}")
    return 0 if report["ok"] else 1


def main(argv: list[str]) -> int:
    """Run ``ecogate ledger SUBCOMMAND``."""
    parser = argparse.ArgumentParser(prog="ecogate ledger", description="台账防篡改校验、锚定与逻辑校验")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="校验代理哈希链、云端链与锚点，报告第一个被破坏的记录")
    verify.add_argument("--tenant", required=True, help="企业（租户）ID")
    verify.add_argument("--anchors", help="自行保存的锚点文件（JSON）")
    verify.add_argument("--url", help="通过门户 API 校验（如 https://ecogate.example.cn），监管人员使用")
    verify.add_argument("--login", help="门户登录名（与 --url 同用）")
    verify.add_argument("--password", help="门户密码（省略则交互输入）")
    verify.add_argument("--json", action="store_true", help="输出 JSON 报告")
    anchor = sub.add_parser("anchor", help="锚定链头（每日定时或按需），可写出锚点文件")
    group = anchor.add_mutually_exclusive_group(required=True)
    group.add_argument("--tenant", help="企业（租户）ID")
    group.add_argument("--all", action="store_true", help="所有企业（每日锚定）")
    anchor.add_argument("--out", help="把新锚点追加写入该 JSON 文件（保存在数据库之外）")
    anchors = sub.add_parser("anchors", help="导出企业的锚点（JSON）")
    anchors.add_argument("--tenant", required=True)
    anchors.add_argument("--out", required=True)
    run = sub.add_parser("checks", help="立即运行逻辑校验")
    run.add_argument("--tenant", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            external = _load_anchors(args.anchors)
            if args.url:
                password = args.password or getpass.getpass("门户密码: ")
                report = _verify_api(args.url, args.login or "", password, uuid.UUID(args.tenant), external)
            else:
                report = asyncio.run(_verify_db(uuid.UUID(args.tenant), external))
            return _show(report, args.json)
        if args.command == "anchor":
            made = asyncio.run(_anchor(None if args.all else uuid.UUID(args.tenant)))
            if args.out:
                path = Path(args.out)
                kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
                path.write_text(json.dumps([*kept, *made], ensure_ascii=False, indent=2), encoding="utf-8")
            for item in made:
                _print(f"已锚定 企业 {item['tenant_id']} 锚点 {item['anchor_hash']}（{item['anchored_at']}）")
            return 0
        if args.command == "anchors":
            items = asyncio.run(_list_anchors(uuid.UUID(args.tenant)))
            Path(args.out).write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")
            _print(f"已导出 {len(items)} 个锚点到 {args.out}")
            return 0
        done = asyncio.run(_checks(uuid.UUID(args.tenant)))
        _print(f"已校验 {done['passes']} 条通行记录、{done['vehicles']} 辆车，新增 {done['flags']} 个标记")
    except (ValueError, OSError, RuntimeError) as exc:
        fail(str(exc))
        return 2
    return 0


def _principal(tenant_id: uuid.UUID | None) -> Any:
    from tenants.context import Principal, Role  # noqa: PLC0415

    return Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="cli")


def _database() -> Database:
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415

    return Database.from_settings(Settings.from_env().database)


async def _verify_db(tenant_id: uuid.UUID, external: list[dict[str, Any]]) -> dict[str, Any]:
    from cloud.compliance import chain  # noqa: PLC0415

    database = _database()
    try:
        async with database.session(_principal(tenant_id)) as session, session.begin():
            report = await session.run_sync(lambda s: chain.verify(s, tenant_id, external))
        return chain.report_json(report)
    finally:
        await database.dispose()


def _verify_api(
    url: str, login: str, password: str, tenant_id: uuid.UUID, external: list[dict[str, Any]]
) -> dict[str, Any]:
    import httpx  # noqa: PLC0415

    base = url.rstrip("/")
    with httpx.Client(base_url=base, timeout=300) as client:
        response = client.post("/api/v1/auth/login", json={"login": login, "password": password})
        if response.status_code != 200:
            raise RuntimeError(f"登录失败：{response.json().get('detail', response.text)}")
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        answer = client.post(
            f"/api/v1/enterprises/{tenant_id}/ledger/verify", json={"anchors": external}, headers=headers
        )
        if answer.status_code != 200:
            raise RuntimeError(f"校验请求失败（HTTP {answer.status_code}）：{answer.json().get('detail', answer.text)}")
        result: dict[str, Any] = answer.json()
        return result


async def _tenants(database: Database) -> list[uuid.UUID]:
    from cloud.compliance import emergency  # noqa: PLC0415

    return await emergency.all_tenants(database, _principal(None))


async def _anchor(tenant_id: uuid.UUID | None) -> list[dict[str, Any]]:
    from cloud.compliance import chain, service  # noqa: PLC0415

    database = _database()
    try:
        targets = [tenant_id] if tenant_id else await _tenants(database)
        made: list[dict[str, Any]] = []
        for target in targets:
            async with database.session(_principal(target)) as session, session.begin():
                kind = "on_demand" if tenant_id else "daily"
                anchor: dict[str, Any] = await session.run_sync(chain.make_anchor, target, kind, None)
                await service.echo_anchor(session, target, anchor)
            made.append(anchor)
        return made
    finally:
        await database.dispose()


async def _list_anchors(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    from cloud.compliance import chain  # noqa: PLC0415

    database = _database()
    try:
        async with database.session(_principal(tenant_id)) as session, session.begin():
            items: list[dict[str, Any]] = await session.run_sync(lambda s: chain.list_anchors(s, tenant_id, 100_000))
            return items
    finally:
        await database.dispose()


async def _checks(tenant_id: uuid.UUID) -> dict[str, int]:
    from cloud.compliance import checks  # noqa: PLC0415

    database = _database()
    try:
        async with database.session(_principal(tenant_id)) as session, session.begin():
            run = await checks.run_checks(session, tenant_id)
        return {"passes": run.passes_checked, "vehicles": run.vehicles_checked, "flags": run.flags_added}
    finally:
        await database.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
