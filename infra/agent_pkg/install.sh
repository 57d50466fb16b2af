#!/usr/bin/env bash
# Installs the EcoGate gate agent from an offline bundle (issue 21). Run as root on the gate PC:
#   sudo ./install.sh                       # the bundle is the folder this script is in
#   sudo ./install.sh --root /tmp/staging   # lay the files into a staging root (tests, image builds): no user,
#                                           # no systemctl, no udevadm
# Layout: /opt/ecogate-agent/{releases/<version>,current}, /etc/ecogate/agent.toml (kept if present),
# /var/lib/ecogate (data), /var/log/ecogate, the systemd unit, udev rules, logrotate. Upgrades afterwards:
#   ecogate-agent upgrade <new bundle>      # switches, checks health, rolls back by itself
set -euo pipefail

root=/
bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --bundle) bundle="$2"; shift 2 ;;
    *) echo "未知参数：$1" >&2; exit 2 ;;
  esac
done
live=0; [ "$root" = "/" ] && live=1
[ $live -eq 1 ] && [ "$(id -u)" != "0" ] && { echo "请以 root 运行安装" >&2; exit 1; }
version="$(tr -d '[:space:]' < "$bundle/VERSION")"
[ -n "$version" ] || { echo "安装包缺少 VERSION" >&2; exit 1; }
prefix="${root%/}/opt/ecogate-agent"
release="$prefix/releases/$version"
say() { echo "[ecogate-agent] $*"; }

say "安装版本 $version 到 ${root}"
if [ $live -eq 1 ] && ! id ecogate-agent >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/ecogate --no-create-home --shell /usr/sbin/nologin \
    --groups dialout,video ecogate-agent
  say "已创建系统用户 ecogate-agent（dialout、video 组：串口与相机）"
fi

install -d -m 0755 "$prefix/releases" "${root%/}/etc/ecogate" "${root%/}/lib/systemd/system" \
  "${root%/}/etc/udev/rules.d" "${root%/}/etc/logrotate.d" "${root%/}/usr/local/bin"
install -d -m 0750 "${root%/}/var/lib/ecogate" "${root%/}/var/log/ecogate"

if [ -x "$release/venv/bin/ecogate" ]; then
  say "版本 $version 已安装，跳过"
else
  rm -rf "$release.partial"
  mkdir -p "$release.partial"
  cp -a "$bundle/." "$release.partial/"
  if [ ! -x "$release.partial/venv/bin/ecogate" ]; then
    say "离线创建运行环境（不联网，只用安装包内的 wheels）"
    "$python" -m venv "$release.partial/venv"
    "$release.partial/venv/bin/pip" install -q --no-index --find-links "$release.partial/wheels" 'ecogate[agent]'
  fi
  mv "$release.partial" "$release"
fi
ln -sfn "releases/$version" "$prefix/.current.new" && mv -T "$prefix/.current.new" "$prefix/current"

install -m 0644 "$bundle/pkg/ecogate-agent.service" "${root%/}/lib/systemd/system/ecogate-agent.service"
install -m 0644 "$bundle/pkg/99-ecogate-serial.rules" "${root%/}/etc/udev/rules.d/99-ecogate-serial.rules"
install -m 0644 "$bundle/pkg/ecogate-agent.logrotate" "${root%/}/etc/logrotate.d/ecogate-agent"
cat > "${root%/}/usr/local/bin/ecogate-agent" <<'WRAPPER'
#!/bin/sh
# ecogate-agent <subcommand>: the installed agent's CLI (doctor, check-config, enroll, upgrade, …).
exec /opt/ecogate-agent/current/venv/bin/ecogate agent "$@"
WRAPPER
chmod 0755 "${root%/}/usr/local/bin/ecogate-agent"
if [ ! -e "${root%/}/etc/ecogate/agent.toml" ]; then
  install -m 0640 "$bundle/pkg/agent.example.toml" "${root%/}/etc/ecogate/agent.toml"
  say "已写入示例配置 /etc/ecogate/agent.toml：请按现场修改后运行 ecogate-agent check-config /etc/ecogate/agent.toml"
else
  say "保留现有配置 /etc/ecogate/agent.toml"
fi

if [ $live -eq 1 ]; then
  chown -R ecogate-agent:ecogate-agent /var/lib/ecogate /var/log/ecogate
  chgrp ecogate-agent /etc/ecogate/agent.toml
  command -v udevadm >/dev/null && udevadm control --reload && udevadm trigger --subsystem-match=tty || true
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable ecogate-agent.service
    sync_state="$(timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown)"
    [ "$sync_state" = "yes" ] || say "警告：系统时钟未与 NTP 同步（$sync_state），请启用 systemd-timesyncd 或 chrony"
    say "注册后启动：ecogate-agent enroll … 然后 systemctl start ecogate-agent；体检：ecogate-agent doctor /etc/ecogate/agent.toml"
  fi
fi
say "安装完成：$prefix/current -> releases/$version"
