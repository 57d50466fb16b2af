#!/usr/bin/env bash
# Installs the Debian packages EcoGate needs when they are missing: CJK fonts (plate images, PDFs), Pango (PDF).
# Runs as root on CI and dev machines (apt-get); prints what it would need otherwise.
set -euo pipefail
need=()
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then need+=(fonts-noto-cjk fonts-wqy-zenhei fontconfig); fi
if ! command -v fc-list >/dev/null 2>&1; then need+=(fontconfig); fi
# weasyprint (PDF reports) needs Pango.
if ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0; then need+=(libpango-1.0-0 libpangoft2-1.0-0); fi
if ! ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset; then need+=(libharfbuzz-subset0); fi
# Portal browser tests (Playwright) drive Debian's Chromium; Playwright's own browser download is blocked.
if ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
# The scale-out bench and test (bench/scale_out.py, infra/balancer.py) put HAProxy in front of the replicas.
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then need+=(haproxy); fi
# Gate voice prompts (agent/devices/voice.py): eSpeak NG with its Mandarin voice, offline.
if ! command -v espeak-ng >/dev/null 2>&1; then need+=(espeak-ng); fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "缺少系统软件包: ${need[*]} (请以 root 运行 apt-get install)" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
