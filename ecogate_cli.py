"""The ``ecogate`` console script: a thin dispatcher over lazily imported command groups.

Each group lives in its own package and is imported only when used, so an install with just the
``agent`` extra never imports Litestar, SQLAlchemy or Stripe (ARCHITECTURE.md).
A group module exposes ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys

GROUPS: dict[str, tuple[str, str]] = {
    "db": ("cloud.cli.db", "数据库：启动内置 PostgreSQL、建库建角色、迁移"),
    "tenant": ("cloud.cli.tenant", "租户（企业）开通与查看"),
    "user": ("cloud.cli.user", "用户账号管理"),
    "cloud": ("cloud.cli.serve", "运行云端服务"),
    "ledger": ("cloud.cli.ledger", "台账：哈希链校验等"),
    "billing": ("cloud.cli.billing", "订阅与收费：催缴检查（付款失败→宽限期→受限）、收费概况"),
    "retention": ("cloud.cli.retention", "保存期限：清除超期照片与视频（记录永久保留）、司法保全"),
    "backup": ("cloud.cli.backup", "备份与恢复：基础备份、WAL 归档、照片副本、时间点恢复演练"),
    "blacklist": ("cloud.cli.blacklist", "超标排放车辆黑名单导入"),
    "uplink": ("cloud.cli.uplink", "监管平台上传：配置、运行上传进程、补传、上传率"),
    "agents": ("cloud.cli.agents", "云端管理边缘代理：生成注册码、查看运行状态"),
    "agent": ("agent.cli", "门岗边缘代理：识别、运行、配置检查、注册"),
    "demo": ("infra.demo", "一键演示：内置数据库、云端、监管平台模拟器与代理"),
}


def _usage() -> str:
    lines = ["用法: ecogate <命令组> [参数...]", "", "命令组:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in GROUPS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``ecogate GROUP ...`` to the group's ``main``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    group = GROUPS.get(args[0])
    if group is None:
        print(f"未知命令组: {args[0]}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(group[0])
    code: int = module.main(args[1:])
    return code


if __name__ == "__main__":
    sys.exit(main())
