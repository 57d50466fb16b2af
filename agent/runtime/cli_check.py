"""``ecogate agent check-config FILE``: validate the agent configuration and check it against this machine.

Besides the file itself (keys, types, references), it checks what the agent will meet at start
(issue 16, finding 6):

* every serial port of a device exists and opens (a ``socket://host:port`` serial server answers a
  TCP connect) — a missing port is an error;
* every camera is reachable: a stream URL's host answers a TCP connect within ``--timeout`` seconds,
  a video file or image folder exists — an unreachable camera is an error;
* the outbox's disk budget (``[outbox]``: days × passes per day × bytes per pass) against the free
  space of the data folder's disk, with what will be given up first when space runs short — a budget
  larger than the free space is a warning, free space already under the degrade line (every new
  photo would be shrunk or dropped at once) a louder one.

Exit code: 0 valid (warnings allowed), 1 the file is valid but a check failed, 2 the file is invalid
(or usage error). ``--no-probe`` checks the file only (a config written for another machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from agent.outbox.store import MiB, OutboxSettings
from agent.runtime.config import AgentConfig, ConfigError, device_configs, load_config

__all__ = ["Finding", "check_environment", "main"]

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443}
_STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
GiB = 1024 * MiB

#: What the outbox gives up, in order, when the disk runs short (docs/adr/0003; events never).
DROP_ORDER = (
    "① 删除已上传云端且超过保留天数的记录",
    "② 压缩最早记录的照片、删除其视频片段（已上传的优先）",
    "③ 删除最早记录的照片（已上传的优先）",
    "通行事件记录本身永不删除；连事件都写不下时道闸保持关闭并报警",
)


class Finding:
    """One check result: ``level`` is ``ok``, ``warn`` or ``error``."""

    __slots__ = ("level", "text")

    def __init__(self, level: str, text: str) -> None:
        self.level = level
        self.text = text

    def __repr__(self) -> str:
        return f"Finding({self.level!r}, {self.text!r})"


def _tcp(host: str, port: int, timeout_s: float) -> str | None:
    """None when ``host:port`` accepts a TCP connection, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _check_port(name: str, port: str, timeout_s: float) -> Finding:
    if port.startswith("socket://"):
        parts = urlsplit(port)
        if not parts.hostname or parts.port is None:
            return Finding("error", f"设备 {name}：串口服务器地址 {port} 缺少主机或端口")
        why = _tcp(parts.hostname, parts.port, timeout_s)
        if why is not None:
            return Finding("error", f"设备 {name}：串口服务器 {port} 无法连接（{why}）")
        return Finding("ok", f"设备 {name}：串口服务器 {port} 可连接")
    if not os.path.exists(port):  # noqa: PTH110 - a device node, not a file we read
        return Finding("error", f"设备 {name}：串口 {port} 不存在（检查接线、USB 转串口驱动或设备名）")
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        hint = "（权限不足：把运行用户加入 dialout 组）" if exc.errno in {13, 1} else ""
        return Finding("error", f"设备 {name}：串口 {port} 无法打开：{exc.strerror or exc}{hint}")
    os.close(fd)
    return Finding("ok", f"设备 {name}：串口 {port} 可打开")


def _check_camera(camera_id: str, url: str, timeout_s: float) -> Finding:
    if url.lower().startswith(_STREAM_SCHEMES):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            return Finding("error", f"相机 {camera_id}：地址 {parts.scheme}://{parts.hostname or ''} 缺少主机或端口")
        where = f"{parts.hostname}:{port}"
        if scheme == "udp":
            return Finding("warn", f"相机 {camera_id}：UDP 地址 {where} 无法预先探测，请在运行日志中确认有画面")
        why = _tcp(parts.hostname, port, timeout_s)
        if why is not None:
            return Finding("error", f"相机 {camera_id}：{where} 在 {timeout_s:g} 秒内无法连接（{why}）")
        return Finding("ok", f"相机 {camera_id}：{where} 可连接")
    path = Path(url)
    if not path.exists():
        return Finding("error", f"相机 {camera_id}：视频文件或图片目录 {url} 不存在")
    return Finding("ok", f"相机 {camera_id}：{'图片目录' if path.is_dir() else '视频文件'} {url} 存在")


