#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for S seconds each (default 60)
# on its seed corpus (tests/fuzz/corpus/<target>, copied: what the fuzzer
# finds stays in the work dir) and prints one RESULT line per target and
#   RESULT fuzz targets=N execs=E crashes=C slowest_ms=T
# Crash inputs are kept in build-fuzz/crashes/<target>/; add each to the
# corpus once fixed. Configures and builds build-fuzz (clang, ASan, UBSan,
# -DSWITCHBOARD_FUZZ=ON) when needed.
#
#   bench/fuzz.sh [--seconds S] [--runs R] [--workers W] [--build DIR]
#                 [--jobs J] [TARGET...]
#
# --runs R: stop a target after R executions (S then only bounds it; 0,
# the default with --runs, for no bound). --workers W: W fuzzer processes
# per target at once, sharing its corpus (each takes R/W of the runs).
# --jobs J: the build's parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
seconds_given=0
runs=0
workers=1
build=build-fuzz
jobs=2
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds=$2; seconds_given=1; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --quick) seconds=5; shift ;;
    -*) echo "usage: $0 [--seconds S] [--runs R] [--workers W]" \
             "[--build DIR] [--jobs J] [TARGET...]" >&2
        exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ $runs -gt 0 && $seconds_given -eq 0 ]]; then
  seconds=0
fi
if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHBOARD_FUZZ=ON \
    -DSWITCHBOARD_BUILD_TESTS=OFF -DSWITCHBOARD_BUILD_BENCH=OFF \
    -DSWITCHBOARD_WERROR=ON >/dev/null
fi
cmake --build "$build" -j"$jobs" --target fuzz
# ASan's defaults cost the fuzzers more than half their speed: filling each
# allocation with a pattern, deep allocation stacks, a 256 MB quarantine.
# Reports still name the bad access; replaying the crash input gives the
# full stacks. ASAN_OPTIONS given by the caller wins.
export ASAN_OPTIONS=${ASAN_OPTIONS:-max_malloc_fill_size=0:malloc_context_size=2:quarantine_size_mb=16}
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/*_fuzz.cpp; do
    t=$(basename "$f" _fuzz.cpp)
    targets+=("$t")
  done
fi
work=$(mktemp -d /tmp/switchboard-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
total_execs=0
total_crashes=0
slowest_ms=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/${t}_fuzz"
  corpus="$work/$t"
  mkdir -p "$corpus" "$build/crashes/$t"
  if [[ -d tests/fuzz/corpus/$t ]]; then
    cp -r tests/fuzz/corpus/"$t"/. "$corpus"/
  fi
  log="$work/$t.log"
  touch "$log.start"
  limits=(-max_total_time="$seconds")
  if [[ $runs -gt 0 ]]; then
    limits+=(-runs=$(( (runs + workers - 1) / workers )))
  fi
  start_ns=$(date +%s%N)
  pids=()
  for ((w = 0; w < workers; w++)); do
    "$bin" "$corpus" "${limits[@]}" -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$build/crashes/$t/" \
      >"$log.$w" 2>&1 &
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do
    wait "$p" || rc=$?
  done
  elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
  cat "$log".[0-9]* >"$log"
  execs=0
  for ((w = 0; w < workers; w++)); do
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.$w" | tail -1)
    execs=$(( execs + ${e:-0} ))
  done
  # The slowest input of the corpus the run left, each replayed once
  # (libFuzzer's own figure is in whole seconds).
  slow_ms=$(find "$corpus" -type f -print0 \
            | xargs -0 -r "$bin" 2>&1 \
            | sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' \
            | sort -n | tail -1)
  slow_ms=${slow_ms:-0}
  crashes=$(find "$build/crashes/$t" -type f -newer "$log.start" 2>/dev/null \
            | wc -l || true)
  if [[ $rc -ne 0 ]]; then
    crashes=$(( crashes > 0 ? crashes : 1 ))
    echo "fuzz $t: exit $rc; the end of its log:" >&2
    tail -30 "$log" >&2
  fi
  echo "RESULT fuzz_target name=$t seconds=$(( elapsed_ms / 1000 ))" \
       "workers=$workers execs=$execs" \
       "execs_per_s=$(( execs * 1000 / (elapsed_ms > 0 ? elapsed_ms : 1) ))" \
       "crashes=$crashes slowest_ms=$slow_ms" \
       "corpus=$(find "$corpus" -type f | wc -l)"
  total_execs=$(( total_execs + execs ))
  total_crashes=$(( total_crashes + crashes ))
  (( slow_ms > slowest_ms )) && slowest_ms=$slow_ms
done
echo "RESULT fuzz targets=${#targets[@]} execs=$total_execs" \
     "crashes=$total_crashes slowest_ms=$slowest_ms"
