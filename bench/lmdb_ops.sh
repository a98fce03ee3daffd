#!/usr/bin/env bash
# Where the store writer's work goes: the LMDB writes one booking costs,
# by database, with every queued job it causes done. The daemon runs under
# `perf record` with uprobes on liblmdb's mdb_put, mdb_del and
# mdb_cursor_put/mdb_cursor_del (each with its database handle) and on
# mdb_dbi_open (names the handles); `pace` books at --rate for --seconds,
# the queues drain (the notifications wait 5 s), and the counts are
# divided by the bookings made. Jobs delayed by more than the drain (the
# reminders, due hours ahead) are enqueued but not leased, as in
# production.
#
# The figure it prints is the mutations per booking (mdb_put and mdb_del
# calls, plus the cursor writes our code makes itself; LMDB makes each
# mdb_put or mdb_del into one cursor write), with the jobs per booking.
# LMDB's own writes at each commit (the main database's roots, the free
# list) are shown but not counted: they are a cost per commit, and fall
# per booking as commits carry more. A profile, not a timing: it does not
# depend on the machine's speed, so it has no anchor; what a mutation
# costs is in store_bench's figures.
#
# Usage: bench/lmdb_ops.sh [--quick] [--rate R] [--seconds S] [--staff N]
#          [--binary PATH | PATH]
# Needs root (perf probe), perf, curl, python3, the pace binary
# (build/bench/pace) and liblmdb as a shared library. The last line is
# "RESULT lmdb_ops mutations_per_booking=... puts_per_booking=...
# dels_per_booking=... jobs_per_booking=...".
set -euo pipefail

bench=lmdb_ops
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"
rate=500
seconds=10
staff=16
usage_end='^#          \[--binary'

quick_defaults=(rate=200 seconds=3 staff=4)
need_tools perf curl python3
read_pace_options "$@"
[ "$(id -u)" = 0 ] || die "perf probe needs root"
lib=$(ldd "$bin" | awk '/liblmdb/ { print $3 }')
[ -n "$lib" ] || die "$bin does not load liblmdb as a shared library"

tmp=$(mktemp -d /tmp/lmdb_ops.XXXXXX)
daemon_pid=""
probes=()
cleanup() {
  local rc=$? p
  for p in ${probes[@]+"${probes[@]}"}; do
    perf probe -q -d "probe_liblmdb:$p" 2>/dev/null || true
  done
  cleanup_daemon "$rc" # exits
}
on_exit cleanup

# The handle is the second argument (%si); a cursor's handle is its
# mc_dbi, 32 bytes into MDB_cursor, and its mc_flags lie 68 bytes in
# (LMDB 0.9): C_SUB (4) marks the cursor of a key's duplicates, which
# LMDB moves itself within a write to a DUPSORT database.
add_probe() { # name spec
  perf probe -q -d "probe_liblmdb:$1" 2>/dev/null || true
  perf probe -q -x "$lib" --add "$2" >/dev/null 2>&1 \
    || die "perf probe could not add $2 on $lib"
  probes+=("$1")
}
add_probe mdb_put 'mdb_put dbi=%si:u32'
add_probe mdb_del 'mdb_del dbi=%si:u32'
add_probe mdb_cursor_put 'mdb_cursor_put dbi=+32(%di):u32 flags=+68(%di):u32'
add_probe mdb_cursor_del 'mdb_cursor_del dbi=+32(%di):u32 flags=+68(%di):u32'
add_probe mdb_dbi_open 'mdb_dbi_open name=+0(%si):string'

# The daemon under perf: perf's pid is the one to signal. SIGUSR2 makes
# perf write what it has to a file of its own and start another (so the
# bookings' counts stand apart from the start and the seeding); SIGINT
# stops the daemon and writes the last file.
daemon_wrapper=(perf record -q --switch-output -e 'probe_liblmdb:*'
  -o "$tmp/perf.data" --)
start_daemon --set "store.path=$tmp/data" --set store.sync=full \
  --set queues.max_lag_ms=0
url="http://127.0.0.1:$port"
admin=$(add_tenant "$tmp/data" ops --admin)
token=$(add_tenant "$tmp/data" bench)
[ -n "$admin" ] && [ -n "$token" ] || die "switchboard tenant add printed no token"

seed_company "$token" "" '"email":"ada@example.com","prefers_email":true'
sleep 1 # the seeding's own jobs are counted before the bookings
jobs_before=$(jobs_made)
kill -USR2 "$daemon_pid"
sleep 1
base=$((($(date +%s) / 86400 + 2) * 86400))
out=$("$pace" --port "$port" --token "$token" --base "$base" \
  --staff "$staff" --rate "$rate" --seconds "$seconds" --prefix s 2>"$tmp/pace.err") \
  || die "pace failed: $(cat "$tmp/pace.err")"
ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
[ "${ok:-0}" -gt 0 ] || die "no booking got a 201: $out"
wait_drained
jobs=$(($(jobs_made) - jobs_before))
kill -INT "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=""

# The files in the order written: the start and the seeding, then the
# bookings.
for f in $(ls "$tmp"/perf.data.* | sort); do
  perf script -i "$f" -F event,trace 2>/dev/null >>"$tmp/trace.txt" \
    || die "perf script failed on $f"
  echo "--- switch" >>"$tmp/trace.txt"
done
python3 - "$tmp/trace.txt" "$ok" "$jobs" <<'PY'
import collections, re, sys

path, bookings, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names, opened = {0: "(free list)", 1: "(main)"}, []
counts = collections.Counter()
pat = re.compile(r'probe_liblmdb:(\w+):.*?(?:dbi=(\d+)|name="([^"]*)")'
                 r'(?: flags=(\d+))?')
switches = open(path).read().count("--- switch")
part = 0
for line in open(path):
    if line.startswith("--- switch"):
        part += 1
        continue
    m = pat.search(line)
    if not m:
        continue
    fn, dbi, name = m.group(1), m.group(2), m.group(3)
    if m.group(4) is not None and int(m.group(4)) & 4:
        continue  # a duplicates cursor, moved by LMDB
    if fn == "mdb_dbi_open":
        if name not in opened:
            opened.append(name)
            names[len(opened) + 1] = name
    elif part == switches - 1:  # the last file: the bookings
        counts[(fn, int(dbi))] += 1

cols = ["mdb_put", "mdb_del", "mdb_cursor_put", "mdb_cursor_del"]
rows = collections.defaultdict(lambda: [0, 0, 0, 0])
for (fn, dbi), n in counts.items():
    rows[names.get(dbi, str(dbi))][cols.index(fn)] += n / bookings
print("per booking (%d bookings, %.2f jobs each), by database:"
      % (bookings, jobs / bookings))
print("  %-18s %8s %8s %8s %8s" % ("database", "put", "del", "cur_put", "cur_del"))
for name, r in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
    print("  %-18s %8.2f %8.2f %8.2f %8.2f" % (name, *r))
# The main and free-list databases are LMDB's own, written at each
# commit (the databases' roots, the pages freed): a cost per commit,
# shown but not counted as the booking's.
ours = {k: r for k, r in rows.items() if not k.startswith("(")}
puts = sum(r[0] for r in ours.values())
dels = sum(r[1] for r in ours.values())
cursor = sum(max(r[2] - r[0], 0) + max(r[3] - r[1], 0) for r in ours.values())
print("RESULT lmdb_ops mutations_per_booking=%.1f puts_per_booking=%.1f "
      "dels_per_booking=%.1f jobs_per_booking=%.2f"
      % (puts + dels + cursor, puts, dels, jobs / bookings))
PY
