"""``ecogate agent …``: dispatches to lazily imported subcommand modules, each with ``main(argv)``."""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "recognize": ("agent.vision.cli", "识别图片或视频中的车牌，每条结果输出一行 JSON"),
    "check-config": ("agent.runtime.cli_check", "检查代理配置文件"),
    "run": ("agent.runtime.cli_run", "按配置文件启动代理"),
    "hash-pin": ("agent.booth.auth", "生成门岗 PIN 的 argon2 哈希（填入 [[booth.guards]] pin_hash）"),
    "enroll": ("agent.sync.cli_enroll", "用一次性注册码向云端注册本代理"),
    "commission": ("agent.commission.cli", "车道调试：发现相机与串口设备，测试道闸、地磅、LED 并保存配置"),
    "doctor": ("agent.ops.doctor", "体检：串口、相机、磁盘、时钟同步、云端连通与服务状态（中文报告）"),
    "upgrade": ("agent.ops.release", "安装新版本并切换；健康检查失败则自动回滚"),
}


def main(argv: list[str]) -> int:
    """Run ``ecogate agent SUBCOMMAND ...``."""
    if not argv or argv[0] in {"-h", "--help"}:
        print("用法: ecogate agent <子命令> [参数...]\n\n子命令:")  # noqa: T201
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<14} {text}")  # noqa: T201
        return 0
    entry = COMMANDS.get(argv[0])
    if entry is None:
        print(f"未知子命令: {argv[0]}", file=sys.stderr)  # noqa: T201
        return 2
    code: int = importlib.import_module(entry[0]).main(argv[1:])
    return code
