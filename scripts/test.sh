#!/usr/bin/env bash
# Installs what is missing, builds everything (benchmarks included, so they
# cannot rot), checks formatting and runs the whole test suite with ctest.
#
#   scripts/test.sh [--sanitize] [CTEST ARGS...]
#
# --sanitize: builds with AddressSanitizer and UndefinedBehaviorSanitizer
# in build-asan (-O0, line tables only: the build is long enough) and runs
# the suite there. Every process the tests start (the daemon, the CLI,
# the benchmarks' daemons) inherits the options below: an error aborts it,
# leaks at exit count (the daemon's shutdown included). ASan and LSan
# reports are written to build-asan/sanitizer/ (not to stderr): the run
# fails on any report there, also one from a process whose exit status no
# test reads. UBSan's go to the process's stderr (g++ 12's libubsan takes
# no log_path beside ASan) and abort it, as ASan's do. Suppressions for
# what is not ours (each with its reason) are in tests/sanitize/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
flags=()
sanitize=0
if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  sanitize=1
  build=build-asan
  flags=(-DSWITCHBOARD_SANITIZE=ON
         "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1 -DNDEBUG"
         "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O0 -g1 -DNDEBUG")
  reports=$PWD/$build/sanitizer
  supp=$PWD/tests/sanitize
  rm -rf "$reports"
  mkdir -p "$reports"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$reports/asan:${ASAN_OPTIONS:-}"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:suppressions=$supp/ubsan.supp:${UBSAN_OPTIONS:-}"
fi
bash scripts/setup.sh
bash scripts/check-format.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSWITCHBOARD_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$build"
rc=0
ctest --test-dir "$build" -j2 --output-on-failure "$@" || rc=$?
if [[ $sanitize -eq 1 ]] && compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer reports ($reports):" >&2
  for f in "$reports"/*; do
    echo "== $f" >&2
    cat "$f" >&2
  done
  rc=1
fi
exit $rc
