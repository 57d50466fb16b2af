"""Build the agent's offline bundle and Debian package (issue 21).

``python -m infra.agent_pkg.build --out dist [--download]``:

1. the bundle folder ``ecogate-agent-<version>/``: ``VERSION``, ``install.sh``, ``pkg/`` (systemd unit,
   udev rules, logrotate, example config), ``wheels/`` (the project's wheel and, with ``--download``,
   every wheel of ``infra/agent_pkg/requirements-agent.lock`` for CPython 3.11 on x86-64 Linux, hashes
   checked by pip), so a gate PC installs without the internet;
2. ``ecogate-agent-<version>.tar.gz`` of that folder (copy to a USB stick, run ``install.sh``);
3. ``ecogate-agent_<version>_amd64.deb`` built with ``dpkg-deb``: the bundle under
   ``/opt/ecogate-agent/bundles/<version>``; ``postinst`` runs its ``install.sh``, ``prerm`` stops the service.

Without ``--download`` the wheels folder holds only the project's wheel (CI builds and inspects the
package that way; the third-party wheels are ~200 MB and come from PyPI).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PKG_FILES = ("ecogate-agent.service", "99-ecogate-serial.rules", "ecogate-agent.logrotate", "agent.example.toml")

CONTROL = """Package: ecogate-agent
Version: {version}
Architecture: amd64
Maintainer: EcoGate <support@ecogate.cn>
Depends: python3 (>= 3.11), python3-venv, systemd
Recommends: systemd-timesyncd | chrony
Section: misc
Priority: optional
Description: EcoGate gate agent (环保门禁门岗代理)
 Reads plates at a plant gate, decides at the barrier, reads the weighbridge and keeps every
 pass until the EcoGate cloud has stored it (HJ 1321-2023 gate ledger).
"""
POSTINST = """#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
  /opt/ecogate-agent/bundles/{version}/install.sh --bundle /opt/ecogate-agent/bundles/{version}
fi
"""
PRERM = """#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
  systemctl stop ecogate-agent.service || true
  systemctl disable ecogate-agent.service || true
fi
"""


def version() -> str:
    """The project's version (pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def _run(args: list[str]) -> None:
    print("+", " ".join(args))
    subprocess.run(args, check=True)


def bundle(out: Path, *, download: bool) -> Path:
    """Stage the bundle folder; returns it."""
    v = version()
    folder = out / f"ecogate-agent-{v}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "pkg").mkdir(parents=True)
    (folder / "wheels").mkdir()
    (folder / "VERSION").write_text(v + "\n", encoding="utf-8")
    shutil.copy2(HERE / "install.sh", folder / "install.sh")
    for name in PKG_FILES:
        shutil.copy2(HERE / name, folder / "pkg" / name)
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(folder / "wheels"), str(ROOT)])
    if download:
        lock = HERE / "requirements-agent.lock"
        _run(
            [*pip, "download", "-q", "--require-hashes", "--no-deps", "--only-binary", ":all:", "--python-version",
             "3.11", "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64", "-d",
             str(folder / "wheels"), "-r", str(lock)]
        )  # fmt: skip
    return folder


def tarball(folder: Path) -> Path:
    """``<folder>.tar.gz``."""
    target = folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(target, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)
    return target


def deb(folder: Path) -> Path:
    """The Debian package of the bundle (``dpkg-deb --build --root-owner-group``)."""
    v = version()
    stage = folder.with_name(f"deb-{v}")
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(folder, stage / "opt" / "ecogate-agent" / "bundles" / v)
    debian = stage / "DEBIAN"
    debian.mkdir()
    (debian / "control").write_text(CONTROL.format(version=v), encoding="utf-8")
    for name, text in (("postinst", POSTINST), ("prerm", PRERM)):
        (debian / name).write_text(text.format(version=v), encoding="utf-8")
        (debian / name).chmod(0o755)
    target = folder.with_name(f"ecogate-agent_{v}_amd64.deb")
    _run(["dpkg-deb", "--build", "--root-owner-group", str(stage), str(target)])
    shutil.rmtree(stage)
    return target


def main(argv: list[str] | None = None) -> int:
    """Build bundle, tarball and .deb into ``--out``."""
    parser = argparse.ArgumentParser(description="构建门岗代理离线安装包与 Debian 软件包")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--download", action="store_true", help="下载锁定的第三方 wheels（离线安装所需，约 200 MB）")
    args = parser.parse_args(argv)
    folder = bundle(args.out, download=args.download)
    print(f"离线安装包：{tarball(folder)}")
    print(f"Debian 软件包：{deb(folder)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
