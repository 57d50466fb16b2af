"""``ecogate agent enroll CODE --cloud URL [--data DIR] [--config FILE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.sync.enroll import EnrollError, enroll, save_credential


def main(argv: list[str]) -> int:
    """Exchange the code and store the credential; exit 0 on success, 1 when refused, 2 on bad usage."""
    parser = argparse.ArgumentParser(prog="ecogate agent enroll", description="用一次性注册码向云端注册本代理")
    parser.add_argument("code", help="注册码（由企业管理员或安装人员在平台生成）")
    parser.add_argument("--cloud", required=True, help="云平台地址，如 https://ecogate.example.cn")
    parser.add_argument("--data", help="代理数据目录（默认取配置文件 [agent] data_dir，或 ./data）")
    parser.add_argument("--config", help="代理配置文件（用来找到数据目录）")
    args = parser.parse_args(argv)
    data = Path(args.data) if args.data else _data_from_config(args.config)
    try:
        credential = enroll(args.code, args.cloud, software="ecogate-agent")
    except EnrollError as exc:
        print(f"注册失败：{exc}", file=sys.stderr)  # noqa: T201
        return 1
    path = save_credential(data, credential)
    print(f"注册成功：代理 {credential.agent_id}（{credential.name}），凭据已保存到 {path}")  # noqa: T201
    return 0


def _data_from_config(config: str | None) -> Path:
    if config is None:
        return Path("data")
    from agent.runtime.config import load_config  # noqa: PLC0415 - only when a config is given

    return load_config(Path(config)).data_path
