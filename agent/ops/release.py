"""``ecogate agent upgrade BUNDLE``: install a new release beside the running one, switch, roll back if unhealthy.

Layout under the prefix (default ``/opt/ecogate-agent``, infra/agent_pkg/install.sh creates it)::

    releases/<version>/        one folder per release: VERSION, wheels/, venv/
    current -> releases/<v>     what the systemd unit runs (ExecStart=…/current/venv/bin/ecogate agent run …)
    upgrade.log                 one JSON line per step, for the installer and the cloud's support staff

An upgrade never touches the running release: the new one is installed into ``releases/<v>.partial`` (a
venv from the bundle's wheels, offline), checked (``check-config --no-probe`` on the plant's config with
the new code), then ``current`` is switched atomically and the service restarted. The service must then
stay healthy for ``stable_s`` seconds within ``timeout_s``; otherwise ``current`` goes back to the previous
release, the service is restarted on it and the upgrade exits 1 — the gate is never left on a build that
does not run. Health by default: the unit is ``active`` and its restart counter did not move.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

__all__ = ["Upgrade", "UpgradeError", "main"]

log = structlog.get_logger(__name__)

SERVICE = "ecogate-agent"
KEEP_RELEASES = 3


class UpgradeError(RuntimeError):
    """The upgrade stopped; the message (Chinese) says where, and whether the old release runs."""


def _run(args: Sequence[str], timeout_s: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=timeout_s)  # noqa: S603


def _systemd_health() -> Callable[[], bool]:
    """Healthy = the unit is active and has not restarted since this check was created."""

    def restarts() -> str:
        return _run(["systemctl", "show", SERVICE, "-p", "NRestarts", "--value"]).stdout.strip()

    baseline = restarts()

    def healthy() -> bool:
        active = _run(["systemctl", "is-active", SERVICE]).stdout.strip() == "active"
        return active and restarts() == baseline

    return healthy


@dataclass
class Upgrade:
    """One upgrade run (see the module docstring)."""

    prefix: Path
    config: Path
    restart: Sequence[str] = ("systemctl", "restart", SERVICE)
    health_command: Sequence[str] | None = None
    timeout_s: float = 120.0
    stable_s: float = 20.0
    poll_s: float = 2.0
    python: str = sys.executable
    events: list[dict[str, str]] = field(default_factory=list)

    @property
    def current(self) -> Path:
        """The symlink the service runs."""
        return self.prefix / "current"

    def _log(self, step: str, **detail: str) -> None:
        entry = {"at": dt.datetime.now(dt.UTC).isoformat(), "step": step, **detail}
        self.events.append(entry)
        with (self.prefix / "upgrade.log").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        log.info("agent.upgrade", step=step, **detail)

    def install(self, bundle: Path) -> Path:
        """Install ``bundle`` as ``releases/<version>`` (reused when already complete); its folder."""
        version = (bundle / "VERSION").read_text(encoding="utf-8").strip()
        if not version or "/" in version or version.startswith("."):
            raise UpgradeError(f"安装包版本号无效：{version!r}")
        releases = self.prefix / "releases"
        final = releases / version
        if (final / "venv" / "bin" / "ecogate").exists():
            self._log("reuse", version=version)
            return final
        partial = releases / f"{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(bundle, partial, symlinks=True)
        if not (partial / "venv" / "bin" / "ecogate").exists():
            self._log("venv", version=version)
            made = _run([self.python, "-m", "venv", str(partial / "venv")])
            if made.returncode != 0:
                raise UpgradeError(f"新版本 {version} 创建运行环境失败：{made.stderr.strip()[-500:]}")
            pip = [str(partial / "venv" / "bin" / "pip"), "install", "--no-index", "--find-links"]
            result = _run([*pip, str(partial / "wheels"), "ecogate[agent]"])
            if result.returncode != 0:
                raise UpgradeError(f"新版本 {version} 安装失败（离线安装包不完整？）：{result.stderr.strip()[-500:]}")
        partial.rename(final)
        self._log("installed", version=version)
        return final

    def _check(self, release: Path) -> None:
        result = _run(
            [str(release / "venv" / "bin" / "ecogate"), "agent", "check-config", "--no-probe", str(self.config)]
        )
        if result.returncode != 0:
            self._log("refused", release=release.name, reason=result.stderr.strip()[-300:])
            raise UpgradeError(f"新版本 {release.name} 不接受现有配置，未切换：{result.stderr.strip()[-300:]}")

    def _switch(self, release: Path) -> None:
        link = self.prefix / ".current.new"
        link.unlink(missing_ok=True)
        link.symlink_to(Path("releases") / release.name)
        link.replace(self.current)  # rename(2): the service sees the old or the new target, never none

    def _restart(self) -> None:
        result = _run(self.restart, timeout_s=120.0)
        if result.returncode != 0:
            self._log("restart_failed", stderr=result.stderr.strip()[-300:])

    def _healthy(self) -> bool:
        check: Callable[[], bool]
        if self.health_command is not None:
            command = list(self.health_command)

            def check() -> bool:
                return _run(command, timeout_s=30.0).returncode == 0
        else:
            check = _systemd_health()
        deadline = time.monotonic() + self.timeout_s
        good_since: float | None = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if check():
                good_since = good_since or now
                if now - good_since >= self.stable_s:
                    return True
            else:
                good_since = None
            time.sleep(self.poll_s)
        return False

    def run(self, bundle: Path) -> Path:
        """Install, check, switch, restart, verify; roll back on failure. The release that runs afterwards."""
        previous = self.current.resolve() if self.current.is_symlink() else None
        release = self.install(bundle)
        self._check(release)
        self._switch(release)
        self._log("switched", release=release.name, previous=previous.name if previous else "")
        self._restart()
        if self._healthy():
            self._log("healthy", release=release.name)
            self._prune(keep={release.name, previous.name if previous else ""})
            return release
        if previous is None:
            self._log("unhealthy_no_previous", release=release.name)
            raise UpgradeError(f"新版本 {release.name} 运行不正常，且没有可回滚的旧版本")
        self._switch(previous)
        self._restart()
        failed = release.with_name(f"{release.name}.failed-{int(time.time())}")
        release.rename(failed)
        rolled_back = self._healthy()
        self._log("rolled_back", release=release.name, previous=previous.name, healthy=str(rolled_back))
        state = "旧版本运行正常" if rolled_back else "旧版本也未恢复，请现场处理"
        raise UpgradeError(f"新版本 {release.name} 健康检查未通过，已自动回滚到 {previous.name}（{state}）")

    def _prune(self, keep: set[str]) -> None:
        releases = sorted(
            (
                p
                for p in (self.prefix / "releases").iterdir()
                if p.is_dir() and not p.name.endswith(".partial") and ".failed-" not in p.name
            ),
            key=lambda p: p.stat().st_mtime,
        )
        for old in releases[:-KEEP_RELEASES]:
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
                self._log("pruned", release=old.name)


def main(argv: list[str]) -> int:
    """Run ``ecogate agent upgrade BUNDLE``."""
    parser = argparse.ArgumentParser(
        prog="ecogate agent upgrade", description="升级门岗代理：安装、切换、健康检查、失败自动回滚"
    )
    parser.add_argument("bundle", type=Path, help="离线安装包目录（含 VERSION 与 wheels/）")
    parser.add_argument(
        "--prefix", type=Path, default=Path(os.environ.get("ECOGATE_AGENT_PREFIX", "/opt/ecogate-agent"))
    )
    parser.add_argument("--config", type=Path, default=Path("/etc/ecogate/agent.toml"), help="代理配置文件")
    parser.add_argument("--timeout", type=float, default=120.0, help="健康检查最长等待（秒）")
    parser.add_argument("--stable", type=float, default=20.0, help="须连续健康的秒数")
    args = parser.parse_args(argv)
    upgrade = Upgrade(prefix=args.prefix, config=args.config, timeout_s=args.timeout, stable_s=args.stable)
    try:
        release = upgrade.run(args.bundle)
    except UpgradeError as exc:
        print(f"升级失败：{exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"升级完成：正在运行 {release.name}")  # noqa: T201
    return 0