def _free_bytes(folder: Path) -> tuple[Path, int]:
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free


def _check_disk(cfg: AgentConfig, free: int | None = None) -> list[Finding]:
    s: OutboxSettings = cfg.outbox
    probe, measured = _free_bytes(cfg.data_path)
    free = measured if free is None else free
    per_day = s.passes_per_day * s.bytes_per_pass
    budget = s.budget_bytes
    head = (
        f"磁盘：数据目录所在磁盘（{probe}）可用 {free / GiB:.1f} GiB；容量预算 {budget / GiB:.1f} GiB"
        f"（{s.budget_days} 天 × 每天 {s.passes_per_day} 次 × 每次 {s.bytes_per_pass / MiB:.2f} MiB）"
    )
    out: list[Finding] = []
    if free < s.degrade_free_bytes:
        out.append(
            Finding(
                "warn",
                f"{head}。可用空间已低于降级线 {s.degrade_free_bytes / GiB:.1f} GiB（{s.degrade_days:g} 天用量）："
                "启动后新照片会立即被压缩或删除。请清理磁盘、换更大的磁盘，或在 [outbox] 中调小 passes_per_day / "
                "bytes_per_pass / degrade_days",
            )
        )
    elif budget > free:
        days = max(0.0, (free - s.degrade_free_bytes) / per_day) if per_day else 0.0
        out.append(
            Finding(
                "warn",
                f"{head}。预算超过可用空间：约 {days:.0f} 天后开始释放媒体（低于 {s.alarm_days:g} 天用量时先报警）。"
                "请调小 [outbox] budget_days 或换更大的磁盘",
            )
        )
    else:
        out.append(Finding("ok", head))
    out.append(Finding("ok", "空间不足时释放顺序：" + "；".join(DROP_ORDER)))
    return out


def check_environment(cfg: AgentConfig, *, timeout_s: float = 2.0, free_bytes: int | None = None) -> list[Finding]:
    """The machine checks of ``cfg``: serial ports, cameras, disk budget (module docstring)."""
    findings: list[Finding] = []
    for name, (_section, device) in sorted(device_configs(cfg).items()):
        port = getattr(device, "port", None)
        if isinstance(port, str):
            findings.append(_check_port(name, port, timeout_s))
    findings.extend(_check_camera(camera.id, camera.url, timeout_s) for camera in cfg.cameras)
    findings.extend(_check_disk(cfg, free_bytes))
    return findings


def main(argv: list[str]) -> int:
    """Check the file; print the findings in Chinese; exit code as in the module docstring."""
    parser = argparse.ArgumentParser(prog="ecogate agent check-config", description="检查代理配置文件与本机环境")
    parser.add_argument("config", help="配置文件（TOML）")
    parser.add_argument("--no-probe", action="store_true", help="只检查文件本身，不探测串口、相机和磁盘")
    parser.add_argument("--timeout", type=float, default=2.0, help="相机与串口服务器的连接超时（秒）")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    path = Path(args.config)
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
    if args.no_probe:
        return 0
    findings = check_environment(cfg, timeout_s=args.timeout)
    mark = {"ok": "✓", "warn": "！", "error": "✗"}
    for finding in findings:
        stream = sys.stderr if finding.level == "error" else sys.stdout
        print(f"  {mark[finding.level]} {finding.text}", file=stream)
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warn" for f in findings)
    if errors:
        print(f"环境检查未通过：{errors} 处错误，{warnings} 处警告", file=sys.stderr)  # noqa: T201
        return 1
    print(f"环境检查通过{f'（{warnings} 处警告）' if warnings else ''}")  # noqa: T201
    return 0
