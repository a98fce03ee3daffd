#!/usr/bin/env bash
# Which LMDB database costs how many written pages per booking. Runs
# bench/cpu_per_booking.sh (the fixed-rate booking load, every queued job
# done) on build/bench/switchboard_pages, the daemon with its LMDB writes
# counted (bench/lmdb_pages.cpp: each write's newly dirtied pages, by
# database and operation), and prints, per booking, the calls and the
# pages of each, largest first. The pages counted are what commits write
# besides each commit's own (free list, main database, meta page); their
# sum beside cpu_per_booking's written_kb from the same run shows how much
# is per booking and how much per commit. A cost, not a speed: no anchor.
#
# Usage: bench/lmdb_pages.sh [--quick] [--rate R] [--seconds S] [--staff N]
#          [--pace PATH] [--binary PATH]
# More bookings per commit (CPU_BENCH_SET="--set
# store.commit_delay_us=8000") leave less of each commit's pages in the
# figures. The last line is "RESULT lmdb_pages pages_per_booking=...
# kb_per_booking=... written_kb=... top=<database op>:<pages>,...".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=("$@")
have_binary=0
for a in "$@"; do
  [ "$a" = --binary ] && have_binary=1
done
[ "$have_binary" = 1 ] || args+=(--binary "$(dirname "$here")/build/bench/switchboard_pages")
out=$(mktemp /tmp/lmdb_pages.XXXXXX)
log=$(mktemp /tmp/lmdb_pages_log.XXXXXX)
trap 'rm -f "$out" "$out.tmp" "$log"' EXIT
LMDB_PAGES_OUT=$out bash "$here/cpu_per_booking.sh" "${args[@]}" | tee "$log"
ok=$(sed -n 's/^PACE .* ok=\([0-9]*\).*/\1/p' "$log")
written=$(sed -n 's/^RESULT cpu_per_booking .* written_kb=\([0-9.]*\).*/\1/p' "$log")
[ -n "$ok" ] && [ "$ok" -gt 0 ] || { echo "lmdb_pages: no booking made" >&2; exit 1; }
python3 - "$out" "$ok" "${written:-0}" <<'PY'
import sys
path, ok, written = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
lines = open(path).read().splitlines()
if not lines or lines[0] != "lmdb_pages ok":
    sys.exit("lmdb_pages: counting was off: %s" % (lines[0] if lines else "no output"))
rows = []
for line in lines[1:]:
    db, op, _, calls, _, pages = line.split()
    rows.append((db + " " + op, int(calls) / ok, int(pages) / ok))
rows.sort(key=lambda r: -r[2])
total = sum(r[2] for r in rows)
print("pages newly dirtied per booking, by database and operation (%d bookings):" % ok)
for name, calls, pages in rows:
    if pages >= 0.005 or calls >= 0.005:
        print("  %-28s %6.2f calls %6.2f pages (%4.1f%%)" % (name, calls, pages, 100 * pages / total if total else 0))
print("  %-28s %13s %6.2f pages = %.1f KB (cpu_per_booking: %.1f KB written)" % ("total", "", total, total * 4, written))
top = ",".join("%s:%.2f" % (n.replace(" ", "/"), p) for n, _, p in rows[:5])
print("RESULT lmdb_pages pages_per_booking=%.2f kb_per_booking=%.1f written_kb=%.1f top=%s" % (total, total * 4, written, top))
PY
