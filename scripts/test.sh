#!/usr/bin/env bash
# Installs what is missing, builds everything (benchmarks included, so they
# cannot rot), checks formatting and runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check-format.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSWITCHBOARD_WERROR=ON >/dev/null
cmake --build build
ctest --test-dir build -j2 --output-on-failure "$@"
