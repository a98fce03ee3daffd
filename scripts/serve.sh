#!/usr/bin/env bash
# Installs what is missing, builds the daemon and runs `switchboard serve`
# on the embedded defaults plus ./config.ini (LMDB under ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target switchboard
exec ./build/app/switchboard serve "$@"
