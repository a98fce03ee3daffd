#!/usr/bin/env bash
# The long form of the power-loss test (tests/faults/powercut.py): one short
# run cut at every sync boundary, then runs under more load cut at random
# points, 200 distinct cut points or more in all; then the same with
# store.sync=none, which must lose acknowledged writes.
#
#   scripts/powercut.sh [--cuts N] [--runs R] [--seed S] [--build DIR]
#
# --cuts: random cut points per loaded run (default 60); --runs: loaded runs
# (default 3). Prints one RESULT line per part.
set -euo pipefail
cd "$(dirname "$0")/.."
cuts=60
runs=3
seed=$(date +%s)
build=build
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cuts) cuts=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: $0 [--cuts N] [--runs R] [--seed S] [--build DIR]" >&2
       exit 2 ;;
  esac
done
cmake --build "$build" -j2 --target switchboard powercut
driver=(python3 tests/faults/powercut.py --binary "$build/app/switchboard"
        --preload "$build/tests/faults/libpowercut.so" --source-dir "$PWD")
# Every sync boundary (before and after each completed sync) of a short run.
"${driver[@]}" --requests 24 --boundaries -1 --random 0 --seed "$seed"
# Random cut points under more load.
"${driver[@]}" --runs "$runs" --requests 150 --boundaries 20 \
  --random "$cuts" --seed "$((seed + 1))"
# Without fsync the same checks must find lost acknowledged writes.
"${driver[@]}" --requests 60 --boundaries 10 --random 20 \
  --seed "$((seed + 2))" --sync none --expect-loss
