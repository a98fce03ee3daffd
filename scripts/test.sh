#!/usr/bin/env bash
# Installs what is missing, builds everything (benchmarks included, so they
# cannot rot), checks formatting and runs the whole test suite with ctest.
#
#   scripts/test.sh [--sanitize] [CTEST ARGS...]
#
# --sanitize: builds with AddressSanitizer and UndefinedBehaviorSanitizer
# in build-asan (leaks at exit count, the daemon's shutdown included) and
# runs the suite there.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
flags=()
if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  build=build-asan
  flags=(-DSWITCHBOARD_SANITIZE=ON)
  # Every child process (the daemon under test, the CLI) reports too.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi
bash scripts/setup.sh
bash scripts/check-format.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSWITCHBOARD_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$build"
ctest --test-dir "$build" -j2 --output-on-failure "$@"
