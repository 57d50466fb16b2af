"""``ecogate agent check-config FILE``: validate the agent configuration and say what it describes."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.runtime.config import ConfigError, device_configs, load_config

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Check ``argv[0]``; print the findings in Chinese; 0 = valid, 2 = invalid or usage error."""
    if len(argv) != 1 or argv[0] in {"-h", "--help"}:
        print("用法: ecogate agent check-config <配置文件.toml>", file=sys.stderr)  # noqa: T201
        return 2 if len(argv) != 1 else 0
    path = Path(argv[0])
    try:
        cfg = load_config(path)
        devices = device_configs(cfg)
    except ConfigError as exc:
        print(f"配置文件 {path} 有 {len(exc.errors)} 处错误：", file=sys.stderr)  # noqa: T201
        for error in exc.errors:
            print(f"  - {error}", file=sys.stderr)  # noqa: T201
        return 2
    print(  # noqa: T201
        f"配置有效：代理 {cfg.agent.id}，厂区 {cfg.site.name}（{cfg.site.id}），"
        f"车道 {len(cfg.lanes)} 条，相机 {len(cfg.cameras)} 台，设备 {len(devices)} 台，"
        f"岗亭{'启用' if cfg.booth.enabled else '停用'}，数据目录 {cfg.agent.data_dir}"
    )
    for lane in cfg.lanes:
        print(  # noqa: T201
            f"  车道 {lane.id}（{lane.name}，{lane.direction.label}）：来源 {lane.source.type}，"
            f"道闸 {lane.barrier or '无'}，LED {lane.led or '无'}"
        )
    return 0
