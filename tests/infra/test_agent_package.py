"""The agent as a product a vendor installs (issue 21): installer, systemd unit, .deb, upgrade with rollback.

systemd cannot run as PID 1 here, so the unit is checked with ``systemd-analyze verify`` inside the
temporary root the installer filled, and the upgrade's restart/health steps run as commands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.ops import systemd
from agent.ops.doctor import main as doctor_main
from agent.ops.release import Upgrade, UpgradeError

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "infra" / "agent_pkg"

# A stand-in for a release's `ecogate` entry point: `agent check-config` and `agent health` answer with the
# exit codes written into it, so the upgrade's checks can be made to pass or fail.
_FAKE = """#!/bin/sh
case "$2" in
  check-config) exit {check} ;;
  health) exit {health} ;;
esac
exit 0
"""


def _bundle(where: Path, version: str, *, check: int = 0, health: int = 0) -> Path:
    folder = where / f"bundle-{version}"
    (folder / "pkg").mkdir(parents=True)
    (folder / "VERSION").write_text(version + "\n", encoding="utf-8")
    shutil.copy2(PKG / "install.sh", folder / "install.sh")
    for name in ("ecogate-agent.service", "99-ecogate-serial.rules", "ecogate-agent.logrotate", "agent.example.toml"):
        shutil.copy2(PKG / name, folder / "pkg" / name)
    entry = folder / "venv" / "bin" / "ecogate"
    entry.parent.mkdir(parents=True)
    entry.write_text(_FAKE.format(check=check, health=health), encoding="utf-8")
    entry.chmod(0o755)
    return folder


def _install(bundle: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(bundle / "install.sh"), "--root", str(root), "--bundle", str(bundle)],
        check=False,
        capture_output=True,
        text=True,
    )


def test_the_installer_lays_out_a_release_and_keeps_an_edited_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = _install(_bundle(tmp_path, "1.0.0"), root)
    assert result.returncode == 0, result.stderr
    assert "安装完成" in result.stdout
    prefix = root / "opt" / "ecogate-agent"
    assert (prefix / "current").resolve() == prefix / "releases" / "1.0.0"
    for path in (
        "lib/systemd/system/ecogate-agent.service",
        "etc/udev/rules.d/99-ecogate-serial.rules",
        "etc/logrotate.d/ecogate-agent",
        "etc/ecogate/agent.toml",
        "usr/local/bin/ecogate-agent",
    ):
        assert (root / path).is_file(), path
    assert (root / "var/lib/ecogate").is_dir()
    config = root / "etc/ecogate/agent.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n# 现场已修改\n", encoding="utf-8")
    again = _install(_bundle(tmp_path / "b2", "1.0.1"), root)
    assert again.returncode == 0, again.stderr
    assert "保留现有配置" in again.stdout
    assert "现场已修改" in config.read_text(encoding="utf-8")
    assert (prefix / "current").resolve() == prefix / "releases" / "1.0.1"


def test_the_example_config_passes_check_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecogate_cli", "agent", "check-config", "--no-probe", str(PKG / "agent.example.toml")],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def _systemd_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    assert _install(_bundle(tmp_path, "1.0.0"), root).returncode == 0
    units = root / "lib" / "systemd" / "system"
    for unit in Path("/lib/systemd/system").iterdir():  # the targets and slices our unit refers to
        if unit.is_file() and not (units / unit.name).exists():
            shutil.copy2(unit, units / unit.name)
    return root


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is part of Debian's systemd")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    root = _systemd_root(tmp_path)
    unit = "/lib/systemd/system/ecogate-agent.service"
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", unit], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "ecogate-agent.service" not in result.stderr, result.stderr
    text = (root / unit.lstrip("/")).read_text(encoding="utf-8")
    for line in ("Type=notify", "WatchdogSec=60", "Restart=on-failure", "StartLimitBurst=5", "User=ecogate-agent"):
        assert line in text
    # The check has teeth: a unit whose program is missing fails it.
    (root / "opt/ecogate-agent/current/venv/bin/ecogate").unlink()
    broken = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", unit], check=False, capture_output=True, text=True
    )
    assert broken.returncode != 0
    assert "is not executable" in broken.stderr


def _upgrade(prefix: Path, config: Path) -> Upgrade:
    return Upgrade(
        prefix=prefix,
        config=config,
        restart=("true",),
        health_command=(str(prefix / "current" / "venv" / "bin" / "ecogate"), "agent", "health"),
        timeout_s=3.0,
        stable_s=0.3,
        poll_s=0.1,
    )


def test_an_upgrade_to_a_broken_build_rolls_back_by_itself(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "ecogate-agent"
    prefix.mkdir(parents=True)
    config = PKG / "agent.example.toml"
    upgrade = _upgrade(prefix, config)
    assert upgrade.run(_bundle(tmp_path, "1.0.0")).name == "1.0.0"
    assert upgrade.run(_bundle(tmp_path, "1.1.0")).name == "1.1.0"
    assert (prefix / "current").resolve().name == "1.1.0"

    with pytest.raises(UpgradeError, match=r"已自动回滚到 1\.1\.0（旧版本运行正常）"):
        upgrade.run(_bundle(tmp_path, "1.2.0", health=1))
    assert (prefix / "current").resolve().name == "1.1.0"
    assert any(p.name.startswith("1.2.0.failed-") for p in (prefix / "releases").iterdir())

    with pytest.raises(UpgradeError, match="不接受现有配置，未切换"):
        upgrade.run(_bundle(tmp_path, "1.3.0", check=2))
    assert (prefix / "current").resolve().name == "1.1.0"

    steps = [json.loads(line)["step"] for line in (prefix / "upgrade.log").read_text(encoding="utf-8").splitlines()]
    assert "rolled_back" in steps
    assert "refused" in steps


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is part of Debian's dpkg")
def test_the_debian_package_carries_the_bundle_and_installs_into_a_root(tmp_path: Path) -> None:
    from infra.agent_pkg.build import bundle, deb, tarball, version  # noqa: PLC0415

    folder = bundle(tmp_path / "dist", download=False)
    assert list((folder / "wheels").glob("ecogate-*.whl"))
    wheel = next((folder / "wheels").glob("ecogate-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "agent/vision/weights/plate_rec.onnx" in names  # issue 18: our recognizer, nothing fetched at run time
    assert "agent/vision/weights/plate_rec.card.json" in names
    assert tarball(folder).stat().st_size > 0
    package = deb(folder)
    info = subprocess.run(["dpkg-deb", "--info", str(package)], check=True, capture_output=True, text=True).stdout
    assert "Package: ecogate-agent" in info
    assert f"Version: {version()}" in info
    assert "postinst" in info
    extracted = tmp_path / "extracted"
    subprocess.run(["dpkg-deb", "-x", str(package), str(extracted)], check=True)
    shipped = extracted / "opt" / "ecogate-agent" / "bundles" / version()
    assert (shipped / "pkg" / "ecogate-agent.service").is_file()
    assert (shipped / "install.sh").stat().st_mode & 0o111


@pytest.mark.anyio
async def test_the_agent_tells_systemd_it_is_ready_and_feeds_the_watchdog(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: a ping every 0.05 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    pings = asyncio.create_task(systemd.watchdog_pings())
    await asyncio.sleep(0.3)
    pings.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pings
    messages = []
    while True:
        try:
            messages.append(listener.recv(4096).decode())
        except BlockingIOError:
            break
    listener.close()
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 3
    assert messages[-1] == "STOPPING=1"


class _Health(BaseHTTPRequestHandler):
    skew = dt.timedelta(0)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.format_datetime(dt.datetime.now(dt.UTC) + self.skew, usegmt=True)

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="cloud")
def fx_cloud() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_the_doctor_reports_cloud_clock_and_enrolment_in_chinese(tmp_path: Path, cloud, capsys) -> None:
    port = cloud.server_address[1]
    config = tmp_path / "agent.toml"
    text = (PKG / "agent.example.toml").read_text(encoding="utf-8")
    text = text.replace('data_dir = "/var/lib/ecogate"', f'data_dir = "{tmp_path}"')
    config.write_text(text + f'\n[cloud]\nurl = "ws://127.0.0.1:{port}/agent/ws"\n', encoding="utf-8")
    assert doctor_main([str(config), "--no-probe"]) == 1  # not enrolled yet: an error
    out = capsys.readouterr().out
    assert "未找到注册凭据" in out
    assert f"云端可达：http://127.0.0.1:{port}/health" in out
    assert re.search(r"本机时钟与云端相差 [01] 秒", out)  # the Date header has whole seconds
    assert "体检未通过" in out

    _Health.skew = dt.timedelta(minutes=5)
    try:
        doctor_main([str(config), "--no-probe", "--json"])
    finally:
        _Health.skew = dt.timedelta(0)
    report = json.loads(capsys.readouterr().out)
    clock = [f for f in report["findings"] if "本机时钟" in f["text"]]
    assert clock[0]["level"] == "error"
    assert re.search(r"相差 (299|300|301) 秒", clock[0]["text"])  # whole seconds of the Date header
