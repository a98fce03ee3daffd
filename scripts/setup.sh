#!/usr/bin/env bash
# Installs every Debian package Switchboard needs, when missing.
# Idempotent and quiet when everything is present. Needs root (or sudo)
# only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  clang
  libcaf-dev
  libboost1.81-dev libboost-json1.81-dev libboost-test1.81-dev
  liblmdb-dev lmdb-utils
  libspdlog-dev
  libcurl4-openssl-dev
  libbenchmark-dev
  libssl-dev
  libjemalloc-dev
  libsystemd-dev
  python3 curl tzdata
  python3-prometheus-client
  python3-aiosmtpd
  python3-jsonschema python3-yaml
  chromium chromium-driver python3-selenium
  wrk nginx redis-server
  dpkg-dev systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node and npm (tests/app/echo_test.cpp runs Laravel Echo and pusher-js):
# Debian's packages, unless a node with npm is already on the PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >/dev/null
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
