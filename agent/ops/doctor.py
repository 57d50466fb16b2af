"""``ecogate agent doctor CONFIG``: one Chinese report of everything an installer checks at a gate (issue 21).

* the configuration file (as ``check-config``);
* the machine: serial ports, cameras, disk budget (``agent.runtime.cli_check.check_environment``);
* the clock: synchronised by systemd-timesyncd or chrony, and within 30 s of the cloud's clock
  (北京时间 records: REGULATION.md asks for accurate pass times; the hub flags a skew above 30 s);
* the cloud: enrolled (credential present), ``/health`` answering over the hub's host;
* the service: ``systemctl is-active ecogate-agent`` where systemd runs.

Exit code 0 when nothing is an error (warnings allowed), 1 otherwise, 2 for an unreadable config.
``--json`` prints the findings as JSON for the upgrade tool and monitoring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from agent.runtime.cli_check import Finding, check_environment
from agent.runtime.config import AgentConfig, ConfigError, load_config
from agent.sync.enroll import load_credential

__all__ = ["SKEW_LIMIT_S", "Report", "diagnose", "main"]

#: The cloud flags an agent clock further off than this (cloud/hub/handler.py CLOCK_SKEW_LIMIT_S).
SKEW_LIMIT_S = 30.0
SERVICE = "ecogate-agent"


@dataclass
class Report:
    """The findings of one run, in the order they were made."""

    findings: list[tuple[str, Finding]]

    @property
    def errors(self) -> int:
        """How many findings are errors."""
        return sum(f.level == "error" for _, f in self.findings)

    @property
    def warnings(self) -> int:
        """How many findings are warnings."""
        return sum(f.level == "warn" for _, f in self.findings)


def _command(args: list[str], timeout_s: float = 5.0) -> subprocess.CompletedProcess[str] | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        # Fixed system tools (timedatectl, chronyc, systemctl) with constant arguments.
        return subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout_s)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_time_sync() -> Finding:
    """Whether the system clock is kept by NTP (systemd-timesyncd via timedatectl, or chrony)."""
    result = _command(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if result is not None and result.returncode == 0 and result.stdout.strip() in {"yes", "no"}:
        if result.stdout.strip() == "yes":
            return Finding("ok", "系统时钟已与 NTP 同步（timedatectl）")
        return Finding("warn", "系统时钟未与 NTP 同步：请启用 systemd-timesyncd 或 chrony（过车时间须准确）")
    result = _command(["chronyc", "-n", "tracking"])
    if result is not None and result.returncode == 0:
        normal = "Leap status     : Normal" in result.stdout
        if normal:
            return Finding("ok", "系统时钟已由 chrony 同步")
        return Finding("warn", "chrony 未处于同步状态（Leap status 非 Normal）")
    return Finding("warn", "无法确认时间同步（无 timedatectl/chrony 状态）：以下以云端时钟比对为准")


def _health_url(hub: str) -> str:
    parts = urlsplit(hub)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))


def check_cloud(cfg: AgentConfig, timeout_s: float) -> list[Finding]:
    """Enrolment, cloud reachability and the clock difference to the cloud."""
    if cfg.cloud is None:
        return [Finding("ok", "未配置云端同步（仅本地运行）")]
    data_dir = Path(cfg.cloud.credential_file).parent if cfg.cloud.credential_file else Path(cfg.agent.data_dir)
    credential = load_credential(data_dir)
    hub = cfg.cloud.url or (credential.hub_url if credential else "")
    findings = [
        Finding("ok", f"已注册到云端（代理 {credential.agent_id}）")
        if credential
        else Finding("error", "未找到注册凭据：请用 ecogate agent enroll 注册本代理")
    ]
    if not hub:
        return [*findings, Finding("error", "未知云端地址（配置 [cloud] url 或先注册）")]
    url = _health_url(hub)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - http(s) only, built above
            date = answer.headers.get("Date")
            status = answer.status
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return [*findings, Finding("error", f"云端不可达：{url}（{getattr(exc, 'reason', exc)}）")]
    elapsed_ms = (time.monotonic() - started) * 1000
    findings.append(Finding("ok", f"云端可达：{url} 状态 {status}，往返 {elapsed_ms:.0f} 毫秒"))
    if date:
        cloud_now = email.utils.parsedate_to_datetime(date)
        skew = abs((dt.datetime.now(dt.UTC) - cloud_now).total_seconds())
        level = "ok" if skew <= SKEW_LIMIT_S else "error"
        findings.append(Finding(level, f"本机时钟与云端相差 {skew:.0f} 秒（上限 {SKEW_LIMIT_S:.0f} 秒）"))
    return findings


def check_service() -> Finding | None:
    """Whether the systemd service runs (None where systemd is not the init system)."""
    if not Path("/run/systemd/system").exists():
        return None
    result = _command(["systemctl", "is-active", SERVICE])
    if result is None:
        return None
    state = result.stdout.strip()
    if state == "active":
        return Finding("ok", f"服务 {SERVICE} 运行中")
    return Finding("error", f"服务 {SERVICE} 未运行（状态 {state or '未知'}）：systemctl status {SERVICE} 查看原因")


def diagnose(cfg: AgentConfig, *, timeout_s: float = 3.0, probe: bool = True) -> Report:
    """Every check, grouped under a Chinese heading."""
    findings: list[tuple[str, Finding]] = []
    if probe:
        findings += [("设备与磁盘", f) for f in check_environment(cfg, timeout_s=timeout_s)]
    findings.append(("时间", check_time_sync()))
    findings += [("云端", f) for f in check_cloud(cfg, timeout_s)]
    service = check_service()
    if service is not None:
        findings.append(("服务", service))
    return Report(findings)


def main(argv: list[str]) -> int:
    """Run the doctor; print the report; exit code as in the module docstring."""
    parser = argparse.ArgumentParser(
        prog="ecogate agent doctor", description="门岗代理体检：设备、磁盘、时钟、云端、服务"
    )
    parser.add_argument("config", help="配置文件（TOML）")
    parser.add_argument("--timeout", type=float, default=3.0, help="每项探测的超时（秒）")
    parser.add_argument("--no-probe", action="store_true", help="不探测串口、相机与磁盘")
    parser.add_argument("--json", action="store_true", help="输出 JSON")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(Path(args.config))
    except ConfigError as exc:
        print(f"配置文件 {args.config} 有 {len(exc.errors)} 处错误，无法体检：", file=sys.stderr)  # noqa: T201
        for error in exc.errors:
            print(f"  - {error}", file=sys.stderr)  # noqa: T201
        return 2
    report = diagnose(cfg, timeout_s=args.timeout, probe=not args.no_probe)
    if args.json:
        items = [{"group": g, "level": f.level, "text": f.text} for g, f in report.findings]
        print(json.dumps({"errors": report.errors, "warnings": report.warnings, "findings": items}, ensure_ascii=False))  # noqa: T201
        return 1 if report.errors else 0
    print(f"门岗代理体检：代理 {cfg.agent.id}，厂区 {cfg.site.name}")  # noqa: T201
    mark = {"ok": "✓", "warn": "！", "error": "✗"}
    group = ""
    for heading, finding in report.findings:
        if heading != group:
            print(f"【{heading}】")  # noqa: T201
            group = heading
        print(f"  {mark[finding.level]} {finding.text}")  # noqa: T201
    verdict = "体检未通过" if report.errors else "体检通过"
    print(f"{verdict}：{report.errors} 处错误，{report.warnings} 处警告")  # noqa: T201
    return 1 if report.errors else 0
