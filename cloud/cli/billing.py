"""``ecogate billing sweep|overview``: the dunning sweep (run hourly) and the platform's billing figures (issue 22)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid

from cloud.cli._common import fail


def _print(text: str) -> None:
    print(text)  # noqa: T201


async def _sweep(now: dt.datetime) -> int:
    from cloud.billing import service, stages  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415

    database = Database.from_settings(Settings.from_env().database)
    try:
        changed = await service.sweep(database, now)
    finally:
        await database.dispose()
    for tenant_id, stage in changed:
        _print(f"{tenant_id}：账户状态变为“{stages.LABELS[stage]}”（已记录审计并生成通知）")
    _print(f"催缴检查完成：{len(changed)} 家企业状态变化")
    return 0


async def _overview() -> int:
    from cloud.billing import service, stages  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import Settings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    actor = Principal(user_id=uuid.UUID(int=0), role=Role.PLATFORM_ADMIN, login="cli")
    database = Database.from_settings(Settings.from_env().database)
    try:
        o = await service.overview(database, actor)
    finally:
        await database.dispose()
    _print(f"月经常性收入：¥{o.mrr_fen / 100:,.2f}；计费企业 {len(o.rows)} 家")
    _print(f"逾期 {len(o.past_due)} 家，试用 {len(o.trials)} 家")
    for r in o.past_due:
        _print(f"  逾期：{r.tenant_name}（{stages.LABELS[r.stage]}，自 {r.past_due_since:%Y-%m-%d}）")
    for r in o.trials:
        _print(f"  试用：{r.tenant_name}（至 {r.trial_ends_at:%Y-%m-%d}）")
    return 0


def main(argv: list[str]) -> int:
    """Run ``ecogate billing …``."""
    parser = argparse.ArgumentParser(prog="ecogate billing", description="订阅与收费：催缴检查、收费概况")
    sub = parser.add_subparsers(dest="command", required=True)
    sweep = sub.add_parser("sweep", help="推进逾期账户的状态（付款失败→宽限期→受限），建议每小时运行")
    sweep.add_argument("--now", help="以此时刻为“现在”（ISO 8601，演练用）")
    sub.add_parser("overview", help="月经常性收入、逾期企业、试用到期")
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
            if now.tzinfo is None:
                now = now.replace(tzinfo=dt.UTC)
            return asyncio.run(_sweep(now))
        return asyncio.run(_overview())
    except (RuntimeError, ValueError) as exc:
        return fail(str(exc))
